//! Children of dynamic namespaces are freed once empty (`cleanupEmptyChildNamespaces`).

mod support;

use std::time::Duration;

use sockgate::extract::Data;
use sockgate::{MiddlewareError, SocketIo, SocketRef};
use support::{eventually, serve, Ws};

fn server() -> SocketIo {
    let io = SocketIo::new();
    let parent = io.dynamic_ns("/tenant/{id}", |socket: SocketRef| {
        socket.on("ping", |socket: SocketRef, Data(n): Data<u32>| {
            let _ = socket.emit("pong", &n);
        });
    });
    parent.use_middleware(|socket: SocketRef| async move {
        if socket.ns_name().ends_with("/refused") {
            return Err(MiddlewareError::new("refused"));
        }
        Ok(())
    });
    io
}

/// Every name a client tried used to create a namespace that lived forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_chosen_names_are_freed() {
    let io = server();
    let addr = serve(&io).await;
    let baseline = io.namespace_count();
    let mut ws = Ws::open(addr, "").await;
    for i in 0..100 {
        ws.send_text(&format!("40/tenant/{i},")).await;
        let answer = ws.next_text(Duration::from_secs(5)).await.unwrap();
        assert!(answer.starts_with(&format!("40/tenant/{i},{{")), "{answer}");
        ws.send_text(&format!("41/tenant/{i},")).await;
    }
    // A refused CONNECT leaves no child either.
    ws.send_text("40/tenant/refused,").await;
    let answer = ws.next_text(Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("44/tenant/refused,"), "{answer}");
    assert!(
        eventually(Duration::from_secs(2), || io.namespace_count() == baseline).await,
        "{} namespaces, {baseline} before",
        io.namespace_count()
    );

    // A child in use stays, and a freed one comes back with its handlers.
    ws.send_text("40/tenant/7,").await;
    assert!(ws
        .next_text(Duration::from_secs(5))
        .await
        .unwrap()
        .starts_with("40/tenant/7,"));
    assert_eq!(io.namespace_count(), baseline + 1);
    ws.send_text("42/tenant/7,[\"ping\",5]").await;
    assert_eq!(
        ws.next_text(Duration::from_secs(5)).await.as_deref(),
        Some("42/tenant/7,[\"pong\",5]")
    );
    assert!(io.of("/tenant/7").is_some());
    drop(ws);
    assert!(eventually(Duration::from_secs(2), || io.of("/tenant/7").is_none()).await);
}

/// With the option off, children stay (Node's default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_stay_when_cleanup_is_off() {
    let io = SocketIo::builder()
        .cleanup_empty_child_namespaces(false)
        .build();
    io.dynamic_ns("/tenant/{id}", |_socket: SocketRef| {});
    let addr = serve(&io).await;
    let mut ws = Ws::open(addr, "").await;
    ws.send_text("40/tenant/a,").await;
    assert!(ws.next_text(Duration::from_secs(5)).await.is_some());
    ws.send_text("41/tenant/a,").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(io.of("/tenant/a").is_some());
}
