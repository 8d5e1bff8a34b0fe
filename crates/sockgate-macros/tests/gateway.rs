//! What the macros generate, checked at run time: the options `options()` returns, and handlers,
//! hooks and guards answering a real Socket.IO client (Engine.IO long-polling, in process).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use sockgate::engine::AllowOrigin;
use sockgate::gateway::{
    gateway, subscribe_message, Gateway, GatewayApp, GatewayContext, GatewayNamespace,
    GatewayOptions, WsException,
};
use sockgate::{
    AckSender, DisconnectReason, NamespaceRef, Parser, RecoveryConfig, SocketIo, SocketRef,
    Transports,
};

/// The seed's gateway, as the README shows it.
struct ExampleGateway;

#[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
impl ExampleGateway {
    fn handle_connection(&self, client: SocketRef) {
        println!("client connected: {}", client.id());
    }

    fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
        println!("client disconnected: {} ({reason})", client.id());
    }

    #[subscribe_message("message")]
    fn handle_test_message(
        &self,
        #[message_body] message: String,
        #[connected_socket] client: SocketRef,
        #[ws_server] io: NamespaceRef,
    ) -> Result<(), WsException> {
        let username = client
            .handshake()
            .query()
            .get("name")
            .ok_or("name is required")?;
        io.emit("message", format!("{username} : {message}"))?;
        Ok(())
    }
}

#[test]
fn seed_options_come_from_the_attribute() {
    let options = ExampleGateway.options();
    assert_eq!(
        options.namespace,
        GatewayNamespace::Static("/example".to_owned())
    );
    assert_eq!(options.port, None);
    assert_eq!(
        options.server.engine.transports,
        Transports::websocket_only()
    );
    let cors = options.server.engine.cors.expect("cors is set");
    assert!(matches!(cors.origin, AllowOrigin::Any));
    assert!(!cors.credentials);
    // Everything else keeps Node's defaults.
    let defaults = GatewayOptions::new();
    assert_eq!(options.server.engine.path, defaults.server.engine.path);
    assert_eq!(
        options.server.engine.session.ping_interval,
        defaults.server.engine.session.ping_interval
    );
}

#[tokio::test]
async fn seed_gateway_builds_and_refuses_polling() {
    let gateways = GatewayApp::new().gateway(ExampleGateway).build().unwrap();
    let io = &gateways.shared_servers()[0];
    let (status, body) = request(
        io,
        Method::GET,
        "/socket.io/?EIO=4&transport=polling&name=alice",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Transport unknown"), "{body}");
}

struct Tuned;

fn allow_all(_: &GatewayContext) -> bool {
    true
}

#[gateway(
    namespace = "tuned",
    port = 3001,
    path = "/ws/",
    transports = ["polling", "websocket"],
    cors(
        origin = ["https://a.example", "https://b.example"],
        credentials = true,
        methods = ["get", "POST"],
        allowed_headers = ["authorization"],
        exposed_headers = ["x-request-id"],
        max_age = 600,
    ),
    ping_interval = 1000,
    ping_timeout = 2000,
    connect_timeout = 3000,
    upgrade_timeout = 4000,
    ack_timeout = 5000,
    max_http_buffer_size = 1234,
    allow_upgrades = false,
    parser = "msgpack",
    connection_state_recovery(max_disconnection_duration = 6000, skip_middlewares = false),
    guard = allow_all,
)]
impl Tuned {}

#[test]
fn every_key_reaches_the_options() {
    let options = Tuned.options();
    assert_eq!(
        options.namespace,
        GatewayNamespace::Static("/tuned".to_owned())
    );
    assert_eq!(options.port, Some(3001));
    let server = &options.server;
    assert_eq!(
        server.engine.path,
        GatewayOptions::new().path("/ws/").server.engine.path
    );
    assert_eq!(server.engine.transports, Transports::default());
    let cors = server.engine.cors.as_ref().unwrap();
    match &cors.origin {
        AllowOrigin::List(list) => assert_eq!(list, &["https://a.example", "https://b.example"]),
        other => panic!("{other:?}"),
    }
    assert!(cors.credentials);
    assert_eq!(cors.methods, [Method::GET, Method::POST]);
    assert_eq!(cors.allowed_headers, Some(vec!["authorization".to_owned()]));
    assert_eq!(cors.exposed_headers, ["x-request-id"]);
    assert_eq!(cors.max_age, Some(600));
    let session = &server.engine.session;
    assert_eq!(session.ping_interval, Duration::from_millis(1000));
    assert_eq!(session.ping_timeout, Duration::from_millis(2000));
    assert_eq!(session.upgrade_timeout, Duration::from_millis(4000));
    assert_eq!(session.max_payload, 1234);
    assert_eq!(server.connect_timeout, Duration::from_millis(3000));
    assert_eq!(server.ack_timeout, Duration::from_millis(5000));
    assert!(!server.engine.allow_upgrades);
    assert_eq!(server.parser, Parser::Msgpack);
    assert_eq!(
        server.recovery,
        Some(RecoveryConfig {
            max_disconnection_duration: Duration::from_millis(6000),
            skip_middlewares: false,
            ..RecoveryConfig::default()
        })
    );
}

/// The engine and server options added with the one options model (issue 9).
struct Limits;

#[gateway(
    write_coalescing = 0,
    websocket_write_timeout = 7000,
    pending_attachments_timeout = 8000,
    http_request_body_timeout = 9000,
    max_buffered_bytes = 4096,
    max_decoded_bytes = 8192,
    max_pending_attachment_bytes = 2048,
    max_attachments = 3,
    trust_proxy = true,
    cleanup_empty_child_namespaces = false,
    allowed_origins = ["https://a.example"],
)]
impl Limits {}

#[test]
fn the_newer_option_keys_reach_the_options() {
    let server = Limits.options().server;
    assert_eq!(server.engine.write_coalescing, Duration::ZERO);
    assert_eq!(
        server.engine.websocket_write_timeout,
        Duration::from_millis(7000)
    );
    assert_eq!(
        server.pending_attachments_timeout,
        Duration::from_millis(8000)
    );
    assert_eq!(
        server.engine.http_request_body_timeout,
        Duration::from_millis(9000)
    );
    assert_eq!(server.engine.session.max_buffered_bytes, 4096);
    assert_eq!(server.max_decoded_bytes, 8192);
    assert_eq!(server.max_pending_attachment_bytes, Some(2048));
    assert_eq!(server.max_attachments, 3);
    assert!(server.engine.trust_proxy);
    assert!(!server.cleanup_empty_child_namespaces);
    match &server.engine.allowed_origins {
        Some(AllowOrigin::List(list)) => assert_eq!(list, &["https://a.example"]),
        other => panic!("{other:?}"),
    }
}

/// No key: every option keeps its default.
struct Plain;

#[gateway]
impl Plain {}

#[test]
fn no_key_means_default_options() {
    let options = Plain.options();
    let defaults = GatewayOptions::new();
    assert_eq!(options.namespace, defaults.namespace);
    assert_eq!(options.port, None);
    assert!(options.server.engine.cors.is_none());
}

struct Tenants;

#[gateway(
    dynamic_namespace = "/tenant/{id}",
    cors(origin = true),
    connection_state_recovery = true
)]
impl Tenants {}

#[test]
fn dynamic_namespace_and_mirrored_origin() {
    let options = Tenants.options();
    assert_eq!(
        options.namespace,
        GatewayNamespace::Pattern("/tenant/{id}".to_owned())
    );
    assert!(matches!(
        options.server.engine.cors.unwrap().origin,
        AllowOrigin::Mirror
    ));
    assert_eq!(options.server.recovery, Some(RecoveryConfig::default()));
}

/// Options read at run time (NestJS #15536: the port from the environment).
struct Configured {
    port: u16,
}

#[gateway(options_from = Self::configured_options)]
impl Configured {
    fn configured_options(&self) -> GatewayOptions {
        GatewayOptions::new()
            .namespace("/configured")
            .port(self.port)
    }
}

#[test]
fn options_from_runs_at_startup() {
    let options = Configured { port: 4321 }.options();
    assert_eq!(options.port, Some(4321));
    assert_eq!(
        options.namespace,
        GatewayNamespace::Static("/configured".to_owned())
    );
}

/// The seed's shape over polling, plus the other parameter attributes, hooks and guards.
#[derive(Default)]
struct Chat {
    log: Arc<Mutex<Vec<String>>>,
}

impl Chat {
    fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

fn is_admin(context: &GatewayContext) -> bool {
    context.socket.handshake().query().get("role") == Some("admin")
}

#[gateway(namespace = "/example", transports = ["polling"], cors(origin = "*"))]
impl Chat {
    fn after_init(&self, namespace: &NamespaceRef) {
        self.log(format!("init {}", namespace.name()));
    }

    async fn handle_connection(self: Arc<Self>, socket: SocketRef) -> Result<(), WsException> {
        tokio::task::yield_now().await;
        let name = socket
            .handshake()
            .query()
            .get("name")
            .ok_or("name is required")?;
        self.log(format!("connected {name}"));
        Ok(())
    }

    fn handle_disconnect(&self, _socket: SocketRef) {
        self.log("disconnected".to_owned());
    }

    #[subscribe_message("message")]
    fn message(
        &self,
        #[message_body] message: String,
        #[connected_socket] client: SocketRef,
        #[ws_server] io: NamespaceRef,
    ) -> Result<(), WsException> {
        let username = client
            .handshake()
            .query()
            .get("name")
            .ok_or("name is required")?;
        io.emit("message", format!("{username} : {message}"))?;
        Ok(())
    }

    #[subscribe_message("join")]
    fn join(
        &self,
        #[message_body("room")] room: String,
        #[message_body("as")] alias: Option<String>,
    ) -> String {
        format!(
            "{} joined {room}",
            alias.unwrap_or_else(|| "someone".to_owned())
        )
    }

    #[subscribe_message("double")]
    async fn double(self: Arc<Self>, #[message_body] value: u64) -> u64 {
        tokio::task::yield_now().await;
        value * 2
    }

    #[subscribe_message("manual-ack")]
    fn manual_ack(&self, #[ack] ack: AckSender) -> &'static str {
        let _ = ack.send("from the ack");
        "not sent: the ack was taken"
    }

    #[subscribe_message("admin", guard = is_admin)]
    fn admin(&self) -> &'static str {
        "secret"
    }
}

#[tokio::test]
async fn handlers_hooks_and_guards_answer_a_client() {
    let chat = Chat::default();
    let log = chat.log.clone();
    let gateways = GatewayApp::new().gateway(chat).build().unwrap();
    assert_eq!(log.lock().unwrap().as_slice(), ["init /example"]);
    let io = gateways.shared_servers()[0].clone();
    let mut client = Client::connect(&io, "name=alice").await;

    client.send(r#"42/example,["message","hi"]"#).await;
    assert_eq!(
        client.next_packet().await,
        r#"42/example,["message","alice : hi"]"#
    );
    // Handlers wait for `handle_connection`, which yields before logging.
    assert!(log.lock().unwrap().contains(&"connected alice".to_owned()));

    client
        .send(r#"42/example,1["join",{"room":"r1","as":"bob"}]"#)
        .await;
    assert_eq!(
        client.next_packet().await,
        r#"43/example,1["bob joined r1"]"#
    );

    client.send(r#"42/example,2["double",21]"#).await;
    assert_eq!(client.next_packet().await, r#"43/example,2[42]"#);

    client.send(r#"42/example,3["manual-ack"]"#).await;
    assert_eq!(
        client.next_packet().await,
        r#"43/example,3["from the ack"]"#
    );

    client.send(r#"42/example,["admin"]"#).await;
    let exception = client.next_packet().await;
    let exception: Value =
        serde_json::from_str(exception.strip_prefix("42/example,").unwrap()).unwrap();
    assert_eq!(exception[0], "exception");
    assert_eq!(exception[1]["message"], "Forbidden resource");

    client.send(r#"42/example,4["join","not an object"]"#).await;
    let exception = client.next_packet().await;
    assert!(
        exception.starts_with(r#"42/example,["exception""#),
        "{exception}"
    );

    client.send("41/example,").await;
    for _ in 0..50 {
        if log.lock().unwrap().iter().any(|l| l == "disconnected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(log.lock().unwrap().iter().any(|l| l == "disconnected"));
}

#[tokio::test]
async fn handle_connection_errors_refuse_the_socket() {
    let gateways = GatewayApp::new().gateway(Chat::default()).build().unwrap();
    let io = gateways.shared_servers()[0].clone();
    // No `name`: the hook fails, the client gets NestJS's `exception` and is disconnected.
    let mut client = Client::open(&io, "").await;
    client.send("40/example,").await;
    let mut packets = Vec::new();
    for _ in 0..3 {
        let packet = client.next_packet().await;
        let done = packet.starts_with("41/example");
        packets.push(packet);
        if done {
            break;
        }
    }
    let exception = packets
        .iter()
        .find(|p| p.starts_with("42/example,"))
        .unwrap_or_else(|| panic!("{packets:?}"));
    let exception: Value =
        serde_json::from_str(exception.strip_prefix("42/example,").unwrap()).unwrap();
    assert_eq!(exception[0], "exception");
    assert_eq!(exception[1]["message"], json!("name is required"));
}

async fn request(io: &SocketIo, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), io.engine().handle(request))
        .await
        .expect("the engine answers");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A minimal Socket.IO client over Engine.IO long-polling.
struct Client {
    io: SocketIo,
    sid: String,
    pending: Vec<String>,
}

impl Client {
    async fn open(io: &SocketIo, query: &str) -> Client {
        let (status, body) = request(
            io,
            Method::GET,
            &format!("/socket.io/?EIO=4&transport=polling&{query}"),
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
        Client {
            io: io.clone(),
            sid: open["sid"].as_str().unwrap().to_owned(),
            pending: Vec::new(),
        }
    }

    async fn connect(io: &SocketIo, query: &str) -> Client {
        let mut client = Client::open(io, query).await;
        client.send("40/example,").await;
        let connected = client.next_packet().await;
        assert!(connected.starts_with("40/example,{"), "{connected}");
        client
    }

    fn uri(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    /// Sends one Engine.IO packet (`42/example,[...]`: a message carrying a Socket.IO EVENT).
    async fn send(&self, packet: &str) {
        let (status, body) = request(&self.io, Method::POST, &self.uri(), packet).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    /// The next Engine.IO message (`4` then the Socket.IO packet); pings are answered and
    /// skipped.
    async fn next_packet(&mut self) -> String {
        loop {
            if !self.pending.is_empty() {
                return self.pending.remove(0);
            }
            let (status, body) = request(&self.io, Method::GET, &self.uri(), "").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            for packet in body.split('\u{1e}') {
                if packet.starts_with('4') {
                    self.pending.push(packet.to_owned());
                } else if packet == "2" {
                    let _ = request(&self.io, Method::POST, &self.uri(), "3").await;
                }
            }
        }
    }
}
