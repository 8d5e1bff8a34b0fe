//! The namespaces of a server: the declared ones, and the children created on demand from
//! dynamic namespaces (and freed again once empty).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::RwLock;
use sockgate_core::AdapterFactory;

use super::config::SocketIoConfig;
use super::matcher::Matcher;
use crate::extensions::Extensions;
use crate::handler::BoxedMessageHandler;
use crate::namespace::Namespace;

/// What every namespace shares.
pub(crate) struct ServerShared {
    pub(crate) config: SocketIoConfig,
    pub(crate) state: Arc<Extensions>,
    pub(crate) adapter_factory: AdapterFactory,
    /// Set by the admin UI's `instrument`: `fetch_sockets` answers then carry `data._admin`
    /// (client id and transport), as Node's instrumented servers' do.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) admin_instrumented: std::sync::atomic::AtomicBool,
}

/// A dynamic namespace: the names it serves and what its children inherit.
pub(super) struct DynamicNamespace {
    pub(super) matcher: Matcher,
    pub(super) handler: Option<BoxedMessageHandler>,
    pub(super) parent: Arc<Namespace>,
}

/// The namespaces of a server.
pub(crate) struct Registry {
    pub(crate) shared: Arc<ServerShared>,
    pub(super) namespaces: RwLock<HashMap<String, Arc<Namespace>>>,
    pub(super) dynamic: RwLock<Vec<DynamicNamespace>>,
}

impl Registry {
    /// The namespace named `name`, creating a child of a matching dynamic namespace if needed.
    ///
    /// The caller holds a CONNECT slot on the namespace (counted, so that a child is not freed
    /// while its middlewares run) and must give it back with [`Registry::connect_done`].
    pub(crate) fn namespace_for(self: &Arc<Self>, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = self.namespaces.read().get(name) {
            // Counted under the registry's lock: `free_child` takes it to remove the entry.
            ns.connecting.fetch_add(1, Ordering::AcqRel);
            return Some(ns.clone());
        }
        let dynamic = self.dynamic.read();
        let (params, parent) = dynamic
            .iter()
            .find_map(|d| d.matcher.matches(name).map(|p| (p, d)))?;
        let mut namespaces = self.namespaces.write();
        let ns = namespaces.entry(name.to_owned()).or_insert_with(|| {
            let child = Namespace::new(
                name.to_owned(),
                params,
                self.shared.clone(),
                parent.handler.clone(),
                parent.parent.middlewares(),
            );
            if self.shared.config.cleanup_empty_child_namespaces {
                let _ = child.cleanup.set(Arc::downgrade(self));
            }
            child
        });
        ns.connecting.fetch_add(1, Ordering::AcqRel);
        Some(ns.clone())
    }

    /// Gives back the CONNECT slot taken by [`Registry::namespace_for`]; a refused CONNECT
    /// leaves no child behind.
    pub(crate) fn connect_done(&self, ns: &Namespace) {
        if ns.connecting.fetch_sub(1, Ordering::AcqRel) == 1 {
            ns.free_if_unused();
        }
    }

    /// Removes the child `ns` if it is still the registered one and unused.
    pub(crate) fn free_child(&self, ns: &Namespace) {
        let mut namespaces = self.namespaces.write();
        let registered = namespaces
            .get(ns.name())
            .is_some_and(|entry| std::ptr::eq(Arc::as_ptr(entry), ns));
        if registered && ns.is_unused() {
            namespaces.remove(ns.name());
            tracing::debug!(nsp = ns.name(), "freed an empty child namespace");
        }
    }

    /// Number of namespaces (children of dynamic namespaces included).
    pub(crate) fn len(&self) -> usize {
        self.namespaces.read().len()
    }

    pub(super) fn insert(&self, ns: Arc<Namespace>) {
        self.namespaces.write().insert(ns.name().to_owned(), ns);
    }

    pub(crate) fn all(&self) -> Vec<Arc<Namespace>> {
        self.namespaces.read().values().cloned().collect()
    }
}
