//! The typed chat's own addition (`members`, answered in a typed ack), and the plain
//! `ExampleGateway`, which the chat no longer serves, still behaving as the typed one.

mod common;

use std::time::Duration;

use common::join;
use serde_json::json;
use sockgate::gateway::GatewayApp;

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn members_answers_in_the_ack_sorted_and_limited() {
    let gateways = chat::gateways().unwrap();
    let io = gateways.shared_servers()[0].clone();
    let (_zoe, zoe) = join(&io, "zoe").await;
    let (_amy_client, _amy) = join(&io, "amy").await;
    let ack = zoe.emit_with_ack("members", json!({}), WAIT).await.unwrap();
    assert_eq!(
        ack.args(),
        vec![json!({"names": ["amy", "zoe"], "totalCount": 2})]
    );
    let ack = zoe
        .emit_with_ack("members", json!({"limit": 1}), WAIT)
        .await
        .unwrap();
    assert_eq!(ack.args(), vec![json!({"names": ["amy"], "totalCount": 2})]);
    // A query of another shape is a validation exception, not an ack.
    zoe.emit("members", json!({"limit": "all"})).unwrap();
    let exception = zoe.wait_for("exception", WAIT).await.unwrap();
    assert_eq!(exception.args()[0]["message"], "Validation failed");
}

#[tokio::test]
async fn the_plain_gateway_behaves_as_the_typed_one() {
    let gateways = GatewayApp::new()
        .gateway(chat::ExampleGateway)
        .build()
        .unwrap();
    let io = gateways.shared_servers()[0].clone();
    let (_alice, alice) = join(&io, "alice").await;
    let joined = alice.wait_for("joined", WAIT).await.unwrap();
    assert_eq!(joined.args(), vec![json!({"name": "alice"})]);
    alice.emit("message", ("x", "y")).unwrap();
    let message = alice.wait_for("message", WAIT).await.unwrap();
    assert_eq!(message.args(), vec![json!("alice : x,y")]);
}
