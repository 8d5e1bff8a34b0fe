//! The documented spans and targets, as a subscriber sees them: `session` (target
//! `sockgate_engine::session`), `socket` (`sockgate::socket`) and `event` (`sockgate::event`),
//! nested in that order, with their ids as fields, also for the part of an async handler that
//! runs after it waited. One test in its own binary: it installs the global subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockgate::extract::Data;
use sockgate::testing::TestClient;
use sockgate::{SocketIo, SocketRef};

/// What the fmt subscriber writes, kept for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn handlers_run_in_event_socket_and_session_spans_with_their_ids() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("sockgate=debug,sockgate_engine=debug,app=info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let io = SocketIo::new();
    io.ns("/room", |socket: SocketRef| {
        socket.on("now", |Data(n): Data<u32>| {
            tracing::info!(target: "app", n, "sync handler");
        });
        socket.on("later", |socket: SocketRef| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tracing::info!(target: "app", "async handler after its wait");
            socket.emit("done", ()).unwrap();
        });
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/room", None).await.unwrap();
    socket.emit("now", &7).unwrap();
    socket.emit("later", ()).unwrap();
    socket
        .wait_for("done", Duration::from_secs(2))
        .await
        .unwrap();
    socket.disconnect().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let text = captured.text();
    let line = |needle: &str| -> String {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .to_owned()
    };
    let sid = socket.id().to_string();
    for (needle, event) in [
        ("sync handler", "now"),
        ("async handler after its wait", "later"),
    ] {
        let line = line(needle);
        // session{..}:socket{..}:event{..}: the message
        let session = line.find("session{").expect(&line);
        let socket_span = line
            .find(&format!("socket{{ns=\"/room\" sid={sid} session="))
            .expect(&line);
        let event_span = line
            .find(&format!("event{{ns=\"/room\" sid={sid} event={event}"))
            .expect(&line);
        assert!(session < socket_span && socket_span < event_span, "{line}");
        let session_fields = &line[session..socket_span];
        assert!(session_fields.contains("transport=\"websocket\""), "{line}");
        assert!(session_fields.contains(" sid="), "{line}");
    }
    assert!(line("socket connected").contains("socket{"));
    assert!(line("socket disconnected").contains("reason=client namespace disconnect"));
    assert!(line("session opened").contains("sockgate_engine::session"));
}
