//! The gateway trait, its handler table, and the application that serves gateways.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};

use futures_util::{FutureExt, StreamExt};

use super::exception::{ExceptionContext, ExceptionFilter, FilterChain, WsException};
use super::extract::GatewayContext;
use super::handler::{erase, ErasedGatewayHandler, GatewayHandler};
use super::options::{GatewayNamespace, GatewayOptions};
use super::response::Reply;
use crate::extensions::Extensions;
use crate::handler::MessageParts;
use crate::namespace::{MiddlewareError, NamespaceRef};
use crate::reason::DisconnectReason;
use crate::server::{SocketIo, SocketIoLayer};
use crate::socket::SocketRef;

/// A NestJS-style gateway: options, lifecycle hooks and message handlers.
///
/// Implement it by hand, or let `#[gateway]` and `#[subscribe_message]` (the `macros`
/// feature) write it. Every hook has a default that does nothing.
pub trait Gateway: Send + Sync + Sized + 'static {
    /// `@WebSocketGateway(...)`: namespace, port, CORS, transports... Called once at startup;
    /// the application may override it with options read at run time.
    fn options(&self) -> GatewayOptions {
        GatewayOptions::default()
    }

    /// Declares the message handlers, guards and filters (`@SubscribeMessage`, `@UseGuards`,
    /// `@UseFilters`).
    fn register(router: &mut GatewayRouter<Self>);

    /// `afterInit(server)`: the namespace exists, no client is connected yet.
    fn after_init(&self, _namespace: &NamespaceRef) {}

    /// `handleConnection(client)`. Awaited before any message of this socket is handled, so
    /// asynchronous authentication cannot race messages (NestJS binds handlers without
    /// waiting). Messages that arrive meanwhile wait in arrival order (at most 256 of them and
    /// 1 MiB, or one `maxHttpBufferSize` if larger; each one past that gets an `exception`) and
    /// are handled in that order once it succeeds. An error goes to the exception filters
    /// (pattern `handleConnection`), the waiting messages are dropped and the socket is
    /// disconnected.
    fn handle_connection(
        self: Arc<Self>,
        _socket: SocketRef,
    ) -> impl Future<Output = Result<(), WsException>> + Send {
        async { Ok(()) }
    }

    /// `handleDisconnect(client, reason)`.
    fn handle_disconnect(&self, _socket: SocketRef, _reason: DisconnectReason) {}
}

/// A guard on messages: `false` refuses the message with `Forbidden resource`.
pub type MessageGuard = Arc<dyn Fn(&GatewayContext) -> bool + Send + Sync>;

type ConnectionGuard = Arc<
    dyn Fn(SocketRef) -> Pin<Box<dyn Future<Output = Result<(), MiddlewareError>> + Send>>
        + Send
        + Sync,
>;

struct Route<G> {
    event: String,
    handler: Arc<dyn ErasedGatewayHandler<G>>,
    guards: Vec<MessageGuard>,
    filters: Vec<Arc<dyn ExceptionFilter>>,
}

/// The handler table of one gateway, filled by [`Gateway::register`].
pub struct GatewayRouter<G> {
    routes: Vec<Route<G>>,
    guards: Vec<MessageGuard>,
    connection_guards: Vec<ConnectionGuard>,
    filters: Vec<Arc<dyn ExceptionFilter>>,
}

impl<G> fmt::Debug for GatewayRouter<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayRouter")
            .field(
                "events",
                &self
                    .routes
                    .iter()
                    .map(|r| r.event.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Options of one handler, returned by [`GatewayRouter::subscribe_message`].
#[derive(Debug)]
pub struct RouteConfig<'a, G> {
    router: &'a mut GatewayRouter<G>,
    index: usize,
}

impl<G> RouteConfig<'_, G> {
    /// A guard for this handler only (`@UseGuards` on the method).
    pub fn guard(self, guard: impl Fn(&GatewayContext) -> bool + Send + Sync + 'static) -> Self {
        self.router.routes[self.index].guards.push(Arc::new(guard));
        self
    }

    /// A filter for this handler only (`@UseFilters` on the method).
    pub fn filter(self, filter: impl ExceptionFilter) -> Self {
        self.router.routes[self.index]
            .filters
            .push(Arc::new(filter));
        self
    }
}

impl<G: Send + Sync + 'static> GatewayRouter<G> {
    fn new() -> Self {
        GatewayRouter {
            routes: Vec::new(),
            guards: Vec::new(),
            connection_guards: Vec::new(),
            filters: Vec::new(),
        }
    }

    /// `@SubscribeMessage(event)`: `handler` is `fn(&G, extractors...) -> R` or
    /// `async fn(Arc<G>, extractors...) -> R`.
    pub fn subscribe_message<H, M>(&mut self, event: &str, handler: H) -> RouteConfig<'_, G>
    where
        H: GatewayHandler<G, M>,
        M: Send + Sync + 'static,
    {
        self.routes.push(Route {
            event: event.to_owned(),
            handler: erase(handler),
            guards: Vec::new(),
            filters: Vec::new(),
        });
        let index = self.routes.len() - 1;
        RouteConfig {
            router: self,
            index,
        }
    }

    /// A guard on every message of this gateway (`@UseGuards` on the class).
    pub fn use_guard(
        &mut self,
        guard: impl Fn(&GatewayContext) -> bool + Send + Sync + 'static,
    ) -> &mut Self {
        self.guards.push(Arc::new(guard));
        self
    }

    /// A guard on connecting: an error refuses the socket with `connect_error` (its message
    /// and data) before any hook or handler runs, and takes it out of any room an earlier guard
    /// joined. NestJS has none (#882).
    pub fn use_connection_guard<F, Fut>(&mut self, guard: F) -> &mut Self
    where
        F: Fn(SocketRef) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), MiddlewareError>> + Send + 'static,
    {
        self.connection_guards
            .push(Arc::new(move |socket| Box::pin(guard(socket))));
        self
    }

    /// An exception filter for every handler of this gateway (`@UseFilters` on the class).
    pub fn use_filter(&mut self, filter: impl ExceptionFilter) -> &mut Self {
        self.filters.push(Arc::new(filter));
        self
    }
}

/// Why the gateways could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Two gateways share a server (same port and path) with different server-level options
    /// (one server has one parser, one CORS policy, one heartbeat...). Give them the same
    /// options (for hooks and predicates: the same `Arc`, e.g. one `SocketIoConfig` cloned for
    /// both), or a different path or port.
    ConflictingOptions {
        /// The shared port (`None`: the application's).
        port: Option<u16>,
        /// The shared path.
        path: String,
        /// The gateway whose options differ.
        gateway: &'static str,
        /// The gateway that first took this server, whose options it keeps.
        first: &'static str,
        /// The first option that differs, as a field path of [`crate::SocketIoConfig`]
        /// (`parser`, `engine.cors.origin`, `engine.session.ping_interval`...).
        option: &'static str,
    },
    /// Two gateways serve the same namespace of the same server.
    DuplicateNamespace {
        /// The namespace.
        namespace: String,
    },
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::ConflictingOptions {
                port,
                path,
                gateway,
                first,
                option,
            } => write!(
                f,
                "gateway {gateway} shares the server at port {} path {path} with gateway {first} \
                 but has different server options: `{option}` differs; align them (hooks and \
                 predicates must be the same Arc) or give it another path or port",
                port.map_or("(application)".to_owned(), |p| p.to_string()),
            ),
            GatewayError::DuplicateNamespace { namespace } => {
                write!(
                    f,
                    "two gateways serve namespace {namespace} on the same server"
                )
            }
        }
    }
}

impl std::error::Error for GatewayError {}

type Installer = Box<dyn FnOnce(&SocketIo, &[Arc<dyn ExceptionFilter>]) + Send>;

struct Pending {
    name: &'static str,
    options: GatewayOptions,
    install: Installer,
}

/// An application of gateways (the NestJS app): collects gateways, then serves them on the
/// application's HTTP port (beside its routes) and on their own ports.
#[derive(Default)]
pub struct GatewayApp {
    gateways: Vec<Pending>,
    filters: Vec<Arc<dyn ExceptionFilter>>,
    state: Arc<Extensions>,
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

    /// Application state for the `State<T>` extractor.
    pub fn with_state<T: Clone + Send + Sync + 'static>(self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    /// Creates the servers and installs every gateway; fails on conflicting options.
    pub fn build(self) -> Result<Gateways, GatewayError> {
        let mut groups: Vec<(Option<u16>, String, GatewayOptions, Vec<Pending>)> = Vec::new();
        for pending in self.gateways {
            let path = pending.options.server.engine.path.clone();
            let port = pending.options.port;
            match groups.iter_mut().find(|g| g.0 == port && g.1 == path) {
                Some(group) => {
                    if let Some(option) = group.2.server_difference(&pending.options) {
                        return Err(GatewayError::ConflictingOptions {
                            port,
                            path,
                            gateway: pending.name,
                            first: group.3[0].name,
                            option,
                        });
                    }
                    if group
                        .3
                        .iter()
                        .any(|p| p.options.namespace == pending.options.namespace)
                    {
                        let namespace = match &pending.options.namespace {
                            GatewayNamespace::Static(n) | GatewayNamespace::Pattern(n) => n.clone(),
                        };
                        return Err(GatewayError::DuplicateNamespace { namespace });
                    }
                    group.3.push(pending);
                }
                None => {
                    let options = pending.options.clone();
                    groups.push((port, path, options, vec![pending]));
                }
            }
        }
        let mut shared = Vec::new();
        let mut own = Vec::new();
        for (port, _path, options, members) in groups {
            let io = SocketIo::builder()
                .config(options.server.clone())
                .shared_state(self.state.clone())
                .build();
            for pending in members {
                (pending.install)(&io, &self.filters);
            }
            match port {
                None => shared.push(io),
                Some(port) => own.push((port, io)),
            }
        }
        Ok(Gateways { shared, own })
    }
}

/// The most messages a socket may have waiting for its `handle_connection` (see
/// [`ConnectionGate`]); later ones are refused with an `exception`.
const MAX_EARLY_MESSAGES: usize = 256;
/// The most bytes (estimated) those messages may hold, unless `maxHttpBufferSize` is larger
/// (one message of the largest size always fits).
const MAX_EARLY_BYTES: usize = 1 << 20;

/// A message that arrived before `handle_connection` finished, and what starts its route.
struct EarlyMessage {
    parts: MessageParts,
    start: Box<dyn FnOnce(MessageParts) + Send>,
}

impl EarlyMessage {
    fn start(self) {
        (self.start)(self.parts);
    }
}

const GATE_WAITING: u8 = 0;
const GATE_OPEN: u8 = 1;
const GATE_REFUSED: u8 = 2;

/// A per-socket gate opened once `handle_connection` finished.
///
/// Messages that arrive while it is closed wait in one queue, in arrival order, and are
/// started in that order when it opens (messages arriving during the drain queue behind it),
/// or dropped when it refuses. One queue, not one waiting task per message: tasks woken
/// together run in any order. Bounded in count and bytes.
struct ConnectionGate {
    /// `GATE_*`: read without the lock on every message once open.
    state: AtomicU8,
    early: parking_lot::Mutex<EarlyQueue>,
    max_bytes: usize,
}

#[derive(Default)]
struct EarlyQueue {
    messages: VecDeque<(usize, EarlyMessage)>,
    bytes: usize,
    /// Whether an overflow was logged already (once per socket, not once per message).
    overflow_logged: bool,
}

/// What to do with a message that reached a gateway route.
enum Admission {
    /// The gate is open and nothing waits: handle it now.
    Run(EarlyMessage),
    /// Queued until the gate opens.
    Queued,
    /// The gate refused the socket: drop it.
    Refused,
    /// The queue is full: refuse the message (`true`: the first time, log it).
    Full(EarlyMessage, bool),
}

impl ConnectionGate {
    fn new(max_payload: u64) -> Self {
        ConnectionGate {
            state: AtomicU8::new(GATE_WAITING),
            early: parking_lot::Mutex::new(EarlyQueue::default()),
            max_bytes: MAX_EARLY_BYTES.max(usize::try_from(max_payload).unwrap_or(usize::MAX)),
        }
    }

    /// Open, and nothing waits any more (checked without the lock).
    fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == GATE_OPEN
    }

    fn admit(&self, message: EarlyMessage) -> Admission {
        let bytes = approx_size(&message.parts);
        let mut early = self.early.lock();
        // Decided while we took the lock (the state only changes under it).
        match self.state.load(Ordering::Acquire) {
            GATE_OPEN => return Admission::Run(message),
            GATE_REFUSED => return Admission::Refused,
            _ => {}
        }
        if early.messages.len() >= MAX_EARLY_MESSAGES
            || (!early.messages.is_empty() && early.bytes.saturating_add(bytes) > self.max_bytes)
        {
            let first = !std::mem::replace(&mut early.overflow_logged, true);
            return Admission::Full(message, first);
        }
        early.bytes += bytes;
        early.messages.push_back((bytes, message));
        Admission::Queued
    }

    /// Called once `handle_connection` finished: starts the queued messages in order (each
    /// as if it had just arrived: polled once, spawned if it waits), then opens; or drops
    /// them and refuses.
    fn decide(&self, passed: bool) {
        if !passed {
            self.refuse();
            return;
        }
        loop {
            let next: EarlyMessage = {
                let mut early = self.early.lock();
                if self.state.load(Ordering::Acquire) == GATE_REFUSED {
                    return;
                }
                match early.messages.pop_front() {
                    Some((bytes, message)) => {
                        early.bytes -= bytes;
                        message
                    }
                    None => {
                        self.state.store(GATE_OPEN, Ordering::Release);
                        return;
                    }
                }
            };
            // Outside the lock: the route runs user code, and may receive more messages.
            next.start();
        }
    }

    /// Drops what waits and refuses what comes (the hook failed, or the socket left).
    fn refuse(&self) {
        let dropped = {
            let mut early = self.early.lock();
            self.state.store(GATE_REFUSED, Ordering::Release);
            early.bytes = 0;
            std::mem::take(&mut early.messages)
        };
        // Dropped outside the lock: a message owns user values.
        drop(dropped);
    }
}

/// A rough size of a message body, to bound what waits behind a closed gate.
fn approx_size(parts: &MessageParts) -> usize {
    fn value(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.len() + 8,
            serde_json::Value::Array(a) => a.iter().map(value).sum::<usize>() + 8,
            serde_json::Value::Object(o) => {
                o.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>() + 8
            }
            _ => 8,
        }
    }
    parts.event.len()
        + parts.payload.args.iter().map(value).sum::<usize>()
        + parts
            .payload
            .attachments
            .iter()
            .map(|a| a.len())
            .sum::<usize>()
}

/// The children of a dynamic namespace a gateway has bound its handlers on, held weakly.
///
/// A child that the server frees (empty-child cleanup) and creates again under the same name
/// is a new namespace without handlers: the gateway must bind it again, so the entry is the
/// namespace itself (by address), not its name, and it never keeps a freed child alive. Dead
/// entries are pruned when the table has doubled since the last pruning, so it stays within
/// twice the number of live children (plus a small floor).
struct BoundChildren<T> {
    children: HashMap<String, Weak<T>>,
    prune_at: usize,
}

impl<T> Default for BoundChildren<T> {
    fn default() -> Self {
        BoundChildren {
            children: HashMap::new(),
            prune_at: BoundChildren::<T>::MIN_PRUNE,
        }
    }
}

impl<T> BoundChildren<T> {
    const MIN_PRUNE: usize = 64;

    /// True the first time `child` is seen (the caller then binds it); false for a child
    /// already bound.
    fn first_sight(&mut self, name: &str, child: &Arc<T>) -> bool {
        if let Some(bound) = self.children.get(name) {
            // Our `Weak` keeps the allocation, so the same address is the same namespace.
            if std::ptr::eq(bound.as_ptr(), Arc::as_ptr(child)) {
                return false;
            }
        }
        self.children.insert(name.to_owned(), Arc::downgrade(child));
        if self.children.len() >= self.prune_at {
            self.children.retain(|_, child| child.strong_count() > 0);
            self.prune_at = (self.children.len() * 2).max(Self::MIN_PRUNE);
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.children.len()
    }
}

/// A caught panic, as the exception the filters see ("Internal server error" for the client).
fn panicked(what: &str, panic: &Box<dyn std::any::Any + Send>) -> WsException {
    WsException::Internal(format!(
        "{what} panicked: {}",
        crate::handler::panic_message(panic)
    ))
}

fn install<G: Gateway>(
    io: &SocketIo,
    gateway: Arc<G>,
    namespace: GatewayNamespace,
    global_filters: &[Arc<dyn ExceptionFilter>],
) {
    let mut router = GatewayRouter::new();
    G::register(&mut router);
    let router = Arc::new(router);
    let mut base_filters = router.filters.clone();
    base_filters.extend(global_filters.iter().cloned());
    let base_filters = FilterChain {
        filters: base_filters,
    };

    // The children of a dynamic namespace are created on their first connect and inherit
    // only the connect handler and the middlewares of the pattern's namespace, so the message
    // handlers and the disconnect hook are bound on each child when its first socket connects
    // (before any of its messages is read).
    let dynamic = matches!(namespace, GatewayNamespace::Pattern(_));
    let bound_children = Arc::new(parking_lot::Mutex::new(BoundChildren::default()));
    let bind = {
        let router = router.clone();
        let gateway = gateway.clone();
        let base_filters = base_filters.clone();
        move |ns: &NamespaceRef| bind_routes(ns, &router, &gateway, &base_filters)
    };
    let bind = Arc::new(bind);

    let connect_gateway = gateway.clone();
    let connect_filters = base_filters.clone();
    let connect_bind = bind.clone();
    let on_connect = move |socket: SocketRef| {
        if dynamic {
            let ns = socket.namespace();
            let first = bound_children.lock().first_sight(ns.name(), &ns.0);
            if first {
                connect_bind(&ns);
            }
        }
        let gate = Arc::new(ConnectionGate::new(
            socket.ns.server().config.engine.session.max_payload,
        ));
        socket.extensions.insert(gate.clone());
        let gateway = connect_gateway.clone();
        let filters = connect_filters.clone();
        async move {
            // A panic in the hook is treated like an error (and the gate still opens).
            let result = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                gateway.handle_connection(socket.clone())
            })) {
                Ok(future) => AssertUnwindSafe(future)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked("handle_connection", &panic))),
                Err(panic) => Err(panicked("handle_connection", &panic)),
            };
            let ok = result.is_ok();
            if let Err(exception) = result {
                filters.handle(
                    &exception,
                    &ExceptionContext {
                        socket: socket.clone(),
                        pattern: "handleConnection".to_owned(),
                        data: socket.handshake().auth.clone(),
                    },
                );
                socket.0.disconnect();
            }
            gate.decide(ok);
        }
    };
    let ns = match &namespace {
        GatewayNamespace::Static(name) => io.ns(name, on_connect),
        GatewayNamespace::Pattern(pattern) => io.dynamic_ns(pattern, on_connect),
    };
    for guard in router.connection_guards.iter().cloned() {
        ns.use_middleware(move |socket: SocketRef| {
            let refused = guard(socket.clone());
            async move {
                let result = refused.await;
                if result.is_err() {
                    // An earlier guard may have joined rooms: a refused socket leaves no trace
                    // in the adapter (socketioxide's fix; the server's connect path does not
                    // clean up after a refusing middleware).
                    socket.ns.adapter().del_all(socket.id());
                }
                result
            }
        });
    }
    if !dynamic {
        bind(&ns);
    }
    gateway.after_init(&ns);
}

/// Binds the disconnect hook and the message handlers of a gateway on one namespace.
fn bind_routes<G: Gateway>(
    ns: &NamespaceRef,
    router: &Arc<GatewayRouter<G>>,
    gateway: &Arc<G>,
    base_filters: &FilterChain,
) {
    let disconnect_gateway = gateway.clone();
    ns.on_disconnect(move |socket, reason| {
        // Nothing that still waits for the gate will run: free it now.
        if let Some(gate) = socket.extensions.get::<Arc<ConnectionGate>>() {
            gate.refuse();
        }
        let gateway = disconnect_gateway.clone();
        crate::socket::guarded(move || gateway.handle_disconnect(socket, reason));
    });

    for index in 0..router.routes.len() {
        let router = router.clone();
        let gateway = gateway.clone();
        let base_filters = base_filters.clone();
        let event = router.routes[index].event.clone();
        ns.on(event, move |socket: SocketRef, parts: MessageParts| {
            let route = &router.routes[index];
            let mut filters = route.filters.clone();
            filters.extend(base_filters.filters.iter().cloned());
            let filters = FilterChain { filters };
            let start = {
                let router = router.clone();
                let gateway = gateway.clone();
                let socket = socket.clone();
                let filters = filters.clone();
                move |parts: MessageParts| {
                    crate::handler::run_future(async move {
                        let route = &router.routes[index];
                        run_route(&router, route, gateway, socket, parts, &filters).await;
                    });
                }
            };
            let gate = match socket.extensions.get::<Arc<ConnectionGate>>() {
                Some(gate) if !gate.is_open() => gate,
                _ => return start(parts),
            };
            let message = EarlyMessage {
                parts,
                start: Box::new(start),
            };
            match gate.admit(message) {
                Admission::Run(message) => message.start(),
                Admission::Queued | Admission::Refused => {}
                Admission::Full(message, first) => {
                    let context = GatewayContext::new(socket.clone(), message.parts);
                    if first {
                        tracing::warn!(
                            socket = %socket.id(),
                            event = %context.parts.event,
                            "too many messages before handle_connection finished: refusing \
                             them (logged once per socket)"
                        );
                    }
                    filters.handle(
                        &WsException::new("Too many messages before the connection was ready"),
                        &ExceptionContext {
                            socket,
                            pattern: context.parts.event.clone(),
                            data: context.body(),
                        },
                    );
                }
            }
        });
    }
}

async fn run_route<G: Gateway>(
    router: &GatewayRouter<G>,
    route: &Route<G>,
    gateway: Arc<G>,
    socket: SocketRef,
    parts: MessageParts,
    filters: &FilterChain,
) {
    let context = GatewayContext::new(socket.clone(), parts);
    let exception_context = |context: &GatewayContext| ExceptionContext {
        socket: socket.clone(),
        pattern: context.parts.event.clone(),
        data: context.body(),
    };
    let allowed = router
        .guards
        .iter()
        .chain(&route.guards)
        .all(|guard| guard(&context));
    if !allowed {
        filters.handle(&WsException::forbidden(), &exception_context(&context));
        return;
    }
    // A panic in the handler is treated like an error: the client gets the filters' answer
    // ("Internal server error" by default) and the socket keeps working.
    let reply = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        route.handler.call(gateway, &context)
    })) {
        Ok(future) => AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Reply::Exception(panicked("handler", &panic))),
        Err(panic) => Reply::Exception(panicked("handler", &panic)),
    };
    deliver(
        reply,
        &context,
        filters,
        &exception_context(&context),
        &mut false,
    )
    .await;
}

/// Sends a reply: an ack (once, and only if asked and no `Ack` extractor took it), an emit,
/// each item of a stream, or an exception through the filters.
fn deliver<'a>(
    reply: Reply,
    context: &'a GatewayContext,
    filters: &'a FilterChain,
    exception_context: &'a ExceptionContext,
    acked: &'a mut bool,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        match reply {
            Reply::Nothing => {}
            Reply::Ack(payload) => {
                let ack_taken = context.ack_taken.load(std::sync::atomic::Ordering::Acquire);
                if let (Some(id), false, false) = (context.parts.ack_id, ack_taken, *acked) {
                    *acked = true;
                    let _ = context
                        .socket
                        .send_packet(payload.into_ack(context.socket.ns_name(), id));
                }
            }
            Reply::Emit(event, payload) => {
                let _ = context.socket.emit(&event, payload);
            }
            Reply::Stream(mut stream) => {
                while let Some(item) = stream.0.next().await {
                    if !context.socket.connected() {
                        break;
                    }
                    deliver(item, context, filters, exception_context, acked).await;
                }
            }
            Reply::Exception(exception) => filters.handle(&exception, exception_context),
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_bound_once_while_it_lives() {
        let mut bound = BoundChildren::default();
        let child = Arc::new("tenant a");
        assert!(bound.first_sight("/tenant/a", &child));
        assert!(!bound.first_sight("/tenant/a", &child));
        assert!(!bound.first_sight("/tenant/a", &child.clone()));
        let other = Arc::new("tenant b");
        assert!(bound.first_sight("/tenant/b", &other));
    }

    #[test]
    fn a_child_freed_and_created_again_under_its_name_is_bound_again() {
        let mut bound = BoundChildren::default();
        let child = Arc::new(String::from("first"));
        let weak = Arc::downgrade(&child);
        assert!(bound.first_sight("/tenant/a", &child));
        drop(child);
        // Not kept alive by the table.
        assert_eq!(weak.strong_count(), 0);
        // A new namespace under the same name has no handlers yet: bind it (a table of names
        // said "bound" here and the new child never got its handlers).
        let again = Arc::new(String::from("second"));
        assert!(bound.first_sight("/tenant/a", &again));
        assert!(!bound.first_sight("/tenant/a", &again));
    }

    #[test]
    fn the_table_is_bounded_by_the_live_children() {
        let mut bound = BoundChildren::default();
        let live: Vec<Arc<u32>> = (0..10).map(Arc::new).collect();
        for (i, child) in live.iter().enumerate() {
            assert!(bound.first_sight(&format!("/live/{i}"), child));
        }
        // 10,000 short-lived children (one client each, then freed by the server).
        for i in 0..10_000u32 {
            let child = Arc::new(i);
            assert!(bound.first_sight(&format!("/gone/{i}"), &child));
        }
        assert!(
            bound.len() <= 2 * 10 + BoundChildren::<u32>::MIN_PRUNE,
            "{}",
            bound.len()
        );
        for (i, child) in live.iter().enumerate() {
            assert!(
                !bound.first_sight(&format!("/live/{i}"), child),
                "live child {i}"
            );
        }
    }
}
