//! Typed events at run time: typed emits reach the right clients with serde's shape, typed
//! handlers get the payload and answer the typed ack, a payload of another shape is refused
//! (logged by the plain server, an `exception` in a gateway), and contracts that cannot be
//! generated are refused with a reason.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sockgate::gateway::{Gateway, GatewayApp, GatewayRouter, WsException};
use sockgate::testing::TestClient;
use sockgate::typed::schemars::JsonSchema;
use sockgate::typed::ts_rs::TS;
use sockgate::typed::{
    asyncapi, typescript, AsyncApiInfo, Contract, ContractError, ContractFiles, EmitTyped, Event,
    Events, OnTyped, Typed, TypedAck,
};
use sockgate::{SocketIo, SocketRef};

const WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[ts(crate = "sockgate::typed::ts_rs")]
#[schemars(crate = "sockgate::typed::schemars")]
#[serde(rename_all = "camelCase")]
struct Note {
    note_text: String,
    urgent: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[ts(crate = "sockgate::typed::ts_rs")]
#[schemars(crate = "sockgate::typed::schemars")]
struct Receipt {
    length: usize,
}

#[derive(Clone, Copy, Event)]
#[event(name = "note", payload = Note, server_to_client, client_to_server(ack = Receipt))]
struct NoteEvent;

#[derive(Clone, Copy, Event)]
#[event(name = "sync", payload = String, inter_server(ack = u32))]
struct Sync;

#[derive(Contract)]
#[contract(
    namespace = "/notes",
    server_to_client(NoteEvent),
    client_to_server(NoteEvent),
    inter_server(Sync)
)]
struct Notes;

fn note(text: &str) -> Note {
    Note {
        note_text: text.into(),
        urgent: None,
    }
}

fn plain_server() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/notes", |socket: SocketRef| {
        socket.join("readers");
        socket.on_typed(
            NoteEvent,
            |socket: SocketRef, Typed(note): Typed<NoteEvent>, ack: TypedAck<NoteEvent>| {
                let _ = socket.to("readers").emit_typed(NoteEvent, &note);
                let _ = ack.send(&Receipt {
                    length: note.note_text.len(),
                });
            },
        );
    });
    io
}

#[tokio::test]
async fn a_typed_handler_gets_the_payload_and_answers_the_typed_ack() {
    let io = plain_server();
    let writer = TestClient::connect(&io).await.unwrap();
    let writer = writer.socket("/notes", None).await.unwrap();
    let reader = TestClient::connect(&io).await.unwrap();
    let reader = reader.socket("/notes", None).await.unwrap();

    let ack = writer
        .emit_with_ack("note", json!({"noteText": "hello", "urgent": true}), WAIT)
        .await
        .unwrap();
    assert_eq!(ack.args(), vec![json!({"length": 5})]);
    // `to("readers")` from the writer: the reader gets it, in serde's shape.
    let received = reader.wait_for("note", WAIT).await.unwrap();
    assert_eq!(
        received.args(),
        vec![json!({"noteText": "hello", "urgent": true})]
    );
    assert!(writer
        .wait_for("note", Duration::from_millis(100))
        .await
        .is_err());
}

#[tokio::test]
async fn a_payload_of_another_shape_never_reaches_the_plain_handler() {
    let io = plain_server();
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/notes", None).await.unwrap();
    // `noteText` is missing: the handler is not called, so no ack comes.
    let result = socket
        .emit_with_ack("note", json!({"text": "hi"}), Duration::from_millis(300))
        .await;
    assert!(result.is_err());
    // The socket is still served.
    let ack = socket
        .emit_with_ack("note", json!({"noteText": "ok"}), WAIT)
        .await
        .unwrap();
    assert_eq!(ack.args(), vec![json!({"length": 2})]);
}

#[tokio::test]
async fn typed_emits_from_the_namespace_and_the_server_reach_every_client() {
    let io = plain_server();
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/notes", None).await.unwrap();
    let namespace = io.of("/notes").unwrap();
    namespace.emit_typed(NoteEvent, &note("to all")).unwrap();
    let received = socket.wait_for("note", WAIT).await.unwrap();
    assert_eq!(
        received.args(),
        vec![json!({"noteText": "to all", "urgent": null})]
    );
    for server_socket in namespace.sockets() {
        server_socket
            .emit_typed(NoteEvent, &note("to one"))
            .unwrap();
    }
    let received = socket.wait_for("note", WAIT).await.unwrap();
    assert_eq!(received.args()[0]["noteText"], "to one");
}

struct NoteGateway;

impl Gateway for NoteGateway {
    fn options(&self) -> sockgate::gateway::GatewayOptions {
        sockgate::gateway::GatewayOptions::new().namespace("/notes")
    }
    fn register(router: &mut GatewayRouter<Self>) {
        router.on_typed(
            NoteEvent,
            |_: &NoteGateway,
             Typed(note): Typed<NoteEvent>|
             -> Result<sockgate::gateway::Json<Receipt>, WsException> {
                Ok(sockgate::gateway::Json(Receipt {
                    length: note.note_text.len(),
                }))
            },
        );
    }
}

#[tokio::test]
async fn in_a_gateway_a_wrong_payload_is_a_validation_exception() {
    let gateways = GatewayApp::new().gateway(NoteGateway).build().unwrap();
    let io = gateways.shared_servers()[0].clone();
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/notes", None).await.unwrap();
    let ack = socket
        .emit_with_ack("note", json!({"noteText": "abc"}), WAIT)
        .await
        .unwrap();
    assert_eq!(ack.args(), vec![json!({"length": 3})]);

    socket.emit("note", json!({"noteText": 7})).unwrap();
    let exception = socket.wait_for("exception", WAIT).await.unwrap();
    assert_eq!(exception.args()[0]["status"], "error");
    assert_eq!(exception.args()[0]["message"], "Validation failed");
    assert_eq!(exception.args()[0]["errors"][0]["field"], "body");
    let messages = exception.args()[0]["errors"][0]["messages"][0]
        .as_str()
        .unwrap();
    assert!(
        messages.contains("not a valid `note` payload"),
        "{messages}"
    );
    // The exception payload is the one `sockgate::typed::Exception` declares.
    let _: sockgate::typed::ExceptionPayload =
        serde_json::from_value(exception.args()[0].clone()).unwrap();
}

#[test]
fn the_typescript_has_the_three_event_maps_with_acks() {
    let ts = typescript::<Notes>(&Default::default()).unwrap();
    assert!(
        ts.contains("export declare const NAMESPACE: \"/notes\";"),
        "{ts}"
    );
    assert!(
        ts.contains("export type Note = { noteText: string, urgent: boolean | null, };"),
        "{ts}"
    );
    assert!(
        ts.contains("export type Receipt = { length: number, };"),
        "{ts}"
    );
    assert!(
        ts.contains(
            "export interface ServerToClientEvents {\n  \"note\": (payload: Note) => void;\n}"
        ),
        "{ts}"
    );
    assert!(ts.contains("export interface ClientToServerEvents {\n  \"note\": (payload: Note, ack: (response: Receipt) => void) => void;\n}"), "{ts}");
    assert!(ts.contains("export interface InterServerEvents {\n  \"sync\": (payload: string, ack: (response: number) => void) => void;\n}"), "{ts}");
}

#[test]
fn the_asyncapi_document_has_a_channel_operations_and_replies() {
    let doc = asyncapi(
        &AsyncApiInfo::default(),
        &ContractFiles::new().contract::<Notes>("notes.d.ts"),
    )
    .unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["notes"]["address"], "/notes");
    let ops = doc["operations"].as_object().unwrap();
    let mut ids: Vec<_> = ops.keys().cloned().collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "notes.note.clientToServer.receive",
            "notes.note.serverToClient.send",
            "notes.sync.interServer.receive",
            "notes.sync.interServer.send"
        ]
    );
    assert_eq!(
        ops["notes.note.clientToServer.receive"]["reply"]["messages"][0]["$ref"],
        "#/channels/notes/messages/note.clientToServer.ack"
    );
    assert!(ops["notes.note.serverToClient.send"].get("reply").is_none());
    let note_schema = &doc["components"]["schemas"]["Note"];
    // Schemas describe what serde writes: an `Option` without `skip_serializing_if` is always
    // there, as a boolean or null.
    assert_eq!(note_schema["required"], json!(["noteText", "urgent"]));
    assert_eq!(
        note_schema["properties"]["urgent"]["type"],
        json!(["boolean", "null"])
    );
    assert_eq!(
        doc["components"]["messages"]["note.clientToServer"]["payload"]["$ref"],
        "#/components/schemas/Note"
    );
}

#[derive(Clone, Copy)]
struct Connect;
impl Event for Connect {
    const NAME: &'static str = "connect";
    type Payload = String;
}
impl sockgate::typed::ServerToClient for Connect {
    type Ack = sockgate::typed::NoAck;
}

struct Reserved;
impl Contract for Reserved {
    const NAMESPACE: &'static str = "/";
    fn events(events: &mut Events) {
        events.server_to_client::<Connect>();
    }
}

struct Twice;
impl Contract for Twice {
    const NAMESPACE: &'static str = "/";
    fn events(events: &mut Events) {
        events
            .server_to_client::<NoteEvent>()
            .server_to_client::<NoteEvent>();
    }
}

mod other {
    use super::*;
    /// Another type that TypeScript would also call `Note`.
    #[derive(Serialize, Deserialize, TS, JsonSchema)]
    #[ts(crate = "sockgate::typed::ts_rs", rename = "Note")]
    #[schemars(crate = "sockgate::typed::schemars")]
    pub(super) struct OtherNote {
        pub(super) id: u32,
    }
    #[derive(Clone, Copy, Event)]
    #[event(name = "other", payload = OtherNote, server_to_client)]
    pub(super) struct OtherEvent;
}

struct Clash;
impl Contract for Clash {
    const NAMESPACE: &'static str = "/";
    fn events(events: &mut Events) {
        events
            .server_to_client::<NoteEvent>()
            .server_to_client::<other::OtherEvent>();
    }
}

#[test]
fn contracts_that_cannot_be_generated_are_refused_with_a_reason() {
    let reserved = typescript::<Reserved>(&Default::default()).unwrap_err();
    assert!(matches!(&reserved, ContractError::ReservedEvent(name) if name == "connect"));
    let twice = typescript::<Twice>(&Default::default()).unwrap_err();
    assert!(matches!(&twice, ContractError::DuplicateEvent { event, .. } if event == "note"));
    let clash = typescript::<Clash>(&Default::default()).unwrap_err();
    assert!(
        matches!(&clash, ContractError::TypeNameClash(name) if name == "Note"),
        "{clash}"
    );
    let files = ContractFiles::new()
        .contract::<Notes>("a.d.ts")
        .contract::<Notes>("b.d.ts")
        .asyncapi("asyncapi.json", AsyncApiInfo::default());
    assert!(
        matches!(files.render().unwrap_err(), ContractError::DuplicateNamespace(ns) if ns == "/notes")
    );
}

fn cluster_node(bus: &sockgate_redis::MemoryBus) -> SocketIo {
    use std::sync::Arc;
    let bus = bus.clone();
    SocketIo::builder()
        .adapter(
            move |ns: std::sync::Weak<dyn sockgate::core::LocalNamespace>| {
                let config = sockgate_redis::ClassicConfig {
                    requests_timeout: Duration::from_millis(500),
                    ..sockgate_redis::ClassicConfig::default()
                };
                sockgate_redis::ClassicAdapter::new(Arc::new(bus.driver()), ns, config)
                    as Arc<dyn sockgate::core::Adapter>
            },
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_server_side_emit_gets_typed_answers_from_the_other_servers() {
    use sockgate::typed::ServerSideEmitTyped;
    let bus = sockgate_redis::MemoryBus::new();
    let (a, b) = (cluster_node(&bus), cluster_node(&bus));
    a.ns("/", |_: SocketRef| {});
    b.on_server_side(
        <Sync as Event>::NAME,
        |sockgate::extract::Data(text): sockgate::extract::Data<String>,
         ack: sockgate::AckSender| ack.send(&(text.len() as u32)),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.server_count().await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the servers never met"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers = (&a)
        .server_side_emit_with_ack_typed(Sync, &"four".to_owned())
        .await
        .unwrap();
    assert!(answers.is_complete());
    let values: Vec<u32> = answers.values().into_iter().map(Result::unwrap).collect();
    assert_eq!(values, vec![4]);
    (&a).server_side_emit_typed(Sync, &"fire and forget".to_owned())
        .await
        .unwrap();
}

mod support;

#[derive(Clone, Copy, Event)]
#[event(name = "ask", payload = String, server_to_client(ack = Receipt))]
struct Ask;

#[tokio::test]
async fn a_typed_emit_with_ack_decodes_the_clients_answer_and_refuses_another_shape() {
    use sockgate::typed::EmitWithAckTyped;
    use std::sync::{Arc, Mutex};
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = answers.clone();
    let io = SocketIo::new();
    io.ns("/", move |socket: SocketRef| {
        let seen = seen.clone();
        async move {
            for _ in 0..2 {
                let result = socket
                    .emit_with_ack_typed(Ask, &"how long?".to_owned())
                    .await;
                seen.lock().unwrap().push(match result {
                    Ok(receipt) => format!("ok {}", receipt.length),
                    Err(error) => format!("err {error}"),
                });
            }
        }
    });
    let addr = support::serve(&io).await;
    let mut ws = support::Ws::connect(addr).await;
    // A raw client: answers the first ask with the declared shape, the second with another.
    for answer in [r#"[{"length":9}]"#, r#"["nine"]"#] {
        let packet = ws.next_text(WAIT).await.expect("the ask");
        let rest = packet.strip_prefix("42").expect("an event with an ack id");
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(&rest[id.len()..], r#"["ask","how long?"]"#);
        ws.send_text(&format!("43{id}{answer}")).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while answers.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            answers.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers[0], "ok 9");
    assert!(answers[1].starts_with("err "), "{answers:?}");
}
