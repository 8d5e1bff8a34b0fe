//! Engine behaviour through real HTTP on loopback: allowRequest, compression, CORS options,
//! and the engine mounted beside an axum route.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use sockgate_engine::{
    CloseReason, Connection, Cors, Engine, EngineConfig, EngineHandler, Message,
};
use sockgate_proto::engine::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Echo;

impl EngineHandler for Echo {
    type Data = ();
    fn on_open(&self, _: &Arc<Connection<()>>) {}
    fn on_message(&self, connection: &Arc<Connection<()>>, message: Message) {
        if let Message::Text(text) = message {
            let _ = connection.send(Arc::new(Frame::message(&text)));
        }
    }
    fn on_close(&self, _: &Connection<()>, _: CloseReason) {}
}

async fn start(config: EngineConfig) -> (std::net::SocketAddr, Engine<Echo>) {
    let engine = Engine::new(config, Echo);
    let app = Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .layer(engine.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockgate_engine::serve(listener, app));
    (addr, engine)
}

/// Sends one HTTP/1.1 request and returns the raw response (headers and body).
async fn http(addr: std::net::SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await
    .unwrap()
    .unwrap();
    out
}

fn head(response: &[u8]) -> String {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end]).to_lowercase()
}

fn body(response: &[u8]) -> &[u8] {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &response[end + 4..]
}

fn get_request(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn allow_request_refuses_with_403_and_its_message() {
    let config = EngineConfig::default().allow_request(|req| async move {
        match req.query("token").as_deref() {
            Some("good") => Ok(()),
            _ => Err("bad token".to_owned()),
        }
    });
    let (addr, engine) = start(config).await;
    let refused = http(
        addr,
        &get_request("/socket.io/?EIO=4&transport=polling&token=nope", ""),
    )
    .await;
    assert!(
        head(&refused).starts_with("http/1.1 403"),
        "{}",
        head(&refused)
    );
    assert_eq!(body(&refused), br#"{"code":4,"message":"bad token"}"#);
    let accepted = http(
        addr,
        &get_request("/socket.io/?EIO=4&transport=polling&token=good", ""),
    )
    .await;
    assert!(head(&accepted).starts_with("http/1.1 200"));
    assert!(body(&accepted).starts_with(b"0{\"sid\":"));
    assert_eq!(engine.session_count(), 1);
}

#[tokio::test]
async fn the_engine_shares_the_port_with_axum_routes() {
    let (addr, _engine) = start(EngineConfig::default()).await;
    let hello = http(addr, &get_request("/hello", "")).await;
    assert_eq!(body(&hello), b"hello from axum");
    let handshake = http(
        addr,
        &get_request("/socket.io/?EIO=4&transport=polling", ""),
    )
    .await;
    assert!(body(&handshake).starts_with(b"0{\"sid\":"));
}

#[tokio::test]
async fn large_polling_responses_are_compressed() {
    let (addr, engine) = start(EngineConfig::default()).await;
    let handshake = http(
        addr,
        &get_request("/socket.io/?EIO=4&transport=polling", ""),
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&body(&handshake)[1..]).unwrap();
    let sid = json["sid"].as_str().unwrap().to_owned();
    let big = "x".repeat(4000);
    let post = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n4{big}",
        big.len() + 1
    );
    assert_eq!(body(&http(addr, &post).await), b"ok");
    let poll = http(
        addr,
        &get_request(
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            "accept-encoding: gzip\r\n",
        ),
    )
    .await;
    assert!(
        head(&poll).contains("content-encoding: gzip"),
        "{}",
        head(&poll)
    );
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body(&poll)), &mut decoded)
        .unwrap();
    assert_eq!(decoded, format!("4{big}"));
    assert!(body(&poll).len() < 200, "4 KB of x compress well");
    assert_eq!(engine.session_count(), 1);
}

#[tokio::test]
async fn cors_with_a_list_answers_only_listed_origins() {
    let cors = Cors::origins(["http://allowed.example"])
        .methods([http::Method::GET, http::Method::POST])
        .credentials(true);
    let (addr, _engine) = start(EngineConfig::default().cors(cors)).await;
    let preflight = http(
        addr,
        "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\nconnection: close\r\norigin: http://allowed.example\r\naccess-control-request-method: POST\r\n\r\n",
    )
    .await;
    let h = head(&preflight);
    assert!(h.starts_with("http/1.1 204"), "{h}");
    assert!(h.contains("access-control-allow-origin: http://allowed.example"));
    assert!(h.contains("access-control-allow-methods: get,post"));
    assert!(h.contains("access-control-allow-credentials: true"));
    let other = http(
        addr,
        &get_request(
            "/socket.io/?EIO=4&transport=polling",
            "origin: http://evil.example\r\n",
        ),
    )
    .await;
    assert!(!head(&other).contains("access-control-allow-origin"));
}
