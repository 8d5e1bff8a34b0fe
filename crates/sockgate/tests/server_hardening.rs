//! Server-level defects of the hardening issue, over real TCP.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sockgate::{AckError, MiddlewareError, SendError, SocketIo, SocketRef};
use support::{eventually, record_sockets, serve, SlowJoin, Ws};

/// Emitting a reserved event name is refused at the call, as Node throws; the client saw
/// nothing of it and stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_event_names_are_refused_at_the_emit() {
    let io = SocketIo::new();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;
    let mut ws = Ws::connect(addr).await;
    let socket = sockets.lock()[0].clone();
    for name in sockgate::RESERVED_EVENTS {
        assert!(matches!(
            socket.emit(name, "x"),
            Err(SendError::ReservedEvent(ref reserved)) if reserved == name
        ));
        assert!(matches!(
            io.emit(name, "x"),
            Err(SendError::ReservedEvent(_))
        ));
        assert!(matches!(
            socket.emit_with_ack::<String, _>(name, "x").await,
            Err(AckError::Send(_))
        ));
    }
    socket.emit("fine", "x").unwrap();
    assert_eq!(
        ws.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("42[\"fine\",\"x\"]"),
        "the first thing the client gets is the allowed event"
    );
    assert!(socket.connected());
}

/// An `emit_with_ack` future dropped before the answer used to leave its entry until
/// disconnect; a broadcast with acks left one per recipient that did not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_and_timed_out_acks_leave_no_entries() {
    let io = SocketIo::new();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Ws::connect(addr).await);
    }
    let socket = sockets.lock()[0].clone();

    // Dropped before its first poll, and dropped while waiting.
    drop(socket.emit_with_ack::<String, _>("question", &1));
    let waiting = socket.emit_with_ack::<String, _>("question", &2);
    let _ = tokio::time::timeout(Duration::from_millis(50), waiting).await;
    assert_eq!(
        socket.pending_acks(),
        0,
        "a dropped ack future forgets its id"
    );

    // Nobody answers: every recipient is missing, and no table keeps the id.
    let responses = io
        .broadcast()
        .timeout(Duration::from_millis(200))
        .emit_with_ack("question", &3)
        .await
        .unwrap();
    assert_eq!(responses.missing.len(), 20);
    assert_eq!(responses.expected, 20);
    for socket in sockets.lock().iter() {
        assert_eq!(
            socket.pending_acks(),
            0,
            "a timed-out broadcast forgets its ids"
        );
    }

    // A broadcast with acks that is abandoned (its future dropped) forgets them too.
    let abandoned = io
        .broadcast()
        .timeout(Duration::from_secs(30))
        .emit_with_ack("question", &4);
    let _ = tokio::time::timeout(Duration::from_millis(50), abandoned).await;
    for socket in sockets.lock().iter() {
        assert_eq!(
            socket.pending_acks(),
            0,
            "an abandoned broadcast forgets its ids"
        );
    }

    // Positive control: an answer still resolves the broadcast.
    let one = &mut clients[0];
    let first = sockets.lock()[0].id();
    let ask = tokio::spawn({
        let io = io.clone();
        async move {
            io.to(first)
                .timeout(Duration::from_secs(5))
                .emit_with_ack("question", &5)
                .await
        }
    });
    let packet = one.next_text(Duration::from_secs(5)).await.unwrap();
    // Skip the questions of the earlier broadcasts.
    let mut packet = packet;
    while !packet.ends_with(",5]") {
        packet = one.next_text(Duration::from_secs(5)).await.unwrap();
    }
    let id: String = packet[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    one.send_text(&format!("43{id}[\"yes\"]")).await;
    let responses = ask.await.unwrap().unwrap();
    assert_eq!(responses.answers.len(), 1);
    assert!(responses.missing.is_empty());
}

/// Rooms joined by a middleware that then refuses the socket must not stay in the adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_joined_in_a_refusing_middleware_are_left() {
    let io = SocketIo::new();
    let ns = io.ns("/", |_socket: SocketRef| {});
    ns.use_middleware(|socket: SocketRef| async move {
        socket.join("lobby");
        Err(MiddlewareError::new("no"))
    });
    let addr = serve(&io).await;
    let mut ws = Ws::open(addr, "").await;
    ws.send_text("40").await;
    let answer = ws.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("44{\"message\":\"no\""), "{answer}");
    assert!(
        ns.adapter().rooms().is_empty(),
        "rooms left behind: {:?}",
        ns.adapter().rooms()
    );
}

/// Connections that close while their CONNECT is being processed (an async middleware, a
/// transport that dies) must never leave a socket registered: a ghost stays `connected()`,
/// in its rooms and in `fetch_sockets` forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closing_during_connect_leave_no_ghost_sockets() {
    let io = SocketIo::new();
    let ns = io.ns("/", |socket: SocketRef| socket.join("room"));
    ns.use_middleware(|socket: SocketRef| async move {
        // A few µs to a couple of ms: the close lands before, during or after registration.
        let wait = socket.id().as_str().as_bytes()[0] as u64 % 3;
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(500 * wait)).await;
        }
        Ok(())
    });
    let addr = serve(&io).await;
    for round in 0..200u64 {
        let mut ws = Ws::open(addr, "").await;
        ws.send_text("40").await;
        if round % 4 == 0 {
            tokio::time::sleep(Duration::from_micros(300 * (round % 7))).await;
        }
        drop(ws);
    }
    assert!(
        eventually(Duration::from_secs(5), || io.engine().session_count() == 0).await,
        "sessions left: {}",
        io.engine().session_count()
    );
    assert!(
        eventually(Duration::from_secs(2), || ns.sockets().is_empty()).await,
        "ghost sockets: {}",
        ns.sockets().len()
    );
    assert!(ns.adapter().rooms().is_empty(), "rooms of ghosts remain");
    assert!(io.broadcast().fetch_sockets().await.is_empty());
}

/// The close (a ping timeout, on the timer's thread) lands exactly inside the registration:
/// the deterministic version of the race above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_during_registration_leaves_no_ghost() {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(50))
        .ping_timeout(Duration::from_millis(50))
        .adapter(SlowJoin::factory(
            Arc::new(std::sync::atomic::AtomicBool::new(true)),
            None,
        ))
        .build();
    let ns = io.ns("/", |_socket: SocketRef| {});
    let addr = serve(&io).await;
    let mut ws = Ws::open(addr, "").await;
    ws.send_text("40").await; // and never answers a ping
    assert!(
        eventually(Duration::from_secs(3), || io.engine().session_count() == 0).await,
        "session released"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(ws);
    assert!(
        ns.sockets().is_empty(),
        "a ghost socket: {:?}",
        ns.sockets()
    );
    assert!(
        ns.adapter().rooms().is_empty(),
        "{:?}",
        ns.adapter().rooms()
    );
}

/// A socket in several target rooms receives one broadcast once (socketioxide shipped a fix
/// for duplicates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_in_several_target_rooms_gets_a_broadcast_once() {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| socket.join(["a", "b", "c"]));
    let addr = serve(&io).await;
    let mut ws = Ws::connect(addr).await;
    io.to(["a", "b", "c"]).emit("once", "x").unwrap();
    io.to("a").except("b").emit("never", "x").unwrap();
    io.emit("control", "after").unwrap();
    assert_eq!(
        ws.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("42[\"once\",\"x\"]")
    );
    assert_eq!(
        ws.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("42[\"control\",\"after\"]"),
        "no second copy, and `except` wins over `to`"
    );
}

/// Issue 9: errors keep their sources (they used to hold the source's message only).
#[tokio::test]
async fn send_and_ack_errors_keep_their_source_errors() {
    use std::collections::HashMap;
    use std::error::Error as _;

    let io = SocketIo::new();
    let sockets = record_sockets(&io);
    let addr = serve(&io).await;
    let _ws = Ws::connect(addr).await;
    let socket = sockets.lock()[0].clone();
    // A map with non-string keys does not serialize to JSON.
    let unserializable: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);

    let error = socket.emit("e", &unserializable).unwrap_err();
    assert!(matches!(error, SendError::Serialize(_)));
    let source = error.source().expect("the serde_json error");
    assert!(source.downcast_ref::<serde_json::Error>().is_some());

    let error = socket
        .emit_with_ack::<String, _>("e", &unserializable)
        .await
        .unwrap_err();
    let send = error.source().expect("the SendError");
    let send = send.downcast_ref::<SendError>().expect("a SendError");
    assert!(matches!(send, SendError::Serialize(_)));
    assert!(send.source().is_some());

    let error = socket
        .emit_with_ack::<String, _>("connect", "x")
        .await
        .unwrap_err();
    let reserved = error.source().and_then(|e| e.downcast_ref::<SendError>());
    assert!(matches!(reserved, Some(SendError::ReservedEvent(_))));
}
