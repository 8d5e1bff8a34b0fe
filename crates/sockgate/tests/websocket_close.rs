//! The WebSocket closing handshake over real TCP.

mod support;

use std::time::Duration;

use sockgate::{SocketIo, SocketRef};
use support::{close_frame, serve, Ws};
use tokio::io::AsyncReadExt;

/// The client's close code comes back in the server's close frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_close_code_is_echoed() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| {});
    let addr = serve(&io).await;
    let mut ws = Ws::connect(addr).await;
    ws.send_raw(&close_frame(4001)).await;
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(4001));
}

/// `disconnect(true)` while the client still has unread frames in flight towards the server:
/// the server used to drop the stream at once, Linux answered the unread input with a reset,
/// and the client lost the `41` and the close frame (it saw 1006 and reconnected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_close_reaches_the_client_despite_unread_input() {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.on("bye", |socket: SocketRef| socket.disconnect_and_close());
    });
    let addr = serve(&io).await;
    for _ in 0..5 {
        let mut ws = Ws::connect(addr).await;
        ws.send_text("42[\"bye\"]").await;
        // Frames the server will not handle any more: they sit unread in its buffer.
        for i in 0..200 {
            ws.send_text(&format!("42[\"late\",{i},\"{}\"]", "z".repeat(512)))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            ws.next_text(Duration::from_secs(5)).await.as_deref(),
            Some("41"),
            "the DISCONNECT packet arrives"
        );
        let code = ws.close_code(Duration::from_secs(5)).await;
        assert_eq!(code, Some(1000), "a clean close frame, not a reset");
        // Answer the close; the server then ends the stream cleanly (EOF, no reset).
        ws.send_raw(&close_frame(1000)).await;
        let mut rest = Vec::new();
        let end = tokio::time::timeout(Duration::from_secs(5), ws.stream.read_to_end(&mut rest))
            .await
            .expect("the server closes after the handshake");
        assert!(end.is_ok(), "clean EOF expected, got {end:?}");
    }
}
