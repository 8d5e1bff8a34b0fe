//! [`GatewayApp`]: collects gateways, groups them into servers, and serves them.

use std::fmt;
use std::sync::{Arc, Weak};

use sockgate_core::{Adapter, AdapterFactory, LocalNamespace};

use super::definition::Gateway;
use super::dispatch::install;
use super::error::GatewayError;
use super::exception::ExceptionFilter;
use super::group::group;
use super::options::GatewayOptions;
use crate::extensions::Extensions;
use crate::server::{SocketIo, SocketIoLayer};

pub(super) type Installer = Box<dyn FnOnce(&SocketIo, &[Arc<dyn ExceptionFilter>]) + Send>;

/// A gateway added to the application, not installed yet.
pub(super) struct Pending {
    pub(super) name: &'static str,
    pub(super) options: GatewayOptions,
    pub(super) install: Installer,
}

/// An application of gateways (the NestJS app): collects gateways, then serves them on the
/// application's HTTP port (beside its routes) and on their own ports.
#[derive(Default)]
pub struct GatewayApp {
    gateways: Vec<Pending>,
    filters: Vec<Arc<dyn ExceptionFilter>>,
    state: Arc<Extensions>,
    adapter: Option<AdapterFactory>,
    #[cfg(feature = "admin")]
    admin: Option<crate::admin::AdminOptions>,
}

impl fmt::Debug for GatewayApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayApp")
            .field(
                "gateways",
                &self.gateways.iter().map(|g| g.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl GatewayApp {
    /// An empty application.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gateway with the options it declares.
    pub fn gateway<G: Gateway>(self, gateway: G) -> Self {
        let options = gateway.options();
        self.gateway_with_options(gateway, options)
    }

    /// Adds a gateway with options decided at run time (configuration, environment).
    pub fn gateway_with_options<G: Gateway>(mut self, gateway: G, options: GatewayOptions) -> Self {
        let gateway = Arc::new(gateway);
        let namespace = options.namespace.clone();
        self.gateways.push(Pending {
            name: std::any::type_name::<G>(),
            options,
            install: Box::new(move |io, global| install(io, gateway, namespace, global)),
        });
        self
    }

    /// An exception filter for every gateway (applied after the gateway's own filters).
    pub fn use_global_filter(mut self, filter: impl ExceptionFilter) -> Self {
        self.filters.push(Arc::new(filter));
        self
    }

    /// Uses another adapter (a cluster adapter, e.g. `sockgate_redis::ClassicAdapter`) for
    /// every namespace of every gateway, as [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter)
    /// does for one server. Without it each namespace gets the in-memory adapter.
    pub fn adapter(
        mut self,
        factory: impl Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> + Send + Sync + 'static,
    ) -> Self {
        self.adapter = Some(Arc::new(factory));
        self
    }

    /// Serves the Admin UI's namespace on every server of the application (feature `admin`;
    /// [`SocketIoBuilder::admin_ui`](crate::SocketIoBuilder::admin_ui) on each, see
    /// [`crate::admin`]). Give each server its own
    /// [`crate::admin::AdminOptions::server_id`] if several share a host.
    #[cfg(feature = "admin")]
    pub fn admin_ui(mut self, options: crate::admin::AdminOptions) -> Self {
        self.admin = Some(options);
        self
    }

    /// Application state for the `State<T>` extractor.
    pub fn with_state<T: Clone + Send + Sync + 'static>(self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    /// Creates the servers and installs every gateway; fails on conflicting options.
    pub fn build(self) -> Result<Gateways, GatewayError> {
        let mut shared = Vec::new();
        let mut own = Vec::new();
        for group in group(self.gateways)? {
            let mut builder = SocketIo::builder()
                .config(group.options.server.clone())
                .shared_state(self.state.clone());
            if let Some(factory) = self.adapter.clone() {
                builder = builder.adapter(move |namespace| factory(namespace));
            }
            #[cfg(feature = "admin")]
            if let Some(options) = &self.admin {
                builder = builder.admin_ui(options.clone());
            }
            let io = builder.build();
            for pending in group.members {
                (pending.install)(&io, &self.filters);
            }
            match group.port {
                None => shared.push(io),
                Some(port) => own.push((port, io)),
            }
        }
        Ok(Gateways { shared, own })
    }
}

/// The servers of a built [`GatewayApp`].
#[derive(Debug, Clone)]
pub struct Gateways {
    shared: Vec<SocketIo>,
    own: Vec<(u16, SocketIo)>,
}

impl Gateways {
    /// The servers sharing the application's port.
    pub fn shared_servers(&self) -> &[SocketIo] {
        &self.shared
    }

    /// The servers with their own port.
    pub fn own_port_servers(&self) -> &[(u16, SocketIo)] {
        &self.own
    }

    /// A `Layer` serving every port-less gateway beside the application's routes.
    pub fn layer(&self) -> SocketIoLayer {
        SocketIoLayer::new(self.shared.clone())
    }

    /// Binds the gateways that have their own port on `host`, and serves them in the
    /// background.
    pub async fn spawn_own_ports(&self, host: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let mut addrs = Vec::new();
        for (port, io) in &self.own {
            let listener = tokio::net::TcpListener::bind((host, *port)).await?;
            addrs.push(listener.local_addr()?);
            let io = io.clone();
            tokio::spawn(async move { io.serve(listener).await });
        }
        Ok(addrs)
    }

    /// Shuts every gateway's server down gracefully (see [`SocketIo::close`]): every socket
    /// leaves with `server shutting down`, queues are delivered, and this resolves once every
    /// connection is closed.
    pub async fn close(&self) {
        let servers = self.shared.iter().chain(self.own.iter().map(|(_, io)| io));
        futures_util::future::join_all(servers.map(|io| io.close())).await;
    }
}
