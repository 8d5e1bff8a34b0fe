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

/// `io.ns(name, handler)` for a namespace that exists (the main one always does) used to build
/// a new namespace: the handlers declared on the old one were lost, its sockets orphaned, and a
/// second adapter made (a cluster adapter's lingering subscriptions made the other nodes count
/// a server too many for a while). Now it keeps the namespace and swaps the connect handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_existing_namespace_keeps_it() {
    use std::sync::{Arc, Mutex, Weak};

    use sockgate::core::InMemoryAdapter;
    use sockgate::extract::AckSender;
    use sockgate::testing::TestClient;
    use sockgate_core::{Adapter, LocalNamespace};

    let made: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = made.clone();
    let io = SocketIo::builder()
        .adapter(move |ns: Weak<dyn LocalNamespace>| {
            let name = ns
                .upgrade()
                .map_or_else(String::new, |n| n.name().to_owned());
            seen.lock().unwrap().push(name);
            Arc::new(InMemoryAdapter::new(ns, None)) as Arc<dyn Adapter>
        })
        .build();
    // Declared on the main namespace before its connect handler, as `io.on_server_side` or an
    // early `io.of("/")` would.
    io.of("/")
        .expect("the main namespace exists from build")
        .on("ping", |ack: AckSender| ack.send("pong"));
    io.ns("/", |socket: SocketRef| {
        let _ = socket.emit("hello", "first");
    });
    io.ns("/", |socket: SocketRef| {
        let _ = socket.emit("hello", "second");
    });
    assert_eq!(
        *made.lock().unwrap(),
        vec!["/".to_owned()],
        "one adapter for '/'"
    );

    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    let hello = socket
        .wait_for("hello", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello.args(), vec![serde_json::json!("second")]);
    let pong = socket
        .emit_with_ack("ping", (), Duration::from_secs(5))
        .await
        .expect("the handler declared before io.ns still answers");
    assert_eq!(pong.args(), vec![serde_json::json!("pong")]);
    assert_eq!(io.of("/").map(|ns| ns.sockets().len()), Some(1));
}
