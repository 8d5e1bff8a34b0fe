//! `SocketIoService` routes by the engine's path over real TCP: a path that only shares a
//! prefix with it (`/socket.io-admin`) goes to the application's routes.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use sockgate::{EngineConfig, SocketIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get_body(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or(text)
}

#[tokio::test]
async fn socketio_layer_leaves_prefix_sharing_paths_to_the_app() {
    // The path given without its trailing `/`, through the public field.
    let io = SocketIo::builder_from(sockgate::SocketIoConfig {
        engine: EngineConfig {
            path: "/socket.io".to_owned(),
            ..EngineConfig::default()
        },
        ..sockgate::SocketIoConfig::default()
    })
    .build();
    let app = Router::new()
        .route("/socket.io-admin", get(|| async { "admin" }))
        .route("/socket.iox", get(|| async { "x" }))
        .layer(io.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockgate::engine::serve(listener, app));
    assert_eq!(get_body(addr, "/socket.io-admin").await, "admin");
    assert_eq!(get_body(addr, "/socket.iox").await, "x");
    assert!(get_body(addr, "/socket.io/?EIO=4&transport=polling")
        .await
        .starts_with("0{\"sid\""));
    assert!(!io.matches("/socket.io-admin"));
    assert!(io.matches("/socket.io"));
    assert!(io.matches("/socket.io/anything"));
}

#[tokio::test]
async fn socketio_serve_applies_the_builders_http_options_and_shuts_down() {
    let io = SocketIo::builder()
        .header_read_timeout(Some(Duration::from_millis(300)))
        .idle_timeout(None)
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(io.serve(listener).with_graceful_shutdown(async move {
        let _ = stopped.await;
    }));
    // A half-sent head is closed after the builder's 300 ms, not hyper's default 30 s.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stalled.read_to_end(&mut sink))
        .await
        .expect("the stalled connection was kept open");
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Positive control: complete requests are served, and `io.serve(..).await` still resolves.
    assert!(get_body(addr, "/socket.io/?EIO=4&transport=polling")
        .await
        .starts_with("0{\"sid\""));
    assert_eq!(get_body(addr, "/elsewhere").await, "Not Found");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("serve did not resolve after the signal")
        .unwrap()
        .unwrap();
}
