//! A [`GatewayApp`] that exercises every gateway behaviour for the end-to-end tests
//! (`e2e/js/test/gateway*.test.mjs`), which drive it with the official `socket.io-client`.
//!
//! Run with `cargo run -p gateway-testserver -- --port 3000 [--own-port 3001]`. It binds
//! 127.0.0.1. On the application port (one axum `Router`, one Socket.IO server at
//! `/socket.io/`, default options) it serves several gateways:
//!
//! | namespace | gateway | what it shows |
//! |---|---|---|
//! | `/main` | [`MainGateway`] | extractors, return values, validation, panics, internal errors |
//! | `/lifecycle` | [`LifecycleGateway`] | `after_init`, async `handle_connection`, `handle_disconnect` |
//! | `/guarded` | [`GuardedGateway`] | connection guard, class guard, route guard |
//! | `/filters` | [`FilterGateway`] | gateway, route and global exception filters |
//! | `/tenant/{id}` | [`TenantGateway`] | a dynamic namespace |
//! | `/rooms` | [`RoomsGateway`] | a connection guard refusing after another one joined a room |
//! | `/ordered` | [`OrderedGateway`] | early messages keep their order behind a slow `handle_connection` |
//! | `/plain` | (no gateway) | the plain API: an extractor rejection is logged at warn |
//!
//! [`OwnPortGateway`] (namespace `/own`, WebSocket only) listens on a port of its own
//! (`GatewayOptions::port`; `--own-port`, default: any free port, see `GET /info`).
//!
//! HTTP: `GET /health`, `GET /info` (`{"ownPort": n}`), `GET /after-init` (the namespaces whose
//! `after_init` ran), `GET /disconnects` (`[{gateway, nsp, id, reason}]` from
//! `handle_disconnect`), `GET /connections` (`[{nsp, id, phase}]` from `handle_connection`),
//! `GET /order/{id}` (what [`OrderedGateway`] recorded for socket `id`, `null` if nothing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sockgate::extract::{Data, State};
use sockgate::gateway::{
    Ack, Args, Auth, ConnectedSocket, ExceptionContext, ExceptionFilter, Gateway, GatewayApp,
    GatewayOptions, GatewayRouter, IntoWsReply, Json, MessageBody, Pattern, Prop, PropKey, Query,
    Reply, Valid, WsException, WsResponse, WsServer, WsStream,
};
use sockgate::{DisconnectReason, MiddlewareError, NamespaceRef, SocketRef, Transports};
use validator::Validate;

/// Namespaces whose `after_init` ran.
static AFTER_INIT: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// What `handle_disconnect` saw.
static DISCONNECTS: Mutex<Vec<Value>> = Mutex::new(Vec::new());
/// What `handle_connection` did (`start` / `ready` / `failed`).
static CONNECTIONS: Mutex<Vec<Value>> = Mutex::new(Vec::new());
/// What [`OrderedGateway`] saw per socket id, oldest socket first (bounded).
static ORDER: Mutex<Vec<(String, Vec<Value>)>> = Mutex::new(Vec::new());
/// The port the own-port gateway listens on.
static OWN_PORT: OnceLock<u16> = OnceLock::new();

fn record(list: &Mutex<Vec<Value>>, value: Value) {
    let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
    list.push(value);
    let len = list.len();
    if len > 1000 {
        list.drain(..len - 1000);
    }
}

fn snapshot(list: &Mutex<Vec<Value>>) -> Value {
    Value::Array(list.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

fn record_disconnect(gateway: &str, socket: &SocketRef, reason: DisconnectReason) {
    record(
        &DISCONNECTS,
        json!({
            "gateway": gateway,
            "nsp": socket.ns_name(),
            "id": socket.id().to_string(),
            "reason": reason.as_str(),
        }),
    );
}

/// Application state for the `State<T>` extractor.
#[derive(Debug, Clone)]
struct AppState {
    name: &'static str,
    hits: Arc<AtomicU64>,
}

/// Routes a message through a gateway's global filter: messages starting with `global:` are
/// answered with a `global-error` event.
#[derive(Debug)]
struct GlobalFilter;

impl ExceptionFilter for GlobalFilter {
    fn catch(&self, exception: &WsException, context: &ExceptionContext) -> bool {
        match exception {
            WsException::Message(message) if message.starts_with("global:") => {
                let _ = context.socket.emit(
                    "global-error",
                    json!({
                        "filter": "global",
                        "message": message,
                        "pattern": context.pattern,
                        "nsp": context.socket.ns_name(),
                    }),
                );
                true
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /main: extractors and return values
// ---------------------------------------------------------------------------------------------

/// Extractors, return values, validation, panics.
#[derive(Debug)]
struct MainGateway;

#[derive(Debug, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[derive(Debug)]
struct NameKey;

impl PropKey for NameKey {
    const KEY: &'static str = "name";
}

#[derive(Debug, Deserialize)]
struct Credentials {
    token: String,
}

/// A domain object that happens to have a field named `event`: an ack, never an emit.
#[derive(Debug, Serialize)]
struct Created {
    event: String,
    data: i64,
}

#[derive(Debug, Deserialize, Validate)]
struct NewUser {
    #[validate(length(min = 3, message = "name must have at least 3 characters"))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(range(min = 18, max = 150))]
    age: u32,
}

impl Gateway for MainGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("main")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("who", |_: &Self| "main");
        // extractors
        router.subscribe_message("body-typed", Self::body_typed);
        router.subscribe_message("body", Self::body);
        router.subscribe_message("prop", Self::prop);
        router.subscribe_message("args", Self::args);
        router.subscribe_message("socket", Self::socket);
        router.subscribe_message("socket-ref", Self::socket_ref);
        router.subscribe_message("ack-manual", Self::ack_manual);
        router.subscribe_message("ws-server", Self::ws_server);
        router.subscribe_message("state", Self::state);
        router.subscribe_message("query", Self::query);
        router.subscribe_message("auth", Self::auth);
        router.subscribe_message("pattern-a", Self::pattern);
        router.subscribe_message("pattern-b", Self::pattern);
        // return values
        router.subscribe_message("nothing", Self::nothing);
        router.subscribe_message("none", |_: &Self| -> Option<String> { None });
        router.subscribe_message("value", Self::value);
        router.subscribe_message("async-value", Self::async_value);
        router.subscribe_message("ws-response", Self::ws_response);
        router.subscribe_message("event-field", Self::event_field);
        router.subscribe_message("stream", Self::stream);
        router.subscribe_message("result-ok", Self::result_ok);
        router.subscribe_message("result-err", Self::result_err);
        router.subscribe_message("object-exception", Self::object_exception);
        router.subscribe_message("internal", Self::internal);
        router.subscribe_message("global-main", |_: &Self| -> Result<(), WsException> {
            Err(WsException::new("global: from main"))
        });
        // validation
        router.subscribe_message("validate", Self::validate);
        // panics
        router.subscribe_message("panic", Self::panic);
        router.subscribe_message("panic-async", Self::panic_async);
    }
}

impl MainGateway {
    fn body_typed(&self, MessageBody(point): MessageBody<Point>) -> Json<Value> {
        Json(json!({ "sum": point.x + point.y }))
    }

    /// The body as NestJS passes it: one argument as is, several as an array.
    fn body(&self, MessageBody(body): MessageBody<Value>) -> Json<Value> {
        Json(json!({ "body": body }))
    }

    fn prop(&self, Prop(name, _): Prop<NameKey, String>) -> String {
        format!("hello {name}")
    }

    fn args(&self, Args((a, b, c)): Args<(String, i64, bool)>) -> Json<Value> {
        Json(json!({ "a": a, "b": b, "c": c }))
    }

    fn socket(&self, ConnectedSocket(socket): ConnectedSocket) -> Json<Value> {
        Json(json!({ "id": socket.id().to_string(), "nsp": socket.ns_name() }))
    }

    fn socket_ref(&self, socket: SocketRef) -> String {
        socket.id().to_string()
    }

    /// Takes the ack and answers it later: the return value must not be sent as the ack.
    fn ack_manual(&self, Ack(ack): Ack) -> &'static str {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = ack.send(json!("manual"));
        });
        "auto"
    }

    fn ws_server(
        &self,
        WsServer(io): WsServer,
        MessageBody(body): MessageBody<Value>,
    ) -> Result<(), WsException> {
        io.emit("broadcast", json!({ "nsp": io.name(), "body": body }))?;
        Ok(())
    }

    fn state(&self, State(state): State<AppState>) -> Json<Value> {
        let hits = state.hits.fetch_add(1, Ordering::SeqCst) + 1;
        Json(json!({ "name": state.name, "hits": hits }))
    }

    fn query(&self, Query(query): Query) -> Json<Value> {
        Json(json!({
            "name": query.get("name"),
            "tags": query.get_all("tag"),
            "all": query.to_json(),
        }))
    }

    fn auth(&self, Auth(credentials): Auth<Credentials>) -> String {
        format!("token={}", credentials.token)
    }

    fn pattern(&self, Pattern(pattern): Pattern) -> String {
        pattern
    }

    fn nothing(&self) {}

    fn value(&self) -> &'static str {
        "a value"
    }

    async fn async_value(self: Arc<Self>, MessageBody(body): MessageBody<Value>) -> Json<Value> {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Json(json!({ "later": body }))
    }

    fn ws_response(&self, MessageBody(body): MessageBody<Value>) -> WsResponse<Value> {
        WsResponse::new("reply-event", json!({ "echo": body }))
    }

    fn event_field(&self) -> Json<Created> {
        Json(Created {
            event: "created".to_owned(),
            data: 42,
        })
    }

    /// Three `tick` events, then a plain value (the ack), then another value (not sent: an
    /// ack fires once).
    fn stream(&self, MessageBody(count): MessageBody<u32>) -> WsStream {
        let mut items: Vec<Reply> = (1..=count)
            .map(|i| WsResponse::new("tick", i).into_reply())
            .collect();
        items.push("done".into_reply());
        items.push("second value".into_reply());
        WsStream::new(futures_util::stream::iter(items).then(|item| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            item
        }))
    }

    fn result_ok(&self) -> Result<&'static str, WsException> {
        Ok("fine")
    }

    fn result_err(&self) -> Result<&'static str, WsException> {
        Err(WsException::new("bad thing"))
    }

    fn object_exception(&self) -> Result<(), WsException> {
        Err(WsException::object(
            json!({ "code": 42, "reason": "sent as is" }),
        ))
    }

    /// A `serde_json` error: an internal error, hidden from the client.
    fn internal(&self) -> Result<String, serde_json::Error> {
        let value: Value = serde_json::from_str("{not json")?;
        Ok(value.to_string())
    }

    fn validate(&self, Valid(user): Valid<NewUser>) -> Json<Value> {
        Json(json!({ "created": user.name, "email": user.email, "age": user.age }))
    }

    fn panic(&self, MessageBody(body): MessageBody<Value>) -> String {
        panic!("handler panicked on purpose: {body}")
    }

    async fn panic_async(self: Arc<Self>) -> String {
        tokio::time::sleep(Duration::from_millis(10)).await;
        panic!("async handler panicked on purpose")
    }
}

// ---------------------------------------------------------------------------------------------
// /lifecycle: hooks
// ---------------------------------------------------------------------------------------------

/// `after_init`, an async `handle_connection` that sleeps then sets the socket's data (or
/// fails, or panics), `handle_disconnect` with the reason.
#[derive(Debug)]
struct LifecycleGateway;

impl Gateway for LifecycleGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("/lifecycle")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("who", |_: &Self| "lifecycle");
        router.subscribe_message("whoami", |_: &Self, socket: SocketRef| {
            Json(socket.data_value())
        });
        router.subscribe_message("after-init", |_: &Self| Json(after_init_list()));
        router.subscribe_message("kick", |_: &Self, socket: SocketRef| socket.disconnect());
    }

    fn after_init(&self, namespace: &NamespaceRef) {
        AFTER_INIT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(namespace.name().to_owned());
    }

    async fn handle_connection(self: Arc<Self>, socket: SocketRef) -> Result<(), WsException> {
        let query = socket.handshake().query().clone();
        let id = socket.id().to_string();
        record(&CONNECTIONS, json!({ "id": id, "phase": "start" }));
        if query.get("panic").is_some() {
            panic!("handle_connection panicked on purpose");
        }
        let delay = query
            .get("delay")
            .and_then(|d| d.parse().ok())
            .unwrap_or(300);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(reason) = query.get("fail") {
            record(&CONNECTIONS, json!({ "id": id, "phase": "failed" }));
            return Err(WsException::new(format!("connection refused: {reason}")));
        }
        socket
            .set_data(&json!({ "user": query.get("name"), "ready": true, "delayMs": delay }))
            .map_err(WsException::internal)?;
        record(&CONNECTIONS, json!({ "id": id, "phase": "ready" }));
        Ok(())
    }

    fn handle_disconnect(&self, socket: SocketRef, reason: DisconnectReason) {
        record_disconnect("lifecycle", &socket, reason);
    }
}

fn after_init_list() -> Value {
    json!(AFTER_INIT.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

// ---------------------------------------------------------------------------------------------
// /guarded: guards
// ---------------------------------------------------------------------------------------------

/// A connection guard (`auth.token` must be `secret`), a guard on the whole gateway (a
/// `readonly` role may not send `write*` events) and a guard on one handler.
#[derive(Debug)]
struct GuardedGateway;

fn role(socket: &SocketRef) -> Option<String> {
    socket
        .handshake()
        .auth
        .get("role")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Gateway for GuardedGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("/guarded")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.use_connection_guard(|socket: SocketRef| async move {
            match socket.handshake().auth.get("token").and_then(Value::as_str) {
                Some("secret") => Ok(()),
                other => Err(MiddlewareError::new("unauthorized").with_data(json!({
                    "hint": "connect with auth.token",
                    "got": other,
                }))),
            }
        });
        router.use_guard(|context| {
            role(&context.socket).as_deref() != Some("readonly")
                || !context.parts.event.starts_with("write")
        });
        router.subscribe_message("who", |_: &Self| "guarded");
        router.subscribe_message("read", |_: &Self| "read ok");
        router.subscribe_message("write", |_: &Self| "write ok");
        router
            .subscribe_message("admin", |_: &Self| "welcome admin")
            .guard(|context| context.body().get("role").and_then(Value::as_str) == Some("admin"));
    }
}

// ---------------------------------------------------------------------------------------------
// /filters: exception filters
// ---------------------------------------------------------------------------------------------

/// A gateway filter (`custom:` messages → `custom-error`), a route filter, and the global one.
#[derive(Debug)]
struct FilterGateway;

#[derive(Debug)]
struct CustomFilter;

impl ExceptionFilter for CustomFilter {
    fn catch(&self, exception: &WsException, context: &ExceptionContext) -> bool {
        match exception {
            WsException::Message(message) if message.starts_with("custom:") => {
                let _ = context.socket.emit(
                    "custom-error",
                    json!({
                        "filter": "gateway",
                        "message": message,
                        "pattern": context.pattern,
                        "data": context.data,
                    }),
                );
                true
            }
            _ => false,
        }
    }
}

fn fail(message: &'static str) -> impl Fn(&FilterGateway) -> Result<(), WsException> {
    move |_| Err(WsException::new(message))
}

impl Gateway for FilterGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("/filters")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.use_filter(CustomFilter);
        router.subscribe_message("who", |_: &Self| "filters");
        router.subscribe_message("custom", fail("custom: caught by the gateway filter"));
        router.subscribe_message("global", fail("global: caught by the global filter"));
        router.subscribe_message("plain", fail("plain: the default filter"));
        router
            .subscribe_message(
                "route-filtered",
                fail("custom: the route filter runs first"),
            )
            .filter(|exception: &WsException, context: &ExceptionContext| {
                let _ = context.socket.emit(
                    "route-error",
                    json!({ "filter": "route", "message": exception.to_string() }),
                );
                true
            });
        // An extractor rejection goes through the filters like any exception.
        router
            .subscribe_message(
                "typed-filtered",
                |_: &Self, MessageBody(point): MessageBody<Point>| Json(json!(point.x + point.y)),
            )
            .filter(|exception: &WsException, context: &ExceptionContext| {
                let _ = context.socket.emit(
                    "route-error",
                    json!({
                        "filter": "route",
                        "message": exception.client_message(),
                        "pattern": context.pattern,
                        "data": context.data,
                    }),
                );
                true
            });
        // A filter that panics is skipped; the next one handles the exception.
        router
            .subscribe_message("filter-panics", fail("plain: after a panicking filter"))
            .filter(|_: &WsException, _: &ExceptionContext| -> bool {
                panic!("filter panicked on purpose")
            });
    }
}

// ---------------------------------------------------------------------------------------------
// /tenant/{id}: a dynamic namespace
// ---------------------------------------------------------------------------------------------

/// Every `/tenant/{id}`; tenant `forbidden` is refused by its connection guard.
#[derive(Debug)]
struct TenantGateway;

impl Gateway for TenantGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().dynamic_namespace("/tenant/{id}")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.use_connection_guard(|socket: SocketRef| async move {
            if socket.ns_name() == "/tenant/forbidden" {
                Err(MiddlewareError::new("tenant refused"))
            } else {
                Ok(())
            }
        });
        router.subscribe_message("whereami", |_: &Self, socket: SocketRef| {
            Json(json!({ "nsp": socket.ns_name(), "data": socket.data_value() }))
        });
        router.subscribe_message(
            "shout",
            |_: &Self, WsServer(io): WsServer, MessageBody(body): MessageBody<Value>| {
                io.emit("shout", json!({ "nsp": io.name(), "body": body }))
                    .map_err(WsException::from)
            },
        );
    }

    async fn handle_connection(self: Arc<Self>, socket: SocketRef) -> Result<(), WsException> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        socket
            .set_data(&json!({ "tenant": socket.ns_name().trim_start_matches("/tenant/") }))
            .map_err(WsException::internal)
    }

    fn handle_disconnect(&self, socket: SocketRef, reason: DisconnectReason) {
        record_disconnect("tenant", &socket, reason);
    }
}

// ---------------------------------------------------------------------------------------------
// /rooms: a connection guard that refuses after rooms were joined
// ---------------------------------------------------------------------------------------------

/// A first connection guard joins `lobby`; a second one refuses sockets whose `auth.refuse` is
/// set (its error data carries the refused socket's id). `rooms` lists every room of the
/// namespace's adapter, `rooms-of` the rooms of one socket id.
#[derive(Debug)]
struct RoomsGateway;

fn sorted_rooms(rooms: Vec<sockgate::Room>) -> Value {
    let mut rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
    rooms.sort();
    json!(rooms)
}

impl Gateway for RoomsGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("/rooms")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.use_connection_guard(|socket: SocketRef| async move {
            socket.join("lobby");
            Ok(())
        });
        router.use_connection_guard(|socket: SocketRef| async move {
            if socket.handshake().auth.get("refuse").is_some() {
                return Err(MiddlewareError::new("refused after joining a room")
                    .with_data(json!({ "id": socket.id().to_string() })));
            }
            Ok(())
        });
        router.subscribe_message("rooms", |_: &Self, WsServer(io): WsServer| {
            Json(sorted_rooms(io.adapter().rooms()))
        });
        router.subscribe_message(
            "rooms-of",
            |_: &Self, WsServer(io): WsServer, MessageBody(id): MessageBody<String>| {
                let sid = sockgate::Sid::parse(&id).ok_or("not a socket id")?;
                Ok::<_, WsException>(Json(sorted_rooms(io.adapter().rooms_of(sid))))
            },
        );
    }
}

// ---------------------------------------------------------------------------------------------
// /ordered: early messages behind a slow handle_connection
// ---------------------------------------------------------------------------------------------

/// An async `handle_connection` that takes `?delay=` ms (default 200), then accepts (or, with
/// `?fail`, refuses); `seq` records its body in arrival order, with whether the hook had
/// finished (`GET /order/{id}`).
#[derive(Debug)]
struct OrderedGateway;

/// Appends to the record of socket `id` (creating it).
fn record_order(id: &str, value: Value) {
    let mut order = ORDER.lock().unwrap_or_else(|e| e.into_inner());
    match order.iter_mut().find(|(sid, _)| sid == id) {
        Some((_, list)) => {
            if list.len() < 10_000 {
                list.push(value);
            }
        }
        None => {
            order.push((id.to_owned(), vec![value]));
            let len = order.len();
            if len > 200 {
                order.drain(..len - 200);
            }
        }
    }
}

fn order_of(id: &str) -> Value {
    ORDER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(sid, _)| sid == id)
        .map_or(Value::Null, |(_, list)| Value::Array(list.clone()))
}

impl Gateway for OrderedGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new().namespace("/ordered")
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message(
            "seq",
            |_: &Self, socket: SocketRef, MessageBody(body): MessageBody<Value>| {
                // `{n, pad}` bodies (to fill the early queue by size) record only `n`.
                let n = body.get("n").cloned().unwrap_or(body);
                let ready = socket.data_value().get("ready") == Some(&Value::Bool(true));
                record_order(&socket.id().to_string(), json!({ "n": n, "ready": ready }));
                Json(n)
            },
        );
        // A typed body: called with the wrong shape it is an `exception`, even while queued.
        router.subscribe_message(
            "point",
            |_: &Self, MessageBody(point): MessageBody<Point>| Json(json!(point.x + point.y)),
        );
    }

    async fn handle_connection(self: Arc<Self>, socket: SocketRef) -> Result<(), WsException> {
        let query = socket.handshake().query().clone();
        let delay = query
            .get("delay")
            .and_then(|d| d.parse().ok())
            .unwrap_or(200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let id = socket.id().to_string();
        if query.get("fail").is_some() {
            record_order(&id, json!("refused"));
            return Err(WsException::new("refused after a slow check"));
        }
        socket
            .set_data(&json!({ "ready": true }))
            .map_err(WsException::internal)?;
        record_order(&id, json!("ready"));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// /plain: the plain API beside the gateways
// ---------------------------------------------------------------------------------------------

/// Declares `/plain` on the shared server: `typed` takes `Data<Point>` and acks the sum; a body
/// of the wrong shape is rejected by the extractor (logged at warn, the handler does not run).
fn plain_namespace(io: &sockgate::SocketIo) {
    io.ns("/plain", || {}).on(
        "typed",
        |Data(point): Data<Point>, ack: sockgate::AckSender| {
            let _ = ack.send(json!(point.x + point.y));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// a gateway with its own port
// ---------------------------------------------------------------------------------------------

/// Namespace `/own` on a port of its own, WebSocket only (server options that would conflict
/// on the shared server, but not here).
#[derive(Debug)]
struct OwnPortGateway {
    port: u16,
}

impl Gateway for OwnPortGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new()
            .namespace("/own")
            .port(self.port)
            .transports(Transports::websocket_only())
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("who", |_: &Self| "own-port");
    }
}

// ---------------------------------------------------------------------------------------------
// the application
// ---------------------------------------------------------------------------------------------

fn app(own_port: u16) -> GatewayApp {
    GatewayApp::new()
        .with_state(AppState {
            name: "gateway-testserver",
            hits: Arc::new(AtomicU64::new(0)),
        })
        .use_global_filter(GlobalFilter)
        .gateway(MainGateway)
        .gateway(LifecycleGateway)
        .gateway(GuardedGateway)
        .gateway(FilterGateway)
        .gateway(TenantGateway)
        .gateway(OrderedGateway)
        .gateway(RoomsGateway)
        .gateway(OwnPortGateway { port: own_port })
}

fn arg(name: &str) -> Option<u16> {
    let mut args = std::env::args().skip(1);
    let flag = format!("--{name}");
    let prefix = format!("--{name}=");
    while let Some(arg) = args.next() {
        if arg == flag {
            return args.next().and_then(|p| p.parse().ok());
        }
        if let Some(value) = arg.strip_prefix(&prefix) {
            return value.parse().ok();
        }
    }
    None
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let port = arg("port").unwrap_or(3000);
    let own_port = arg("own-port").unwrap_or(0);

    let gateways = app(own_port).build()?;
    if let Some(io) = gateways.shared_servers().first() {
        plain_namespace(io);
    }
    let addrs = gateways.spawn_own_ports("127.0.0.1").await?;
    if let Some(addr) = addrs.first() {
        let _ = OWN_PORT.set(addr.port());
    }

    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/info",
            get(|| async { axum::Json(json!({ "ownPort": OWN_PORT.get() })) }),
        )
        .route(
            "/after-init",
            get(|| async { axum::Json(after_init_list()) }),
        )
        .route(
            "/disconnects",
            get(|| async { axum::Json(snapshot(&DISCONNECTS)) }),
        )
        .route(
            "/connections",
            get(|| async { axum::Json(snapshot(&CONNECTIONS)) }),
        )
        .route(
            "/order/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    axum::Json(order_of(&id))
                },
            ),
        )
        .layer(gateways.layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "gateway-testserver listening on http://127.0.0.1:{port} (own-port gateway on {:?})",
        OWN_PORT.get()
    );
    sockgate::engine::serve(listener, router).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockgate::gateway::GatewayError;
    use sockgate::Cors;

    /// A gateway whose options come from the caller.
    struct Configured;

    impl Gateway for Configured {
        fn register(router: &mut GatewayRouter<Self>) {
            router.subscribe_message("who", |_: &Self| "configured");
        }
    }

    #[test]
    fn the_test_application_builds() {
        let gateways = app(0).build().expect("no conflicts");
        assert_eq!(gateways.shared_servers().len(), 1);
        assert_eq!(gateways.own_port_servers().len(), 1);
    }

    #[test]
    fn conflicting_options_on_a_shared_server_are_a_startup_error() {
        // Same (application) port and path as the other gateways, but WebSocket only.
        let error = app(0)
            .gateway_with_options(
                Configured,
                GatewayOptions::new()
                    .namespace("/other")
                    .transports(Transports::websocket_only()),
            )
            .build()
            .expect_err("conflicting transports");
        assert_eq!(
            error,
            GatewayError::ConflictingOptions {
                port: None,
                path: "/socket.io/".to_owned(),
                gateway: std::any::type_name::<Configured>(),
                first: std::any::type_name::<MainGateway>(),
                option: "engine.transports",
            }
        );
        assert!(error.to_string().contains("different server options"));

        // CORS differs.
        let error = GatewayApp::new()
            .gateway(MainGateway)
            .gateway_with_options(
                Configured,
                GatewayOptions::new().namespace("/x").cors(Cors::any()),
            )
            .build()
            .expect_err("conflicting cors");
        assert!(matches!(
            error,
            GatewayError::ConflictingOptions {
                port: None,
                option: "engine.cors",
                ..
            }
        ));

        // Two gateways with their own, identical port but different options.
        let error = GatewayApp::new()
            .gateway(OwnPortGateway { port: 4555 })
            .gateway_with_options(Configured, GatewayOptions::new().namespace("/x").port(4555))
            .build()
            .expect_err("conflict on the own port");
        assert!(matches!(
            error,
            GatewayError::ConflictingOptions {
                port: Some(4555),
                option: "engine.transports",
                ..
            }
        ));
    }

    #[test]
    fn no_conflict_on_another_port_or_path() {
        let gateways = app(0)
            .gateway_with_options(
                Configured,
                GatewayOptions::new()
                    .namespace("/other")
                    .transports(Transports::websocket_only())
                    .path("/ws-only/"),
            )
            .build()
            .expect("another path is another server");
        assert_eq!(gateways.shared_servers().len(), 2);

        let gateways = app(0)
            .gateway_with_options(
                Configured,
                GatewayOptions::new()
                    .namespace("/other")
                    .transports(Transports::websocket_only())
                    .port(4556),
            )
            .build()
            .expect("another port is another server");
        assert_eq!(gateways.own_port_servers().len(), 2);
    }

    #[test]
    fn a_namespace_served_twice_is_a_startup_error() {
        let error = app(0)
            .gateway_with_options(Configured, GatewayOptions::new().namespace("/main"))
            .build()
            .expect_err("duplicate namespace");
        assert_eq!(
            error,
            GatewayError::DuplicateNamespace {
                namespace: "/main".to_owned()
            }
        );
    }
}
