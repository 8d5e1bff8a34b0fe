//! Every key, parameter attribute and hook form, mixed with plain extractors.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sockgate::gateway::{
    gateway, subscribe_message, ExceptionContext, GatewayApp, GatewayContext, GatewayOptions,
    GatewayRouter, MessageBody, Pattern, WsException, WsResponse,
};
use sockgate::{AckSender, NamespaceRef, SocketRef};

fn is_admin(context: &GatewayContext) -> bool {
    context.socket.handshake().query().get("role") == Some("admin")
}

fn log_errors(exception: &WsException, context: &ExceptionContext) -> bool {
    eprintln!("{} failed: {exception:?}", context.pattern);
    false
}

#[derive(Default)]
pub struct Everything {
    seen: AtomicU64,
}

#[gateway(
    namespace = "chat",
    port = 3001,
    path = "/ws/",
    transports = ["websocket", "polling"],
    cors(
        origin = ["https://a.example", "https://b.example"],
        credentials = true,
        methods = ["GET", "post"],
        allowed_headers = ["authorization"],
        exposed_headers = ["x-request-id"],
        max_age = 600,
    ),
    ping_interval = 25000,
    ping_timeout = 20000,
    connect_timeout = 45000,
    upgrade_timeout = 10000,
    ack_timeout = 5000,
    max_http_buffer_size = 1000000,
    allow_upgrades = true,
    parser = "json",
    connection_state_recovery(max_disconnection_duration = 60000, skip_middlewares = false),
    guard = is_admin,
    filter = log_errors,
)]
impl Everything {
    fn after_init(&self, namespace: &NamespaceRef) {
        let _ = namespace;
    }

    async fn handle_connection(self: Arc<Self>, socket: SocketRef) -> Result<(), &'static str> {
        if socket.handshake().query().get("name").is_none() {
            return Err("name is required");
        }
        Ok(())
    }

    fn handle_disconnect(&self, _socket: SocketRef) {}

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("plain", Self::plain);
    }

    /// Public handlers get public property keys.
    #[subscribe_message("join", guard = is_admin, filter = log_errors)]
    pub fn join(
        &self,
        #[message_body("room")] room: String,
        #[message_body("user")] mut user: Option<String>,
        #[ack] ack: AckSender,
    ) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        let user = user.take().unwrap_or_default();
        let _ = ack.send(&format!("{user} joined {room}"));
    }

    #[subscribe_message("count")]
    async fn count(self: Arc<Self>, #[message_body] by: u64) -> u64 {
        self.seen.fetch_add(by, Ordering::Relaxed) + by
    }

    #[subscribe_message("whoami")]
    fn whoami(
        &self,
        Pattern(event): Pattern,
        #[connected_socket] socket: SocketRef,
    ) -> WsResponse<String> {
        WsResponse::new(event, socket.id().to_string())
    }

    #[subscribe_message("echo")]
    fn echo(&self, MessageBody(body): MessageBody<serde_json::Value>) -> serde_json::Value {
        body
    }

    fn plain(&self) {}

    /// Not a handler: helper methods stay as they are.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
}

struct FromConfig {
    port: u16,
}

#[gateway(options_from = Self::configured)]
impl FromConfig {
    fn configured(&self) -> GatewayOptions {
        GatewayOptions::new()
            .namespace("/configured")
            .port(self.port)
    }

    #[subscribe_message("ping")]
    fn ping(&self) -> &'static str {
        "pong"
    }
}

struct Generic<T>(PhantomData<T>);

#[gateway(dynamic_namespace = "/tenant/{id}", connection_state_recovery = true)]
impl<T: Send + Sync + 'static> Generic<T> {
    fn after_init(&self) {}

    async fn handle_connection(&self, _socket: SocketRef) {}

    #[subscribe_message("size")]
    fn size(&self) -> u64 {
        std::mem::size_of::<T>() as u64
    }
}

struct Empty;

#[gateway]
impl Empty {}

fn main() {
    let everything = Everything::default();
    assert_eq!(everything.seen(), 0);
    // Different server options: one application each.
    GatewayApp::new().gateway(everything).build().unwrap();
    GatewayApp::new()
        .gateway(FromConfig { port: 3002 })
        .build()
        .unwrap();
    GatewayApp::new()
        .gateway(Generic::<u64>(PhantomData))
        .build()
        .unwrap();
    GatewayApp::new().gateway(Empty).build().unwrap();
}
