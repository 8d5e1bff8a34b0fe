//! Each callback fires exactly when it should, with what it should carry: a recording
//! observer against the in-process test client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

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
        r#"received / Event Some("hello") 17 socket=true args=["ann"]"#,
        "room_joined / room",
        r#"data / {"name":"ann"}"#,
        r#"sent / Event Some("back") 16"#,
        // `socket.to("room")` excludes the sender, the only member: no local recipient, so
        // no broadcast is reported.
        r#"sent / Event Some("all") 11"#,
        r#"broadcast / Some("all") 1 11"#,
        "room_left / room",
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
