//! The session callbacks over real TCP and both transports: a polling session that upgrades
//! is opened as polling, upgraded once, and closed as WebSocket; the socket's packets are
//! reported on both sides of the switch.

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sockgate::observe::{
    CloseReason, ObservedNamespace, Observer, PacketEvent, PacketType, SessionEvent,
};
use sockgate::{SocketIo, SocketRef};
use support::{eventually, serve, Polling, Ws};

#[derive(Default)]
struct Sessions(Mutex<Vec<String>>);

impl Observer for Sessions {
    fn session_opened(&self, session: &SessionEvent<'_>) {
        self.0
            .lock()
            .push(format!("opened {}", session.transport.as_str()));
    }
    fn session_upgraded(&self, session: &SessionEvent<'_>) {
        self.0
            .lock()
            .push(format!("upgraded {}", session.transport.as_str()));
    }
    fn session_closed(&self, session: &SessionEvent<'_>, reason: CloseReason) {
        self.0
            .lock()
            .push(format!("closed {} {reason}", session.transport.as_str()));
    }
    fn packet_received(&self, _ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        if packet.kind() == PacketType::Event {
            let transport = packet.socket.map_or("-", |s| s.transport());
            self.0
                .lock()
                .push(format!("event {:?} over {transport}", packet.event()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_is_opened_upgraded_once_and_closed_as_websocket() {
    let sessions = Arc::new(Sessions::default());
    let io = SocketIo::builder().observer_arc(sessions.clone()).build();
    io.ns("/", |_socket: SocketRef| {});
    let addr = serve(&io).await;

    let poller = Polling::connect(addr).await;
    assert_eq!(poller.post(r#"42["before"]"#).await, 200);
    let mut ws = Ws::upgrade(addr, &format!("&sid={}", poller.sid)).await;
    ws.send_text("2probe").await;
    assert_eq!(
        ws.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("3probe")
    );
    loop {
        if poller.get().await.split('\u{1e}').any(|p| p == "6") {
            break;
        }
    }
    ws.send_text("5").await;
    ws.send_text(r#"42["after"]"#).await;
    assert!(
        eventually(Duration::from_secs(5), || sessions.0.lock().len() >= 4).await,
        "{:?}",
        sessions.0.lock()
    );
    ws.send_raw(&support::close_frame(1000)).await;
    assert!(
        eventually(Duration::from_secs(5), || sessions.0.lock().len() >= 5).await,
        "{:?}",
        sessions.0.lock()
    );
    assert_eq!(
        *sessions.0.lock(),
        [
            "opened polling",
            r#"event Some("before") over polling"#,
            "upgraded websocket",
            r#"event Some("after") over websocket"#,
            "closed websocket transport close",
        ]
    );
}

#[derive(Default)]
struct Drops(Mutex<Vec<String>>);

impl Observer for Drops {
    fn dropped(&self, ns: &ObservedNamespace<'_>, drop: &sockgate::observe::DropEvent<'_>) {
        self.0
            .lock()
            .push(format!("{} {}", ns.name(), drop.reason.as_str()));
    }
    fn socket_disconnected(
        &self,
        ns: &ObservedNamespace<'_>,
        _socket: &SocketRef,
        reason: sockgate::DisconnectReason,
    ) {
        self.0.lock().push(format!("{} left: {reason}", ns.name()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_reported_as_a_drop_then_the_client_leaves() {
    let drops = Arc::new(Drops::default());
    let io = SocketIo::builder()
        .observer_arc(drops.clone())
        .max_buffered_bytes(64 << 10)
        .build();
    io.ns("/", |socket: SocketRef| {
        let chunk = "x".repeat(64 << 10);
        // Far more than the kernel's buffers and the queue hold, to a client that never reads.
        for _ in 0..400 {
            if socket.emit("big", &chunk).is_err() {
                break;
            }
        }
    });
    let addr = serve(&io).await;
    // Joins `/` and never reads again (the connection handler's emits fill the queue).
    let mut ws = Ws::open(addr, "").await;
    ws.send_text("40").await;
    assert!(
        eventually(Duration::from_secs(10), || drops
            .0
            .lock()
            .iter()
            .any(|l| l == "/ left: transport error"))
        .await,
        "{:?}",
        drops.0.lock()
    );
    let seen = drops.0.lock().clone();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("/ queue_full"),
        "{seen:?}"
    );
}
