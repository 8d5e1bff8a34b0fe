//! `io.close()` over real TCP: it resolves once every queue is delivered and every transport
//! closed.

mod support;

use std::time::{Duration, Instant};

use sockgate::{SocketIo, SocketRef};
use support::{close_frame, http, serve_stoppable, Polling, Ws};

/// 150 WebSocket and 50 polling clients, a 200 KB broadcast queued, then `close()`: it used to
/// return at once and drop the sessions from the table before their queues were written (a
/// server exiting at 0 sessions delivered to 162 of 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_a_queued_broadcast_to_200_websocket_clients() {
    shutdown_with_a_queued_broadcast(200, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_a_queued_broadcast_to_websocket_and_polling_clients() {
    shutdown_with_a_queued_broadcast(150, 50).await;
}

async fn shutdown_with_a_queued_broadcast(websockets: usize, pollers: usize) {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    let addr = server.addr;
    let big = "b".repeat(200_000);
    let expected = format!("42[\"big\",\"{big}\"]");

    let mut ws_clients = Vec::new();
    for _ in 0..websockets {
        ws_clients.push(Ws::connect(addr).await);
    }
    let mut polling = Vec::new();
    for _ in 0..pollers {
        polling.push(Polling::connect(addr).await);
    }
    assert_eq!(io.engine().session_count(), websockets + pollers);

    // Every client reads concurrently from here on, as real ones do.
    let mut readers = tokio::task::JoinSet::new();
    for mut ws in ws_clients {
        let expected = expected.clone();
        readers.spawn(async move {
            let got = ws.next_text(Duration::from_secs(20)).await;
            let delivered = got.as_deref() == Some(expected.as_str());
            let closed = ws.close_code(Duration::from_secs(20)).await == Some(1000);
            ws.send_raw(&close_frame(1000)).await;
            delivered && closed
        });
    }
    for poller in polling {
        let expected = expected.clone();
        readers.spawn(async move {
            let mut delivered = false;
            for _ in 0..5 {
                let body = poller.get().await;
                delivered |= body == expected;
                if body.ends_with('1') && !body.starts_with("42") {
                    return delivered;
                }
            }
            false
        });
    }

    io.emit("big", &big).unwrap();
    let started = Instant::now();
    let dropped = tokio::time::timeout(
        Duration::from_secs(30),
        io.close_with_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("close resolves");
    // The process exits as soon as close resolved: whatever was not written is lost.
    server.kill();
    let took = started.elapsed();
    assert_eq!(dropped, 0, "nobody was too slow");
    assert_eq!(
        io.engine().session_count(),
        0,
        "close resolves at 0 sessions"
    );

    let mut ok = 0;
    while let Some(result) = readers.join_next().await {
        ok += usize::from(result.unwrap());
    }
    assert_eq!(
        ok,
        websockets + pollers,
        "every client got the broadcast then a close (close took {took:?})"
    );
}

/// Once `close()` started, handshakes get 503 (the client retries, on another node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_refused_once_close_started() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| {});
    let server = serve_stoppable(&io);
    let _client = Polling::connect(server.addr).await;
    let closing = tokio::spawn({
        let io = io.clone();
        async move { io.close_with_timeout(Duration::from_secs(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, body) = http(
        server.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    )
    .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    // The client that never polls again is dropped at the timeout.
    assert_eq!(closing.await.unwrap(), 1);
    server.kill();
}
