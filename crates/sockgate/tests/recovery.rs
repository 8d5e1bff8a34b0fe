//! Connection state recovery over real TCP.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sockgate::{RecoveryConfig, SocketIo};
use support::{eventually, record_sockets, serve, SlowJoin, Ws};

/// With recovery on, a per-socket `emit` carries an offset and is kept for replay, as in Node
/// (it goes through the adapter). It used to be sent directly: a client whose last packets were
/// per-socket emits reconnected without an offset to resume from, and lost them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_socket_emits_are_replayed_after_a_transport_drop() {
    let io = SocketIo::builder()
        .connection_state_recovery(RecoveryConfig::default())
        .build();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;

    let (mut ws, pid) = Ws::connect_with_pid(addr).await;
    let id = ws.id.clone();
    let socket = sockets.lock()[0].clone();

    socket.emit("n", &1).unwrap();
    let first = ws.next_text(Duration::from_secs(5)).await.unwrap();
    let args: serde_json::Value = serde_json::from_str(&first[2..]).unwrap();
    assert_eq!(args[1], 1);
    let offset = args[2]
        .as_str()
        .expect("the emit carries an offset")
        .to_owned();

    // Two more that the client never reads: the connection is then reset under them.
    socket.emit("n", &2).unwrap();
    socket.emit("n", &3).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A reset (linger 0) so the unread packets are lost, as when a network drops.
    #[allow(deprecated)]
    ws.stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(ws);
    assert!(eventually(Duration::from_secs(5), || !socket.connected()).await);

    let (mut again, connect) = Ws::recover(addr, &pid, &offset).await;
    assert_eq!(connect["sid"], id.as_str(), "recovered: same id");
    for n in [2, 3] {
        let missed = again.next_text(Duration::from_secs(5)).await.unwrap();
        let args: serde_json::Value = serde_json::from_str(&missed[2..]).unwrap();
        assert_eq!(args[1], n, "{missed}");
    }
    let recovered = sockets.lock()[1].clone();
    assert!(recovered.recovered());
    // Positive control for "nothing else": a new emit comes next.
    recovered.emit("n", &4).unwrap();
    let next = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(next.starts_with("42[\"n\",4,"), "{next}");
}

/// A broadcast published after the recovery read the buffer but before the recovered socket
/// was registered reached neither the replay nor the socket (Node has the same race; the
/// jitter suite saw 1 of 300 lost). Now the buffer is read again once the socket is
/// registered, live packets wait for the replay, and duplicates are dropped by offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_during_the_recovery_is_neither_lost_nor_doubled() {
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recovery = RecoveryConfig::default();
    let io = SocketIo::builder()
        .connection_state_recovery(recovery)
        .adapter(SlowJoin::factory(armed.clone(), Some(recovery)))
        .build();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;

    let (mut ws, pid) = Ws::connect_with_pid(addr).await;
    io.emit("n", &1).unwrap();
    let first = ws.next_text(Duration::from_secs(5)).await.unwrap();
    let args: serde_json::Value = serde_json::from_str(&first[2..]).unwrap();
    let offset = args[2].as_str().unwrap().to_owned();
    let old = sockets.lock()[0].clone();
    drop(ws);
    assert!(eventually(Duration::from_secs(5), || !old.connected()).await);

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut again = Ws::open(addr, "").await;
    again
        .send_text(&format!("40{{\"pid\":\"{pid}\",\"offset\":\"{offset}\"}}"))
        .await;
    // Inside the window: restore_session has run, the registration is held up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    io.emit("n", &2).unwrap();
    let answer = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("40{"), "{answer}");
    let missed = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(
        missed.starts_with("42[\"n\",2,"),
        "the broadcast of the window: {missed}"
    );
    // Nothing twice: the next packet is a new one.
    io.emit("n", &3).unwrap();
    let next = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(next.starts_with("42[\"n\",3,"), "{next}");
}

/// What the server tells a cluster adapter about sessions, recorded.
#[derive(Default)]
struct SessionLog {
    tracked: Vec<sockgate::core::PersistedSession>,
    persisted: Vec<String>,
    forgotten: Vec<String>,
}

struct Tracking {
    inner: sockgate::core::InMemoryAdapter,
    log: Arc<parking_lot::Mutex<SessionLog>>,
}

mod tracking_impl {
    use super::*;
    use sockgate::core::{Adapter, PersistedSession};
    use sockgate::{Room, Sid};

    impl Adapter for Tracking {
        fn add_all(&self, sid: Sid, rooms: &[Room]) {
            self.inner.add_all(sid, rooms)
        }
        support::delegate_rooms_and_broadcasts_to_inner!();
        fn recovery_enabled(&self) -> bool {
            true
        }
        fn persist_session(&self, session: PersistedSession) {
            self.log.lock().persisted.push(session.pid.clone());
            self.inner.persist_session(session)
        }
        fn track_session(&self, session: PersistedSession) {
            self.log.lock().tracked.push(session);
        }
        fn forget_session(&self, _sid: Sid, pid: &str) {
            self.log.lock().forgotten.push(pid.to_owned());
        }
    }
}

/// A cluster adapter saves sessions before any disconnect (so they survive a killed node):
/// the server tells it the session at connect and when `data` changes, and tells it to forget
/// the session when the socket leaves for a reason that allows no recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_hears_of_sessions_at_connect_on_data_changes_and_when_they_end() {
    let log = Arc::new(parking_lot::Mutex::new(SessionLog::default()));
    let recovery = RecoveryConfig::default();
    let factory_log = log.clone();
    let io = SocketIo::builder()
        .connection_state_recovery(recovery)
        .adapter(move |ns| {
            Arc::new(Tracking {
                inner: sockgate::core::InMemoryAdapter::new(ns, Some(recovery)),
                log: factory_log.clone(),
            }) as Arc<dyn sockgate::core::Adapter>
        })
        .build();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;

    let (mut ws, pid) = Ws::connect_with_pid(addr).await;
    assert!(eventually(Duration::from_secs(5), || log.lock().tracked.len() == 1).await);
    let first = log.lock().tracked[0].clone();
    assert_eq!(
        (first.sid.as_str(), first.pid.as_str()),
        (ws.id.as_str(), pid.as_str())
    );
    assert!(first.rooms.iter().any(|r| &**r == ws.id.as_str()));

    let socket = sockets.lock()[0].clone();
    socket
        .set_data(&serde_json::json!({"user": "ann"}))
        .unwrap();
    assert_eq!(log.lock().tracked.len(), 2);
    assert_eq!(
        log.lock().tracked[1].data,
        serde_json::json!({"user": "ann"})
    );

    // The client leaves the namespace: no recovery possible, so the session is forgotten.
    ws.send_text("41").await;
    assert!(
        eventually(Duration::from_secs(5), || log.lock().forgotten
            == [pid.clone()])
        .await
    );
    assert!(log.lock().persisted.is_empty());

    // A dropped transport keeps it recoverable instead.
    let (ws2, pid2) = Ws::connect_with_pid(addr).await;
    drop(ws2);
    assert!(
        eventually(Duration::from_secs(5), || log.lock().persisted
            == [pid2.clone()])
        .await
    );
    assert_eq!(log.lock().forgotten, [pid]);
}

/// An adapter whose live path lags its replay, as a cluster node's stream reader lags the
/// range read a recovery replays from: 50 ms after a restore, it delivers the newest
/// replayed packet to the recovered socket once more, live.
struct LaggingReader {
    inner: sockgate::core::InMemoryAdapter,
    namespace: std::sync::Weak<dyn sockgate::core::LocalNamespace>,
}

mod lagging_impl {
    use super::*;
    use sockgate::core::{Adapter, BoxFuture, PersistedSession};
    use sockgate::{Room, Sid};
    use sockgate_proto::socketio::Packet;

    impl Adapter for LaggingReader {
        fn add_all(&self, sid: Sid, rooms: &[Room]) {
            self.inner.add_all(sid, rooms)
        }
        support::delegate_rooms_and_broadcasts_to_inner!();
        fn recovery_enabled(&self) -> bool {
            true
        }
        fn persist_session(&self, session: PersistedSession) {
            self.inner.persist_session(session)
        }
        fn restore_session(
            &self,
            pid: &str,
            offset: &str,
        ) -> BoxFuture<'_, Option<(PersistedSession, Vec<Packet>)>> {
            let restore = self.inner.restore_session(pid, offset);
            Box::pin(async move {
                let (session, missed) = restore.await?;
                if let Some(newest) = missed.last().cloned() {
                    let namespace = self.namespace.clone();
                    let sid = session.sid;
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if let Some(namespace) = namespace.upgrade() {
                            namespace.deliver(&[sid], &newest, &Default::default());
                        }
                    });
                }
                Some((session, missed))
            })
        }
        fn packets_after(
            &self,
            offset: &str,
            rooms: &[Room],
        ) -> BoxFuture<'_, Option<Vec<Packet>>> {
            self.inner.packets_after(offset, rooms)
        }
    }
}

/// A live copy of a replayed packet that arrives after the replay ended is dropped by its
/// offset. It used to be sent again: the rolling-deploy harness saw 1–8 duplicates per run,
/// always the newest entry, replayed from XRANGE and then delivered by the lagging XREAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_live_copy_of_a_replayed_packet_is_dropped() {
    let recovery = RecoveryConfig::default();
    let io = SocketIo::builder()
        .connection_state_recovery(recovery)
        .adapter(move |ns| {
            Arc::new(LaggingReader {
                inner: sockgate::core::InMemoryAdapter::new(ns.clone(), Some(recovery)),
                namespace: ns,
            }) as Arc<dyn sockgate::core::Adapter>
        })
        .build();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;

    let (mut ws, pid) = Ws::connect_with_pid(addr).await;
    io.emit("n", &1).unwrap();
    let first = ws.next_text(Duration::from_secs(5)).await.unwrap();
    let args: serde_json::Value = serde_json::from_str(&first[2..]).unwrap();
    let offset = args[2].as_str().unwrap().to_owned();
    let old = sockets.lock()[0].clone();
    #[allow(deprecated)]
    ws.stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(ws);
    assert!(eventually(Duration::from_secs(5), || !old.connected()).await);
    io.emit("n", &2).unwrap();

    let mut again = Ws::open(addr, "").await;
    again
        .send_text(&format!("40{{\"pid\":\"{pid}\",\"offset\":\"{offset}\"}}"))
        .await;
    let answer = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("40{"), "{answer}");
    let missed = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(missed.starts_with("42[\"n\",2,"), "the replay: {missed}");
    // The lagging copy of 2 lands 50 ms after the restore; 3 is sent after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    io.emit("n", &3).unwrap();
    let next = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(
        next.starts_with("42[\"n\",3,"),
        "2 only once, then 3: {next}"
    );
}

/// An in-memory adapter whose tracked sessions are restorable while their socket is still
/// connected, as the Redis streams adapter's saved sessions are.
struct LiveSessions {
    inner: sockgate::core::InMemoryAdapter,
}

mod live_sessions_impl {
    use super::*;
    use sockgate::core::{Adapter, PersistedSession};
    use sockgate::{Room, Sid};

    impl Adapter for LiveSessions {
        fn add_all(&self, sid: Sid, rooms: &[Room]) {
            self.inner.add_all(sid, rooms)
        }
        support::delegate_rooms_and_broadcasts_to_inner!();
        support::delegate_sessions_to_inner!();
        fn recovery_enabled(&self) -> bool {
            true
        }
        fn track_session(&self, session: PersistedSession) {
            self.inner.persist_session(session)
        }
    }
}

/// A client whose connection dropped silently recovers on the same node before the server
/// noticed: for a while two sockets have one id. The stale one's later close used to remove
/// the recovered socket from the namespace and its rooms (by id), so it stopped receiving.
/// Now the recovery closes the stale socket first, and a close only removes its own socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_over_a_stale_socket_of_the_same_id_keeps_the_new_socket() {
    let recovery = RecoveryConfig::default();
    let io = SocketIo::builder()
        .connection_state_recovery(recovery)
        .adapter(move |ns| {
            Arc::new(LiveSessions {
                inner: sockgate::core::InMemoryAdapter::new(ns, Some(recovery)),
            }) as Arc<dyn sockgate::core::Adapter>
        })
        .build();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;

    let (mut stale_ws, pid) = Ws::connect_with_pid(addr).await;
    let id = stale_ws.id.clone();
    let stale = sockets.lock()[0].clone();
    stale.join("room");
    // A data change tracks the session, with its room.
    stale.set_data(&serde_json::json!({"user": "ann"})).unwrap();
    io.emit("n", &1).unwrap();
    let first = stale_ws.next_text(Duration::from_secs(5)).await.unwrap();
    let args: serde_json::Value = serde_json::from_str(&first[2..]).unwrap();
    let offset = args[2].as_str().unwrap().to_owned();

    // The same client on a new connection, while the old one still looks alive.
    let (mut again, connect) = Ws::recover(addr, &pid, &offset).await;
    assert_eq!(connect["sid"], id.as_str(), "recovered: same id");
    assert!(eventually(Duration::from_secs(5), || sockets.lock().len() == 2).await);
    let recovered = sockets.lock()[1].clone();
    assert!(recovered.recovered());
    assert!(
        !stale.connected(),
        "the recovery took the stale socket's place"
    );

    // The server now notices the old connection's end.
    drop(stale_ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(recovered.connected());
    assert!(
        recovered.rooms().iter().any(|r| &**r == "room"),
        "the recovered socket keeps its room: {:?}",
        recovered.rooms()
    );
    io.to("room").emit("r", &2).unwrap();
    let delivered = again.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(delivered.starts_with("42[\"r\",2"), "{delivered}");
    let listed = io.of("/").unwrap().sockets();
    assert_eq!(listed.len(), 1, "one socket in the namespace");
    assert_eq!(listed[0].id().as_str(), id.as_str());
    assert!(listed[0].recovered(), "and it is the recovered one");
}
