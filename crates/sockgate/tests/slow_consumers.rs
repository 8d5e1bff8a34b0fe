//! Slow and stalled clients over real TCP: a client that stops reading is dropped with a
//! reason, and nobody else notices.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sockgate::{DisconnectReason, SocketIo, SocketRef};
use sockgate_engine::EngineConfig;
use support::{eventually, serve, Polling, Ws};

type Reasons = Arc<Mutex<Vec<(String, DisconnectReason)>>>;

/// A server with these engine options whose `/` records every disconnect reason.
fn server(engine: EngineConfig) -> (SocketIo, Reasons) {
    let io = SocketIo::builder_from(sockgate::SocketIoConfig {
        engine,
        ..Default::default()
    })
    .build();
    let reasons: Reasons = Arc::default();
    let seen = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let seen = seen.clone();
        socket.on_disconnect(move |socket, reason| {
            seen.lock().push((socket.id().to_string(), reason));
        });
    });
    (io, reasons)
}

/// A polling client that stops polling while 64 KiB broadcasts pile up used to deadlock the
/// namespace: its overflow closed it from inside the fan-out, under the namespace's socket lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_overflowing_a_stalled_poller_drops_it_and_nobody_else() {
    let _serial = support::serial().await;
    let (io, reasons) = server(EngineConfig::default().max_buffered_bytes(256 << 10));
    let addr = serve(&io).await;
    let stalled = Polling::connect(addr).await;
    let mut reader = Ws::connect(addr).await;
    let big = "x".repeat(64 << 10);

    let mut overflowed_at = None;
    for i in 0..16 {
        let io = io.clone();
        let big = big.clone();
        // On a thread of its own: a deadlocked emit must fail the test, not hang the runtime.
        let (done, emitted) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || done.send(io.emit("big", (i, big))));
        tokio::time::timeout(Duration::from_secs(5), emitted)
            .await
            .expect("a broadcast must never block (namespace deadlock)")
            .unwrap()
            .unwrap();
        let got = reader
            .next_text(Duration::from_secs(5))
            .await
            .expect("the reading client gets every broadcast");
        assert!(
            got.starts_with(&format!("42[\"big\",{i},")),
            "{}",
            &got[..20]
        );
        if overflowed_at.is_none() && reasons.lock().iter().any(|(id, _)| *id != reader.id) {
            overflowed_at = Some(Instant::now());
        }
    }
    // Dropped with a reason, within 1 s of passing the queue limit.
    assert!(
        eventually(Duration::from_secs(1), || reasons.lock().len() == 1).await,
        "the stalled poller was not dropped"
    );
    let (id, reason) = reasons.lock()[0].clone();
    assert_ne!(id, reader.id);
    assert_eq!(reason, DisconnectReason::TransportError);
    assert_eq!(io.engine().session_count(), 1, "only the reader is left");
    drop(stalled);

    // The namespace and the server still work: a new client connects and gets broadcasts.
    let mut late = tokio::time::timeout(Duration::from_secs(5), Ws::connect(addr))
        .await
        .expect("new clients connect");
    io.emit("after", "ok").unwrap();
    assert_eq!(
        late.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("42[\"after\",\"ok\"]")
    );
}

/// A WebSocket client that stops reading: once the kernel buffers are full the server's write
/// waits. It used to wait outside any deadline, keeping the dead session's task and socket
/// forever; now the write deadline drops it and the server closes its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_reader_that_stops_reading_is_dropped_at_the_write_deadline() {
    let (io, reasons) = server(
        EngineConfig::default()
            .max_buffered_bytes(256 << 20)
            .websocket_write_timeout(Duration::from_millis(500)),
    );
    let _serial = support::serial().await;
    let addr = serve(&io).await;
    let baseline = support::stable_sockets().await;
    let stalled = Ws::connect(addr).await; // never reads again
    assert_eq!(
        support::open_sockets(),
        baseline + 2,
        "client and server ends"
    );
    let chunk = "y".repeat(1 << 20);
    for _ in 0..64 {
        io.emit("fill", &chunk).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || reasons.lock().len() == 1).await,
        "the stalled reader was not dropped"
    );
    assert_eq!(reasons.lock()[0].1, DisconnectReason::TransportError);
    assert!(
        eventually(Duration::from_secs(5), || support::open_sockets()
            == baseline + 1)
        .await,
        "the server still holds the stalled socket ({} open, baseline {baseline})",
        support::open_sockets()
    );
    assert!(
        eventually(Duration::from_secs(1), || io.engine().session_count() == 0).await,
        "session released"
    );
    drop(stalled);
}

/// The same client, with the session aborted by its ping timeout while a write waits: the
/// write stops at once instead of pushing more into a dead session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stops_when_the_session_is_aborted() {
    let io = SocketIo::builder()
        .max_buffered_bytes(256 << 20)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(300))
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let _serial = support::serial().await;
    let addr = serve(&io).await;
    let baseline = support::stable_sockets().await;
    let stalled = Ws::connect(addr).await;
    let chunk = "y".repeat(1 << 20);
    for _ in 0..64 {
        io.emit("fill", &chunk).unwrap();
    }
    // The pongs cannot be read while the write waits, so the session dies at its ping timeout
    // (~600 ms), far before the default 20 s write deadline.
    assert!(
        eventually(Duration::from_secs(3), || support::open_sockets()
            == baseline + 1)
        .await,
        "the server still holds the socket of an aborted session"
    );
    assert_eq!(io.engine().session_count(), 0);
    drop(stalled);
}
