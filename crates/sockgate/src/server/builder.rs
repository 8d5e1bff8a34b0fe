//! [`SocketIoBuilder`]: options (set through the setters of [`super::options`]), state and
//! the adapter, then [`SocketIoBuilder::build`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use sockgate_core::{Adapter, AdapterFactory, InMemoryAdapter, LocalNamespace};
use sockgate_engine::Engine;
use sockgate_proto::engine::MAX_ADVERTISED_HEARTBEAT;

use super::bridge::IoHandler;
use super::config::SocketIoConfig;
use super::io::SocketIo;
use super::registry::{Registry, ServerShared};
use crate::extensions::Extensions;
use crate::namespace::Namespace;

/// Builds a [`SocketIo`] (from [`SocketIo::builder`] or [`SocketIo::builder_from`]).
///
/// Every option has its own setter, shared with
/// [`GatewayOptions`](crate::gateway::GatewayOptions); each changes that option only, so the
/// order of the calls does not matter:
///
/// ```
/// use std::time::Duration;
/// use sockgate::SocketIo;
///
/// let io = SocketIo::builder()
///     .ping_interval(Duration::from_secs(10))
///     .allow_request(|request| async move {
///         match request.uri.query() {
///             Some(query) if query.contains("token=") => Ok(()),
///             _ => Err("a token is required".to_owned()),
///         }
///     })
///     .max_buffered_bytes(1 << 20)
///     .build();
/// // Setting the hook after the interval kept both.
/// assert_eq!(io.config().engine.session.ping_interval, Duration::from_secs(10));
/// assert!(io.config().engine.allow_request.is_some());
/// assert_eq!(io.config().engine.session.max_buffered_bytes, 1 << 20);
/// ```
pub struct SocketIoBuilder {
    pub(super) config: SocketIoConfig,
    state: Arc<Extensions>,
    adapter_factory: Option<AdapterFactory>,
    #[cfg(feature = "admin")]
    admin: Option<Arc<crate::admin::Admin>>,
}

impl fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    pub(super) fn new(config: SocketIoConfig) -> Self {
        SocketIoBuilder {
            config,
            state: Arc::new(Extensions::new()),
            adapter_factory: None,
            #[cfg(feature = "admin")]
            admin: None,
        }
    }

    /// Serves the official Socket.IO Admin UI's namespace (`/admin` by default) on this server
    /// (feature `admin`; Node's `instrument(io, options)`, see [`crate::admin`]). It watches
    /// the server through an observer added to the configuration here. A second call replaces
    /// the first's options.
    #[cfg(feature = "admin")]
    pub fn admin_ui(mut self, options: crate::admin::AdminOptions) -> Self {
        let admin = crate::admin::Admin::new(options);
        if let Some(previous) = self.admin.take() {
            let previous: Arc<dyn crate::observe::Observer> = previous;
            self.config.observers.remove(&previous);
        }
        self.config.observers.push(admin.clone());
        self.admin = Some(admin);
        self
    }

    /// Replaces the whole configuration. Internal: only called right after
    /// [`SocketIo::builder`], where nothing is set yet (the public way is
    /// [`SocketIo::builder_from`]).
    pub(crate) fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses another adapter (a cluster adapter) for every namespace.
    pub fn adapter(
        mut self,
        factory: impl Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> + Send + Sync + 'static,
    ) -> Self {
        self.adapter_factory = Some(Arc::new(factory));
        self
    }

    /// Adds application state, available to handlers through [`crate::extract::State`].
    pub fn with_state<T: Clone + Send + Sync + 'static>(self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    /// Shares one state map between several servers (the gateways of one application).
    pub(crate) fn shared_state(mut self, state: Arc<Extensions>) -> Self {
        self.state = state;
        self
    }

    /// Builds the server.
    pub fn build(mut self) -> SocketIo {
        // The handshake advertises at most `MAX_ADVERTISED_HEARTBEAT` (clients' timers
        // overflow past it); a server that pinged less often than it advertises would see its
        // clients time out between two pings.
        let session = &mut self.config.engine.session;
        session.ping_interval = session.ping_interval.min(MAX_ADVERTISED_HEARTBEAT);
        let recovery = self.config.recovery;
        let adapter_factory = self.adapter_factory.unwrap_or_else(|| {
            Arc::new(move |ns| Arc::new(InMemoryAdapter::new(ns, recovery)) as Arc<dyn Adapter>)
        });
        let shared = Arc::new(ServerShared {
            config: self.config,
            state: self.state,
            adapter_factory,
            admin_instrumented: Default::default(),
        });
        let registry = Arc::new(Registry {
            shared: shared.clone(),
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
        });
        registry.insert(Namespace::new(
            "/".to_owned(),
            Vec::new(),
            shared.clone(),
            None,
            Vec::new(),
        ));
        let engine = Engine::new(
            shared.config.engine.clone(),
            IoHandler {
                registry: registry.clone(),
            },
        );
        let io = SocketIo { registry, engine };
        #[cfg(feature = "admin")]
        if let Some(admin) = self.admin {
            crate::admin::install(&io, admin);
        }
        io
    }
}
