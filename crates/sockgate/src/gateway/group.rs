//! Grouping: gateways that share a port and a path share one server, if their server-level
//! options agree.

use super::app::Pending;
use super::error::GatewayError;
use super::options::{GatewayNamespace, GatewayOptions};

/// The gateways one server serves.
pub(super) struct Group {
    /// The port (`None`: the application's).
    pub(super) port: Option<u16>,
    /// The engine path.
    pub(super) path: String,
    /// The options of the first gateway, which the server takes.
    pub(super) options: GatewayOptions,
    /// The gateways, in the order they were added.
    pub(super) members: Vec<Pending>,
}

/// Groups gateways by port and path; fails when a group's server options differ or two of
/// its gateways serve the same namespace.
pub(super) fn group(gateways: Vec<Pending>) -> Result<Vec<Group>, GatewayError> {
    let mut groups: Vec<Group> = Vec::new();
    for pending in gateways {
        let path = pending.options.server.engine.path.clone();
        let port = pending.options.port;
        match groups.iter_mut().find(|g| g.port == port && g.path == path) {
            Some(group) => {
                if let Some(option) = group.options.server_difference(&pending.options) {
                    return Err(GatewayError::ConflictingOptions {
                        port,
                        path,
                        gateway: pending.name,
                        first: group.members[0].name,
                        option,
                    });
                }
                if group
                    .members
                    .iter()
                    .any(|p| p.options.namespace == pending.options.namespace)
                {
                    let namespace = match &pending.options.namespace {
                        GatewayNamespace::Static(n) | GatewayNamespace::Pattern(n) => n.clone(),
                    };
                    return Err(GatewayError::DuplicateNamespace { namespace });
                }
                group.members.push(pending);
            }
            None => {
                let options = pending.options.clone();
                groups.push(Group {
                    port,
                    path,
                    options,
                    members: vec![pending],
                });
            }
        }
    }
    Ok(groups)
}
