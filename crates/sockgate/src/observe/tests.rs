//! Each callback fires exactly when it should, with what it should carry: a recording
//! observer against the in-process test client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::*;
use crate::extract::Data;
use crate::testing::TestClient;
use crate::{SocketIo, SocketRef};

/// Every callback as one line, in order.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
    /// How often a namespace's cached value was made.
    inits: AtomicUsize,
}

impl Recorder {
    fn push(&self, line: String) {
        self.lines.lock().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().clone()
    }

    /// Waits (bounded) until a line equal to `line` was recorded.
    async fn wait_for(&self, line: &str) {
        for _ in 0..200 {
            if self.lines.lock().iter().any(|l| l == line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never recorded {line:?}; got {:#?}", self.lines());
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

struct PerNamespace(String);

impl Observer for Recorder {
    fn session_opened(&self, session: &SessionEvent<'_>) {
        self.push(format!("session_opened {}", session.transport.as_str()));
    }
    fn session_upgraded(&self, session: &SessionEvent<'_>) {
        self.push(format!("session_upgraded {}", session.transport.as_str()));
    }
    fn session_closed(&self, session: &SessionEvent<'_>, reason: CloseReason) {
        self.push(format!(
            "session_closed {} {}",
            session.transport.as_str(),
            reason.as_str()
        ));
    }
    fn socket_connected(&self, ns: &ObservedNamespace<'_>, socket: &SocketRef) {
        self.push(format!(
            "socket_connected {} rooms={}",
            ns.name(),
            socket.rooms().len()
        ));
    }
    fn socket_disconnected(
        &self,
        ns: &ObservedNamespace<'_>,
        _socket: &SocketRef,
        reason: DisconnectReason,
    ) {
        self.push(format!("socket_disconnected {} {}", ns.name(), reason));
    }
    fn packet_received(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        let cached = ns.cached(|name| {
            self.inits.fetch_add(1, Ordering::Relaxed);
            PerNamespace(name.to_owned())
        });
        assert_eq!(cached.map(|c| c.0.as_str()), Some(ns.name()));
        self.push(format!(
            "received {} {:?} {:?} {} socket={} args={}",
            ns.name(),
            packet.kind(),
            packet.event(),
            packet.bytes,
            packet.socket.is_some(),
            json!(packet.args()),
        ));
    }
    fn packet_sent(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        self.push(format!(
            "sent {} {:?} {:?} {}",
            ns.name(),
            packet.kind(),
            packet.event(),
            packet.bytes
        ));
    }
    fn room_joined(&self, ns: &ObservedNamespace<'_>, _socket: &Socket, room: &str) {
        self.push(format!("room_joined {} {room}", ns.name()));
    }
    fn room_left(&self, ns: &ObservedNamespace<'_>, _socket: &Socket, room: &str) {
        self.push(format!("room_left {} {room}", ns.name()));
    }
    fn socket_data_changed(&self, ns: &ObservedNamespace<'_>, socket: &Socket) {
        self.push(format!("data {} {}", ns.name(), socket.data_value()));
    }
    fn broadcast(&self, ns: &ObservedNamespace<'_>, broadcast: &BroadcastEvent<'_>) {
        self.push(format!(
            "broadcast {} {:?} {} {}",
            ns.name(),
            broadcast.event,
            broadcast.recipients,
            broadcast.bytes
        ));
    }
    fn frames_written(&self, frames: usize) {
        self.push(format!("frames_written {frames}"));
    }
    fn dropped(&self, ns: &ObservedNamespace<'_>, drop: &DropEvent<'_>) {
        self.push(format!("dropped {} {}", ns.name(), drop.reason.as_str()));
    }
    fn ack_timed_out(&self, ns: &ObservedNamespace<'_>, socket: Option<&Socket>) {
        self.push(format!("ack_timed_out {} {}", ns.name(), socket.is_some()));
    }
    fn recovery(&self, ns: &ObservedNamespace<'_>, succeeded: bool) {
        self.push(format!("recovery {} {succeeded}", ns.name()));
    }
    fn handler_failed(&self, ns: &ObservedNamespace<'_>, failure: &HandlerFailure<'_>) {
        self.push(format!(
            "handler_failed {} {} {}",
            ns.name(),
            failure.event,
            failure.kind.as_str()
        ));
    }
    fn handler_finished(&self, ns: &ObservedNamespace<'_>, event: &str, duration: Duration) {
        // Only the "slow" handler's duration is asserted: it sleeps 30 ms.
        let slow = if event == "slow" {
            format!(" slow={}", duration >= Duration::from_millis(30))
        } else {
            String::new()
        };
        self.push(format!("handler_finished {} {event}{slow}", ns.name()));
    }
    fn adapter_request(&self, ns: &ObservedNamespace<'_>, request: &AdapterRequestEvent) {
        self.push(format!(
            "adapter_request {} {} {}",
            ns.name(),
            request.kind,
            request.ok
        ));
    }
}

fn server(recorder: &Arc<Recorder>) -> SocketIo {
    let io = SocketIo::builder().observer_arc(recorder.clone()).build();
    io.ns("/", |socket: SocketRef| {
        socket.on("hello", |socket: SocketRef, Data(name): Data<String>| {
            socket.join("room");
            socket.set_data(&json!({ "name": name })).unwrap();
            socket.emit("back", &name).unwrap();
            socket.to("room").emit("nobody", &1).unwrap();
            socket.namespace().to("room").emit("all", &2).unwrap();
            socket.leave("room");
        });
    });
    io
}

#[tokio::test]
async fn a_session_of_one_socket_calls_each_callback_once_in_order() {
    let recorder = Arc::new(Recorder::default());
    let io = server(&recorder);
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("hello", "ann").unwrap();
    socket
        .wait_for("all", Duration::from_secs(2))
        .await
        .unwrap();
    socket.disconnect().unwrap();
    recorder
        .wait_for("socket_disconnected / client namespace disconnect")
        .await;
    client.close();
    recorder
        .wait_for("session_closed websocket transport close")
        .await;

    // `42["hello","ann"]` is 17 bytes; the server's packets are measured the same way.
    let expected = [
        "session_opened websocket",
        "received / Connect None 2 socket=false args=[]",
        "socket_connected / rooms=1",
        r#"sent / Connect None 32"#,
        "handler_finished / connection",
        r#"received / Event Some("hello") 17 socket=true args=["ann"]"#,
        "room_joined / room",
        r#"data / {"name":"ann"}"#,
        r#"sent / Event Some("back") 16"#,
        // `socket.to("room")` excludes the sender, the only member: no local recipient, so
        // no broadcast is reported.
        r#"sent / Event Some("all") 11"#,
        r#"broadcast / Some("all") 1 11"#,
        "room_left / room",
        "handler_finished / hello",
        "received / Disconnect None 2 socket=true args=[]",
        "socket_disconnected / client namespace disconnect",
        "session_closed websocket transport close",
    ];
    let recorded: Vec<String> = recorder
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("frames_written"))
        .collect();
    assert_eq!(recorded, expected);
    // Every write carried at least one frame, and together they carried the three packets
    // sent (the Engine.IO open packet goes out with the 101, not through the queue).
    let written: usize = recorder
        .lines()
        .iter()
        .filter_map(|l| l.strip_prefix("frames_written "))
        .map(|n| n.parse::<usize>().unwrap())
        .inspect(|n| assert!(*n >= 1))
        .sum();
    assert_eq!(written, 3);
    // The namespace's slot was filled once, for all three received packets.
    assert_eq!(recorder.inits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn every_observer_is_called_and_each_has_its_own_slot() {
    let first = Arc::new(Recorder::default());
    let second = Arc::new(Recorder::default());
    let io = SocketIo::builder()
        .observer_arc(first.clone())
        .observer_arc(second.clone())
        .build();
    io.ns("/", || {});
    io.ns("/other", || {});
    let client = TestClient::connect(&io).await.unwrap();
    let main = client.socket("/", None).await.unwrap();
    let other = client.socket("/other", None).await.unwrap();
    for _ in 0..5 {
        main.emit("x", &1).unwrap();
        other.emit("y", &2).unwrap();
    }
    for recorder in [&first, &second] {
        recorder
            .wait_for(r#"received /other Event Some("y") 16 socket=true args=[2]"#)
            .await;
        for _ in 0..100 {
            if recorder.count("received /other Event") == 5
                && recorder.count("received / Event") == 5
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(recorder.count("received / Event"), 5);
        assert_eq!(recorder.count("received /other Event"), 5);
        // One value per namespace, per observer.
        assert_eq!(recorder.inits.load(Ordering::Relaxed), 2);
        assert_eq!(recorder.count("socket_connected"), 2);
    }
}

#[tokio::test]
async fn a_volatile_emit_to_a_busy_transport_is_reported_as_dropped() {
    let recorder = Arc::new(Recorder::default());
    let io = SocketIo::builder().observer_arc(recorder.clone()).build();
    io.ns("/", |socket: SocketRef| {
        socket.on("burst", |socket: SocketRef| {
            // The first emit makes the transport busy until the driver writes it.
            for i in 0..50 {
                socket.emit_volatile("v", &i).unwrap();
            }
        });
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("burst", ()).unwrap();
    socket.wait_for("v", Duration::from_secs(2)).await.unwrap();
    let sent = recorder.count(r#"sent / Event Some("v")"#);
    let dropped = recorder.count("dropped / volatile");
    assert_eq!(sent + dropped, 50, "{:#?}", recorder.lines());
    assert!(sent >= 1);
}

#[test]
fn a_slot_holding_another_type_gives_none_without_calling_init() {
    let slot = OnceLock::new();
    let ns = ObservedNamespace {
        name: "/",
        slot: &slot,
    };
    assert_eq!(ns.cached(|_| 7u32), Some(&7));
    assert_eq!(ns.cached(|_| 8u32), Some(&7));
    assert_eq!(ns.cached::<String>(|_| unreachable!()), None);
}

#[tokio::test]
async fn handlers_acks_recovery_operators_and_adapter_requests_are_reported() {
    let recorder = Arc::new(Recorder::default());
    let io = SocketIo::builder()
        .observer_arc(recorder.clone())
        .connection_state_recovery(crate::RecoveryConfig::default())
        .build();
    io.ns("/", |socket: SocketRef| {
        socket.on("number", |Data(_n): Data<u32>| {});
        socket.on("boom", || -> () { panic!("boom") });
        socket.on("fails", || -> crate::handler::HandlerResult {
            Err("no".into())
        });
        socket.on("slow", || async {
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        socket.on("unanswered", |socket: SocketRef| async move {
            let answer = socket
                .timeout(Duration::from_millis(20))
                .emit_with_ack::<Value, _>("question", ())
                .await;
            assert!(matches!(answer, Err(crate::AckError::Timeout)));
            let all = socket
                .namespace()
                .broadcast()
                .timeout(Duration::from_millis(20))
                .emit_with_ack("question", ())
                .await
                .unwrap();
            assert_eq!(all.missing.len(), 1);
            socket.namespace().broadcast().sockets_join("club");
            socket.namespace().broadcast().sockets_leave("club");
            let fetched = socket.namespace().broadcast().fetch_sockets().await;
            assert_eq!(fetched.len(), 1);
            assert_eq!(socket.namespace().server_count().await, 1);
            socket.emit("done", ()).unwrap();
        });
    });
    let client = TestClient::connect(&io).await.unwrap();
    // An unknown session: the recovery fails and the socket connects anew.
    let socket = client
        .socket("/", Some(json!({ "pid": "nope", "offset": "nope" })))
        .await
        .unwrap();
    for event in ["number", "boom", "fails", "slow"] {
        socket.emit(event, "text").unwrap();
    }
    socket.emit("unanswered", ()).unwrap();
    socket
        .wait_for("done", Duration::from_secs(2))
        .await
        .unwrap();
    recorder.wait_for("handler_finished / slow slow=true").await;
    recorder.wait_for("handler_finished / unanswered").await;

    let interesting = |l: &String| {
        ["recovery", "handler_", "ack_", "adapter_", "room_"]
            .iter()
            .any(|p| l.starts_with(p))
    };
    let mut recorded: Vec<String> = recorder.lines().into_iter().filter(interesting).collect();
    // The slow handler ends while the others run: compare it apart.
    let slow = recorded
        .iter()
        .position(|l| l == "handler_finished / slow slow=true")
        .unwrap();
    recorded.remove(slow);
    let expected = [
        "recovery / false",
        "handler_finished / connection",
        // The extractor refused a string for a `u32`: the handler was not called.
        "handler_failed / number rejected",
        "handler_failed / boom panicked",
        "handler_finished / boom",
        "handler_failed / fails errored",
        "handler_finished / fails",
        "ack_timed_out / true",
        "adapter_request / broadcast_with_ack true",
        "ack_timed_out / false",
        "room_joined / club",
        "room_left / club",
        "adapter_request / fetch_sockets true",
        "adapter_request / server_count true",
        "handler_finished / unanswered",
    ];
    assert_eq!(recorded, expected);
}
