//! The drain of a rolling deploy over real TCP: the health check turns 503 first, the
//! transports close spread over the drain window, sessions are flushed by the adapter before
//! their transports close, and the close resolves within its bound.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sockgate::core::{Adapter, BoxFuture, PersistedSession};
use sockgate::{RecoveryConfig, Room, Sid, SocketIo, SocketRef};
use support::{close_frame, http, serve_stoppable, Polling, Ws};

/// The health check answers `200 ok`, then `503 draining` from the first moment of the
/// close, while the clients are still served during the drain delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_turns_503_before_any_transport_closes() {
    let io = SocketIo::builder()
        .health_path("/health")
        .drain_delay(Duration::from_millis(400))
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    let (status, body) = http(server.addr, "GET", "/health", b"").await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let mut ws = Ws::connect(server.addr).await;

    let started = Instant::now();
    let closing = tokio::spawn({
        let io = io.clone();
        async move { io.close().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(io.is_draining());
    let (status, body) = http(server.addr, "GET", "/health", b"").await;
    assert_eq!((status, body.as_slice()), (503, &b"draining"[..]));
    let (status, _) = http(
        server.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    )
    .await;
    assert_eq!(status, 503, "handshakes are refused while draining");
    // Still served during the delay: the load balancer is taking the node out meanwhile.
    io.emit("still", &1).unwrap();
    assert_eq!(
        ws.next_text(Duration::from_secs(2)).await.as_deref(),
        Some("42[\"still\",1]")
    );
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1000));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed after the delay, not before ({:?})",
        started.elapsed()
    );
    ws.send_raw(&close_frame(1000)).await;
    closing.await.unwrap();
    // Served again once the close resolved (a process exits then).
    let (status, _) = http(server.addr, "GET", "/health", b"").await;
    assert_eq!(status, 200);
    // Other paths are not the server's.
    let (status, _) = http(server.addr, "GET", "/healthz", b"").await;
    assert_eq!(status, 404);
    server.kill();
}

/// 40 WebSocket clients, a 1 s drain window: their closes are spread over the window instead
/// of arriving together (which is what makes the other nodes' reconnect stampede).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_close_spread_over_the_drain_window() {
    const CLIENTS: usize = 40;
    let io = SocketIo::builder()
        .drain_window(Duration::from_secs(1))
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Ws::connect(server.addr).await);
    }
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for mut ws in clients {
        readers.spawn(async move {
            let code = ws.close_code(Duration::from_secs(10)).await;
            let at = started.elapsed();
            ws.send_raw(&close_frame(1000)).await;
            (code, at)
        });
    }
    io.close().await;
    let took = started.elapsed();
    let mut times = Vec::new();
    while let Some(result) = readers.join_next().await {
        let (code, at) = result.unwrap();
        assert_eq!(code, Some(1000), "a clean close");
        times.push(at);
    }
    times.sort();
    let first = times[0];
    let last = times[CLIENTS - 1];
    let in_first_quarter = times
        .iter()
        .filter(|t| **t < Duration::from_millis(250))
        .count();
    assert!(first < Duration::from_millis(200), "first at {first:?}");
    assert!(
        last >= Duration::from_millis(800),
        "the last closes late in the window: {last:?}"
    );
    assert!(
        in_first_quarter <= CLIENTS / 4 + 6,
        "{in_first_quarter} of {CLIENTS} closed in the first 250 ms: {times:?}"
    );
    assert!(took < Duration::from_secs(3), "close took {took:?}");
}

/// A client that never reads again cannot hold the shutdown: the close resolves within
/// `delay + window + close_timeout` (+ the drop grace) and reports the dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_resolves_within_its_bound_despite_a_stuck_client() {
    let io = SocketIo::builder()
        .drain_delay(Duration::from_millis(100))
        .drain_window(Duration::from_millis(300))
        .close_timeout(Duration::from_millis(400))
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    // Never polls again: its session can only be dropped.
    let _stuck = Polling::connect(server.addr).await;
    let mut fine = Ws::connect(server.addr).await;
    let bound = io.config().drain.bound();
    assert_eq!(bound, Duration::from_millis(1300));

    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let code = fine.close_code(Duration::from_secs(5)).await;
        fine.send_raw(&close_frame(1000)).await;
        code
    });
    let dropped = io.close_with_timeout(io.config().drain.close_timeout).await;
    let took = started.elapsed();
    assert_eq!(dropped, 1, "the stuck poller was dropped");
    assert!(
        took <= bound + Duration::from_millis(200),
        "resolved in {took:?}, bound {bound:?}"
    );
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert_eq!(reader.await.unwrap(), Some(1000));
    assert_eq!(io.engine().session_count(), 0);
    server.kill();
}

/// Sessions that a drain ends are recoverable: the sockets leave with `server shutting down`,
/// the session is persisted, and a client coming back with its pid and offset gets its id and
/// what was broadcast after it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_session_is_recovered_with_what_it_missed() {
    let io = SocketIo::builder()
        .connection_state_recovery(RecoveryConfig::default())
        .drain_window(Duration::from_millis(200))
        .build();
    let reasons: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let seen = seen.clone();
        socket.on_disconnect(move |_s: SocketRef, reason: sockgate::DisconnectReason| {
            seen.lock().push(reason.to_string());
        });
    });
    let server = serve_stoppable(&io);
    let (mut ws, pid) = Ws::connect_with_pid(server.addr).await;
    let id = ws.id.clone();
    io.emit("n", &1).unwrap();
    let first = ws.next_text(Duration::from_secs(5)).await.unwrap();
    let args: serde_json::Value = serde_json::from_str(&first[2..]).unwrap();
    let offset = args[2].as_str().expect("an offset").to_owned();

    let reader = tokio::spawn(async move {
        let code = ws.close_code(Duration::from_secs(5)).await;
        ws.send_raw(&close_frame(1000)).await;
        code
    });
    io.close().await;
    assert_eq!(reader.await.unwrap(), Some(1000));
    assert_eq!(*reasons.lock(), vec!["server shutting down".to_owned()]);

    // Published while the client was away (on a cluster: by another node).
    io.emit("n", &2).unwrap();
    let (mut again, connect) = Ws::recover(server.addr, &pid, &offset).await;
    assert_eq!(connect["sid"], id.as_str(), "recovered: same id");
    let missed = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(missed.starts_with("42[\"n\",2,"), "{missed}");
    server.kill();
}

/// The in-memory adapter with sessions written "in the background", as a Redis adapter
/// writes them: `persist_session` only queues, `flush` stores after 200 ms.
struct BackgroundSessions {
    inner: sockgate::core::InMemoryAdapter,
    pending: Mutex<Vec<PersistedSession>>,
    stored: Arc<Mutex<HashSet<String>>>,
}

impl Adapter for BackgroundSessions {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.inner.add_all(sid, rooms)
    }
    support::delegate_rooms_and_broadcasts_to_inner!();
    fn recovery_enabled(&self) -> bool {
        true
    }
    fn persist_session(&self, session: PersistedSession) {
        self.pending.lock().push(session);
    }
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for session in std::mem::take(&mut *self.pending.lock()) {
                self.stored.lock().insert(session.pid.clone());
                self.inner.persist_session(session);
            }
        })
    }
}

/// No client sees its transport close before the adapter stored its session: with a Redis
/// adapter, the client's reconnect to another node would otherwise find nothing to recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_flushed_before_their_transports_close() {
    let stored: Arc<Mutex<HashSet<String>>> = Arc::default();
    let factory_stored = stored.clone();
    let io = SocketIo::builder()
        .connection_state_recovery(RecoveryConfig::default())
        .drain_window(Duration::from_millis(300))
        .adapter(move |ns| {
            Arc::new(BackgroundSessions {
                inner: sockgate::core::InMemoryAdapter::new(ns, Some(RecoveryConfig::default())),
                pending: Mutex::default(),
                stored: factory_stored.clone(),
            }) as Arc<dyn Adapter>
        })
        .build();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (mut ws, pid) = Ws::connect_with_pid(server.addr).await;
        let stored = stored.clone();
        readers.spawn(async move {
            let code = ws.close_code(Duration::from_secs(5)).await;
            let was_stored = stored.lock().contains(&pid);
            ws.send_raw(&close_frame(1000)).await;
            (code, was_stored)
        });
    }
    io.close().await;
    let mut stored_first = 0;
    while let Some(result) = readers.join_next().await {
        let (code, was_stored) = result.unwrap();
        assert_eq!(code, Some(1000));
        stored_first += usize::from(was_stored);
    }
    assert_eq!(
        stored_first, 10,
        "every session was stored before its close"
    );
    server.kill();
}
