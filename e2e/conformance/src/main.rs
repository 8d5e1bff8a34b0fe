//! The server the official Engine.IO v4 (and later Socket.IO v5) test suites run against.
//!
//! Run with `cargo run -p conformance -- --port 3000`. It binds 127.0.0.1 and serves, on one
//! port (one axum `Router`, so this also proves the engine mounts beside plain HTTP routes):
//! - `/engine.io/`: a raw Engine.IO echo configured as the suite expects (pingInterval 300,
//!   pingTimeout 200, maxHttpBufferSize 1e6, CORS `*`);
//! - `/test-engine/`: the same echo plus two controls for our own tests: the text message
//!   `close` makes the server close the session, and `sessions` answers with the live session
//!   counts of both engines as `{"echo":N,"test":M}`;
//! - `/socket.io/`: the Socket.IO v5 server the official Socket.IO suite expects: namespaces
//!   `/` and `/custom`, the four handlers of the spec's "Test suite" section, recovery off;
//! - `GET /health`: `ok`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use sockgate::{AckSender, Payload, SocketIo, SocketRef};
use sockgate_engine::{
    CloseReason, Connection, Cors, Engine, EngineConfig, EngineHandler, Message,
};
use sockgate_proto::engine::Frame;

/// Echoes every message back with its type.
struct Echo {
    controls: Option<Arc<Controls>>,
}

/// What the test engine needs to answer `sessions`.
#[derive(Default)]
struct Controls {
    echo: OnceLock<Engine<Echo>>,
    test: OnceLock<Engine<Echo>>,
}

impl EngineHandler for Echo {
    type Data = ();

    fn on_open(&self, _connection: &Arc<Connection<()>>) {}

    fn on_message(&self, connection: &Arc<Connection<()>>, message: Message) {
        let frame = match message {
            Message::Text(text) => {
                if let Some(controls) = &self.controls {
                    match &text[..] {
                        b"close" => return connection.close(),
                        b"sessions" => {
                            let count = |e: &OnceLock<Engine<Echo>>| {
                                e.get().map_or(0, |e| e.session_count())
                            };
                            let body = format!(
                                r#"{{"echo":{},"test":{}}}"#,
                                count(&controls.echo),
                                count(&controls.test)
                            );
                            let _ = connection.send(Arc::new(Frame::message(body.as_bytes())));
                            return;
                        }
                        _ => {}
                    }
                }
                Frame::message(&text)
            }
            Message::Binary(data) => Frame::binary(data),
        };
        let _ = connection.send(Arc::new(frame));
    }

    fn on_close(&self, _connection: &Connection<()>, _reason: CloseReason) {}
}

fn suite_config(path: &str) -> EngineConfig {
    EngineConfig::default()
        .path(path)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000)
        .cors(Cors::any())
}

fn port_from_args() -> u16 {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            if let Some(port) = args.next().and_then(|p| p.parse().ok()) {
                return port;
            }
        } else if let Some(port) = arg.strip_prefix("--port=").and_then(|p| p.parse().ok()) {
            return port;
        }
    }
    3000
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let port = port_from_args();

    let controls = Arc::new(Controls::default());
    let echo = Engine::new(suite_config("/engine.io/"), Echo { controls: None });
    let test = Engine::new(
        suite_config("/test-engine/"),
        Echo {
            controls: Some(controls.clone()),
        },
    );
    let _ = controls.echo.set(echo.clone());
    let _ = controls.test.set(test.clone());

    let io = socket_io_suite_server();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .layer(echo.layer())
        .layer(test.layer())
        .layer(io.layer());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("conformance listening on http://127.0.0.1:{port}");
    sockgate_engine::serve(listener, app).await
}

/// The Socket.IO server of the official v5 suite (`docs/socket.io-protocol/v5-current.md`).
fn socket_io_suite_server() -> SocketIo {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors(Cors::any())
        .build();
    io.ns("/", |socket: SocketRef| {
        let _ = socket.emit("auth", &socket.handshake().auth);
        socket.on("message", |socket: SocketRef, payload: Payload| {
            let _ = socket.emit("message-back", payload);
        });
        socket.on("message-with-ack", |payload: Payload, ack: AckSender| {
            let _ = ack.send(payload);
        });
    });
    io.ns("/custom", |socket: SocketRef| {
        let _ = socket.emit("auth", &socket.handshake().auth);
    });
    io
}
