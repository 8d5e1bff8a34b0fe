//! The official [Socket.IO Admin UI](https://socket.io/docs/v4/admin-ui/): the `/admin`
//! namespace that `@socket.io/admin-ui` 0.5.1 talks to (feature `admin`).
//!
//! [`SocketIoBuilder::admin_ui`](crate::SocketIoBuilder::admin_ui) is Node's
//! `instrument(io, options)`, given when the server is built (the admin namespace watches the
//! server through an [`Observer`](crate::observe::Observer), and observers are part of the
//! configuration):
//!
//! ```no_run
//! use sockgate::admin::{hash_password, AdminAuth, AdminMode, AdminOptions};
//! use sockgate::SocketIo;
//!
//! # fn run() -> Result<(), sockgate::admin::AdminError> {
//! // The bcrypt hash of the password (as `bcryptjs` or `htpasswd -nbBC 10` make it).
//! let hash = hash_password("change me")?;
//! let io = SocketIo::builder()
//!     .admin_ui(
//!         AdminOptions::new(AdminAuth::basic("admin", hash)?)
//!             .mode(AdminMode::Production)
//!             .readonly(false),
//!     )
//!     .build();
//! # let _ = io;
//! # Ok(()) }
//! ```
//!
//! and [`GatewayApp::admin_ui`](crate::gateway::GatewayApp::admin_ui) does the same for every
//! server of a gateway application. Then open the UI (hosted, or its `ui/dist` served by your
//! app) and connect it to the server's URL; with a WebSocket-only server tick "WebSocket only"
//! in its advanced options.
//!
//! What the namespace does, as Node's does:
//!
//! - **Authentication**: [`AdminAuth::basic`] checks `auth.username` and `auth.password`
//!   against a bcrypt hash (off the runtime's threads, two checks at a time so that a flood
//!   of logins queues instead of taking every core); a wrong pair is refused with a
//!   `connect_error` "invalid credentials". A login gets a `session` event with a session id
//!   that later connections send as `auth.sessionId` instead (the UI does on reload).
//!   Sessions live 24 hours, at most 1024 at once. [`AdminAuth::None`] must be said
//!   explicitly.
//! - **`config`** on connect: the supported features (`EMIT`, `JOIN`, `LEAVE`, `DISCONNECT`,
//!   `MJOIN`, `MLEAVE`, `MDISCONNECT` unless read-only, then `AGGREGATED_EVENTS`, and
//!   `ALL_EVENTS` in development mode).
//! - **`server_stats`** every 2 s: server id, host name, pid, uptime, clients (Engine.IO
//!   sessions) and polling clients, the namespaces with their socket counts, and the
//!   aggregated events since the previous stats. It is a broadcast on the admin namespace,
//!   so with a cluster adapter it reaches UIs connected to any node, Node's included.
//! - **Development mode**: `all_sockets` on connect (every socket of every namespace, from
//!   every node through `fetch_sockets`), then `socket_connected`, `socket_updated`,
//!   `socket_disconnected`, `room_joined`, `room_left`, `event_received` and `event_sent`.
//! - **Commands** (unless read-only): `emit`, `join`, `leave` and `_disconnect`, each for a
//!   namespace and optionally a room, through the adapter, so they reach every node.
//!
//! Once instrumented, a server's `fetch_sockets` answers carry `data._admin`
//! (`{clientId, transport}`) as Node's do, which is what a UI connected to another node of a
//! mixed cluster reads.

mod auth;
mod commands;
mod events;
mod serialize;
mod sessions;
mod stats;
mod time;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::server::SocketIo;
use crate::socket::Socket;
use crate::{NamespaceRef, SocketRef};

pub use auth::{hash_password, AdminAuth, AdminError};
use sessions::Sessions;
use stats::{EventBuffer, NamespaceDetails, ServerStats};

/// Whether the UI gets every socket and event (development) or aggregated counts only
/// (production, for servers with many clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminMode {
    /// `all_sockets` and the per-socket events, as well as the stats (Node's default).
    #[default]
    Development,
    /// The stats and their aggregated events only.
    Production,
}

/// The options of [`SocketIoBuilder::admin_ui`](crate::SocketIoBuilder::admin_ui) (Node's `InstrumentOptions`).
#[derive(Debug, Clone)]
pub struct AdminOptions {
    pub(crate) namespace: String,
    pub(crate) auth: AdminAuth,
    pub(crate) readonly: bool,
    pub(crate) server_id: Option<String>,
    pub(crate) mode: AdminMode,
    pub(crate) stats_interval: Duration,
}

impl AdminOptions {
    /// The defaults (namespace `/admin`, not read-only, development mode, stats every 2 s)
    /// with `auth`, which has no default: pass [`AdminAuth::None`] to go without.
    pub fn new(auth: AdminAuth) -> AdminOptions {
        AdminOptions {
            namespace: "/admin".to_owned(),
            auth,
            readonly: false,
            server_id: None,
            mode: AdminMode::default(),
            stats_interval: Duration::from_secs(2),
        }
    }

    /// The name of the admin namespace (default `/admin`).
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespace = name.into();
        self
    }

    /// Read-only: the UI may look but sends no command (default `false`).
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// The id the UI lists this server under (default: the host name). Give each node of a
    /// cluster on one host its own.
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Development or production (default development, as Node without `NODE_ENV`).
    pub fn mode(mut self, mode: AdminMode) -> Self {
        self.mode = mode;
        self
    }

    /// How often `server_stats` is sent (default 2 s, what the UI expects: it marks a server
    /// unhealthy after 10 s of silence).
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.stats_interval = interval.max(Duration::from_millis(10));
        self
    }
}

/// What the admin namespace of one server shares; also the server's observer.
pub(crate) struct Admin {
    options: AdminOptions,
    features: Vec<&'static str>,
    sessions: Mutex<Sessions>,
    events: Mutex<EventBuffer>,
    queue: events::EventQueue,
    /// The admin namespace, once installed (weak: the server owns this observer).
    namespace: std::sync::OnceLock<std::sync::Weak<crate::namespace::Namespace>>,
    server_id: String,
    hostname: String,
    started: Instant,
    tasks_started: std::sync::atomic::AtomicBool,
    password_checks: tokio::sync::Semaphore,
}

impl Admin {
    /// The admin state for `options`, to register as the server's observer before it is
    /// built, then [`install`] once it is.
    pub(crate) fn new(options: AdminOptions) -> Arc<Admin> {
        let hostname = stats::hostname();
        Arc::new(Admin {
            features: supported_features(&options),
            sessions: Mutex::new(Sessions::default()),
            events: Mutex::new(EventBuffer::default()),
            queue: events::EventQueue::new(),
            namespace: std::sync::OnceLock::new(),
            server_id: options
                .server_id
                .clone()
                .unwrap_or_else(|| hostname.clone()),
            hostname,
            started: Instant::now(),
            tasks_started: Default::default(),
            password_checks: tokio::sync::Semaphore::new(auth::MAX_CONCURRENT_CHECKS),
            options,
        })
    }
}

/// A login's new session id, from the middleware to the connect handler.
#[derive(Clone)]
struct NewSession(String);

fn supported_features(options: &AdminOptions) -> Vec<&'static str> {
    let mut features = if options.readonly {
        Vec::new()
    } else {
        vec![
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]
    };
    features.push("AGGREGATED_EVENTS");
    if options.mode == AdminMode::Development {
        features.push("ALL_EVENTS");
    }
    features
}

/// Declares the admin namespace on the built server whose observers include `admin`.
///
/// The stats timer and the event task are spawned on the Tokio runtime if this runs inside
/// one, else with the first admin connection.
pub(crate) fn install(io: &SocketIo, admin: Arc<Admin>) -> NamespaceRef {
    io.registry()
        .shared
        .admin_instrumented
        .store(true, Ordering::Relaxed);
    let connect = {
        let admin = admin.clone();
        let io = io.clone();
        move |socket: SocketRef| on_admin_connect(&io, &admin, socket)
    };
    let ns = io.ns(&admin.options.namespace, connect);
    let _ = admin.namespace.set(Arc::downgrade(&ns.0));
    ns.use_middleware({
        let admin = admin.clone();
        move |socket: SocketRef| auth::authenticate(admin.clone(), socket)
    });
    if !admin.options.readonly {
        commands::register(io, &ns, &admin);
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        start_tasks(io, &admin);
    }
    ns
}

fn on_admin_connect(io: &SocketIo, admin: &Arc<Admin>, socket: SocketRef) {
    start_tasks(io, admin);
    if let Some(NewSession(id)) = socket.extensions.remove::<NewSession>() {
        let _ = socket.emit("session", &id);
    }
    let _ = socket.emit("config", json!({ "supportedFeatures": admin.features }));
    if admin.options.mode == AdminMode::Development {
        let io = io.clone();
        tokio::spawn(async move {
            let sockets = fetch_all_sockets(&io).await;
            let _ = socket.emit("all_sockets", Value::Array(sockets));
        });
    }
}

/// The stats timer (ends when the server shuts down) and the task emitting the queued
/// development-mode events, started once.
fn start_tasks(io: &SocketIo, admin: &Arc<Admin>) {
    if admin.tasks_started.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Some(namespace) = admin.namespace.get() {
        admin.queue.start(namespace.clone());
    }
    let io = io.clone();
    let admin = admin.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(admin.options.stats_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if io.engine().is_shutting_down() {
                break;
            }
            let Some(ns) = io.of(&admin.options.namespace) else {
                break;
            };
            let stats = server_stats(&io, &admin);
            let _ = ns.emit("server_stats", stats::to_value(&stats));
        }
    });
}

fn server_stats(io: &SocketIo, admin: &Admin) -> ServerStats {
    let connections = io.engine().connections();
    let polling = connections
        .iter()
        .filter(|c| c.transport().as_str() == "polling")
        .count();
    let mut namespaces: Vec<NamespaceDetails> = io
        .registry()
        .all()
        .iter()
        .map(|ns| NamespaceDetails {
            name: ns.name().to_owned(),
            sockets_count: ns.socket_count(),
        })
        .collect();
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    ServerStats {
        server_id: admin.server_id.clone(),
        hostname: admin.hostname.clone(),
        pid: std::process::id(),
        uptime: stats::process_uptime(admin.started),
        clients_count: connections.len(),
        polling_clients_count: polling,
        aggregated_events: admin.events.lock().take(),
        namespaces,
    }
}

/// Every socket of every namespace of this server, from every node (`fetch_sockets`).
async fn fetch_all_sockets(io: &SocketIo) -> Vec<Value> {
    let mut namespaces = io.registry().all();
    namespaces.sort_by(|a, b| a.name().cmp(b.name()));
    let mut all = Vec::new();
    for ns in namespaces {
        let name = ns.name().to_owned();
        let sockets = NamespaceRef(ns).broadcast().fetch_sockets().await;
        for socket in sockets {
            let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            all.push(serialize::serialize(
                &name,
                &socket.id().to_string(),
                &rooms,
                socket.data(),
                socket.handshake(),
            ));
        }
    }
    all
}

/// `data` of a local socket with `_admin` (its client id and transport), for the
/// `fetch_sockets` answers of an instrumented server.
pub(crate) fn data_with_admin_field(socket: &Socket, data: Value) -> Value {
    let sid = socket.conn.sid().to_string();
    serialize::with_admin_field(data, serialize::admin_field(&sid, socket.transport()))
}

/// A local socket serialized as Node's admin does.
pub(crate) fn serialize_local(socket: &Socket) -> Value {
    let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    let data = data_with_admin_field(socket, socket.data_value());
    serialize::serialize(
        socket.ns_name(),
        &socket.id().to_string(),
        &rooms,
        &data,
        &socket.handshake().to_json(),
    )
}
