//! The seed example, driven in-process with sockgate's test client.

mod common;

use std::time::Duration;

use common::join;
use serde_json::json;
use sockgate::testing::TestClient;

const WAIT: Duration = Duration::from_secs(2);

fn server() -> sockgate::SocketIo {
    let gateways = chat::gateways().expect("the chat gateways build");
    gateways.shared_servers()[0].clone()
}

#[tokio::test]
async fn a_message_reaches_everyone_with_the_whole_name() {
    let io = server();
    let (_alice, alice) = join(&io, "alice").await;
    let (_bob, bob) = join(&io, "bob").await;
    assert_ne!(alice.id(), bob.id());

    alice.emit("message", "hi").unwrap();
    for socket in [&alice, &bob] {
        let message = socket.wait_for("message", WAIT).await.unwrap();
        assert_eq!(message.args(), vec![json!("alice : hi")]);
    }
}

#[tokio::test]
async fn several_arguments_and_objects_format_like_javascript() {
    let io = server();
    let (_client, socket) = join(&io, "carol").await;
    socket.emit("message", ("x", "y")).unwrap();
    let message = socket.wait_for("message", WAIT).await.unwrap();
    assert_eq!(message.args(), vec![json!("carol : x,y")]);
    socket.emit("message", json!({"a": 1})).unwrap();
    let message = socket.wait_for("message", WAIT).await.unwrap();
    assert_eq!(message.args(), vec![json!("carol : [object Object]")]);
}

#[tokio::test]
async fn a_missing_name_gets_the_nestjs_exception_and_nobody_gets_a_message() {
    let io = server();
    let nameless = TestClient::connect(&io).await.unwrap();
    let nameless = nameless.socket("/example", None).await.unwrap();
    let (_witness, witness) = join(&io, "dave").await;

    nameless.emit("message", "hi").unwrap();
    let exception = nameless.wait_for("exception", WAIT).await.unwrap();
    assert_eq!(exception.args()[0]["status"], "error");
    assert_eq!(
        exception.args()[0]["cause"],
        json!({"pattern": "message", "data": "hi"})
    );
    assert!(witness
        .wait_for("message", Duration::from_millis(200))
        .await
        .is_err());

    // The nameless socket is still connected and served.
    assert!(!nameless.was_disconnected());
}

#[tokio::test]
async fn joins_and_leaves_are_announced() {
    let io = server();
    let (_watcher, watcher) = join(&io, "erin").await;
    let (_visitor, visitor_socket) = join(&io, "frank").await;
    let joined = watcher.wait_for("joined", WAIT).await.unwrap();
    // The watcher's own join may come first.
    let joined = if joined.args()[0]["name"] == "erin" {
        watcher.wait_for("joined", WAIT).await.unwrap()
    } else {
        joined
    };
    assert_eq!(joined.args()[0], json!({"name": "frank"}));
    visitor_socket.disconnect().unwrap();
    let left = watcher.wait_for("left", WAIT).await.unwrap();
    assert_eq!(left.args()[0], json!({"name": "frank"}));
}

#[tokio::test]
async fn the_macro_edition_behaves_the_same() {
    use sockgate::gateway::GatewayApp;
    let gateways = GatewayApp::new()
        .gateway(chat::with_macros::MacroExampleGateway)
        .build()
        .unwrap();
    let io = gateways.shared_servers()[0].clone();
    let (_alice, alice) = join(&io, "alice").await;
    alice.emit("message", "hi").unwrap();
    let message = alice.wait_for("message", WAIT).await.unwrap();
    assert_eq!(message.args(), vec![json!("alice : hi")]);
}

/// The load balancer's health check: `200 ok` while serving, `503 draining` once the
/// graceful shutdown of SIGTERM started.
#[tokio::test]
async fn the_health_check_turns_503_when_the_chat_drains() {
    let gateways = chat::gateways().unwrap();
    let io = gateways.shared_servers()[0].clone();
    assert!(io.matches("/health"));
    assert_eq!(io.health_response().status(), 200);
    io.engine().begin_shutdown();
    assert_eq!(io.health_response().status(), 503);
    gateways.close().await;
    assert_eq!(
        io.health_response().status(),
        200,
        "served again once closed"
    );
}
