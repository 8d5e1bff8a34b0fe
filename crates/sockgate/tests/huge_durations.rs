//! Issue 8 #15: `Duration::MAX` is a legal "no timeout" setting. It used to panic on
//! `Instant + Duration` at the first handshake (the session machine computed the first ping).

mod support;

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
    let io = SocketIo::builder_from(config).build();
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
    assert_eq!(reply.args(), vec![serde_json::json!("still alive")]);
    // The server closes its side: the close path computes deadlines too.
    client.close();
    io.close_with_timeout(Duration::from_secs(2)).await;
}

/// A write coalescing window and a broadcast ack timeout of `Duration::MAX` used to panic on
/// `Instant + Duration` (at the second broadcast write, and at the broadcast with acks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_coalescing_window_and_ack_timeout_do_not_panic() {
    let io = SocketIo::builder()
        .write_coalescing(Duration::MAX)
        .ack_timeout(Duration::MAX)
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let a = TestClient::connect(&io).await.unwrap();
    let a = a.socket("/", None).await.unwrap();
    let b = TestClient::connect(&io).await.unwrap();
    let b = b.socket("/", None).await.unwrap();
    for i in 0..20 {
        io.emit("n", &i).unwrap();
    }
    for socket in [&a, &b] {
        for _ in 0..20 {
            socket
                .wait_for("n", Duration::from_secs(2))
                .await
                .expect("delivered");
        }
    }
    // Nobody to wait for: resolves at once instead of panicking on the deadline.
    let responses = io
        .to("nobody")
        .emit_with_ack("q", &1)
        .await
        .expect("a broadcast with acks");
    assert_eq!(responses.expected, 0);
}

/// Another node's broadcast with acks carries its timeout on the wire (milliseconds, any
/// size): a namespace asked to wait `Duration::MAX` for its sockets' acks must still forward
/// them. The wait used to compute `Instant::now() + timeout`, which panicked in the spawned
/// waiter, so the answer was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_broadcast_with_acks_waiting_duration_max_still_forwards_the_ack() {
    use std::sync::{Arc, Weak};

    use sockgate::core::{Adapter, BroadcastFlags, InMemoryAdapter, LocalNamespace};

    let captured: Arc<parking_lot::Mutex<Vec<Weak<dyn LocalNamespace>>>> = Default::default();
    let slot = captured.clone();
    let io = SocketIo::builder()
        .adapter(move |ns: Weak<dyn LocalNamespace>| {
            slot.lock().push(ns.clone());
            Arc::new(InMemoryAdapter::new(ns, None)) as Arc<dyn Adapter>
        })
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let sockets = support::record_sockets(&io);
    let addr = support::serve(&io).await;
    let mut ws = support::Ws::connect(addr).await;
    assert!(support::eventually(Duration::from_secs(2), || sockets.lock().len() == 1).await);
    let sid = sockets.lock()[0].id();

    let namespace = captured
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .find(|ns| ns.name() == "/")
        .expect("the namespace");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let on_ack: sockgate::core::AckCallback = Arc::new(move |args| {
        let _ = tx.send(args);
    });
    let packet = sockgate_proto::socketio::Packet::event_named("/", "q", [serde_json::json!(1)]);
    let expected = namespace.deliver_with_ack(
        &[sid],
        &packet,
        &BroadcastFlags::default(),
        Duration::MAX,
        on_ack,
    );
    assert_eq!(expected, 1);

    let event = ws
        .next_text(Duration::from_secs(2))
        .await
        .expect("the event");
    let id: String = event[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(event.starts_with("42") && !id.is_empty(), "{event}");
    ws.send_text(&format!("43{id}[\"ok\"]")).await;
    let args = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("the ack forwarded")
        .expect("the ack forwarded");
    assert_eq!(args, vec![serde_json::json!("ok")]);
}
