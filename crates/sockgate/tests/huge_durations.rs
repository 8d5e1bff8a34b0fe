//! Issue 8 #15: `Duration::MAX` is a legal "no timeout" setting. It used to panic on
//! `Instant + Duration` at the first handshake (the session machine computed the first ping).

use std::time::Duration;

use sockgate::testing::TestClient;
use sockgate::{Payload, SocketIo, SocketRef};

#[tokio::test]
async fn a_server_with_every_timeout_at_duration_max_serves_clients() {
    let mut config = sockgate::SocketIoConfig::default();
    config.engine.session.ping_interval = Duration::MAX;
    config.engine.session.ping_timeout = Duration::MAX;
    config.engine.session.upgrade_timeout = Duration::MAX;
    config.connect_timeout = Duration::MAX;
    config.pending_attachments_timeout = Duration::MAX;
    let io = SocketIo::builder().config(config).build();
    io.ns("/", |socket: SocketRef| {
        socket.on("echo", |socket: SocketRef, payload: Payload| {
            socket.emit("echo", payload)
        });
    });

    let client = TestClient::connect(&io).await.expect("handshake");
    let socket = client.socket("/", None).await.expect("CONNECT");
    socket.emit("echo", "still alive").unwrap();
    let reply = socket
        .wait_for("echo", Duration::from_secs(2))
        .await
        .expect("echo");
    assert_eq!(reply.args, vec![serde_json::json!("still alive")]);
    // The server closes its side: the close path computes deadlines too.
    client.close();
    io.close_with_timeout(Duration::from_secs(2)).await;
}
