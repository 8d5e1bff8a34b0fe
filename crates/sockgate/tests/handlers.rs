//! The one handler system: what `on_any` handlers receive, errors returned with `?`, and the
//! server's extractors in a gateway's handlers (with the in-process test client).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sockgate::extract::{AckSender, Data, Event, Payload};
use sockgate::gateway::{Gateway, GatewayApp, GatewayRouter, MessageBody};
use sockgate::handler::{HandlerResult, MessageHandler, MessageParts};
use sockgate::testing::TestClient;
use sockgate::{SocketIo, SocketRef};

const WAIT: Duration = Duration::from_secs(2);

/// Records, per handler, whether it was given the message borrowed.
struct Record(Arc<Mutex<Vec<(&'static str, bool)>>>, &'static str);

struct RecordMarker;

impl MessageHandler<RecordMarker> for Record {
    fn call(&self, _: SocketRef, parts: Cow<'_, MessageParts>, _: ()) {
        let borrowed = matches!(parts, Cow::Borrowed(_));
        self.0.lock().unwrap().push((self.1, borrowed));
    }
}

/// `on_any` used to get a copy of every incoming payload; it now borrows it, and the event's
/// own handler gets it by value.
#[tokio::test]
async fn on_any_handlers_borrow_the_message() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let io = SocketIo::new();
    let seen = log.clone();
    io.ns("/", move |socket: SocketRef| {
        socket.on_any(Record(seen.clone(), "any"));
        socket.on_any(Record(seen.clone(), "any again"));
        socket.on("event", Record(seen.clone(), "event"));
        socket.on("done", |ack: AckSender| ack.send("ok"));
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("event", json!({ "big": "payload" })).unwrap();
    socket.emit_with_ack("done", (), WAIT).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(
        &log[..3],
        &[("any", true), ("any again", true), ("event", false)]
    );
}

/// A closure and an async block using `?` on different error types, the error type named
/// once: the error ends the handler (and is logged), the socket carries on.
#[tokio::test]
async fn handlers_return_any_error_with_question_mark() {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.on(
            "sync",
            |socket: SocketRef, Data(n): Data<u32>| -> HandlerResult {
                socket.emit("before", &n)?;
                let parsed: u32 = serde_json::from_str("not a number")?;
                socket.emit("never", &parsed)?;
                Ok(())
            },
        );
        socket.on("async", |socket: SocketRef| async move {
            socket.emit("before-async", &1)?;
            socket.emit("connect", &1)?; // reserved: a SendError
            socket.emit("never", &2)?;
            HandlerResult::Ok(())
        });
        socket.on("ping", |ack: AckSender| ack.send("pong"));
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("sync", &7).unwrap();
    assert_eq!(
        socket.wait_for("before", WAIT).await.unwrap().args(),
        [json!(7)]
    );
    socket.emit("async", ()).unwrap();
    socket.wait_for("before-async", WAIT).await.unwrap();
    let pong = socket.emit_with_ack("ping", (), WAIT).await.unwrap();
    assert_eq!(pong.args(), [json!("pong")]);
    assert!(
        socket
            .wait_for("never", Duration::from_millis(100))
            .await
            .is_err(),
        "the `?` ended both handlers"
    );
}

struct Counter {
    hits: std::sync::atomic::AtomicU32,
}

impl Gateway for Counter {
    fn register(router: &mut GatewayRouter<Self>) {
        // A server extractor (`Data`) in a method.
        router.subscribe_message("add", |this: &Self, Data(n): Data<u32>| {
            let total = this.hits.fetch_add(n, std::sync::atomic::Ordering::SeqCst) + n;
            Value::from(total)
        });
        // A plain closure taking the gateway as `Arc<Self>`, synchronously.
        router.subscribe_message("peek", |this: Arc<Self>| {
            Value::from(this.hits.load(std::sync::atomic::Ordering::SeqCst))
        });
        // `AckSender` (the server's) answers the ack itself: the return value is not acked.
        router.subscribe_message(
            "manual",
            |MessageBody(text): MessageBody<String>, ack: AckSender| {
                let _ = ack.send(format!("manual {text}"));
                "automatic"
            },
        );
    }
}

#[tokio::test]
async fn server_extractors_work_in_gateway_handlers() {
    let gateways = GatewayApp::new()
        .gateway(Counter {
            hits: Default::default(),
        })
        .build()
        .unwrap();
    let io = gateways.shared_servers()[0].clone();
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();

    let total = socket.emit_with_ack("add", &3, WAIT).await.unwrap();
    assert_eq!(total.args(), [json!(3)]);
    let total = socket.emit_with_ack("peek", (), WAIT).await.unwrap();
    assert_eq!(total.args(), [json!(3)]);

    let answer = socket.emit_with_ack("manual", &"hi", WAIT).await.unwrap();
    assert_eq!(answer.args(), [json!("manual hi")]);

    // `Data<u32>` rejecting reaches the client as the gateway's validation exception.
    socket.emit("add", "three").unwrap();
    let exception = socket.wait_for("exception", WAIT).await.unwrap();
    assert_eq!(exception.args()[0]["message"], "Validation failed");
    assert_eq!(exception.args()[0]["errors"][0]["field"], "data");
    assert_eq!(exception.args()[0]["cause"]["pattern"], "add");
}

/// An extractor that panics.
struct Explodes;

impl<S> sockgate::handler::FromMessageParts<S> for Explodes {
    type Rejection = std::convert::Infallible;
    fn from_message_parts(_: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Self::Rejection> {
        panic!("the extractor exploded")
    }
}

struct Exploding;

impl Gateway for Exploding {
    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("boom", |_: &Self, _: Explodes| "never");
        router.subscribe_message("fine", |_: &Self| "fine");
    }
}

/// A panicking extractor is caught like a panicking handler: a gateway answers it as an
/// internal error, the plain server logs it; the socket carries on in both.
#[tokio::test]
async fn a_panicking_extractor_is_caught() {
    let gateways = GatewayApp::new().gateway(Exploding).build().unwrap();
    let io = gateways.shared_servers()[0].clone();
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("boom", ()).unwrap();
    let exception = socket.wait_for("exception", WAIT).await.unwrap();
    assert_eq!(exception.args()[0]["message"], "Internal server error");
    let fine = socket.emit_with_ack("fine", (), WAIT).await.unwrap();
    assert_eq!(fine.args(), [json!("fine")]);

    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| {
        socket.on("boom", |_: Explodes| {});
        socket.on("ping", |ack: AckSender| ack.send("pong"));
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    socket.emit("boom", ()).unwrap();
    let pong = socket.emit_with_ack("ping", (), WAIT).await.unwrap();
    assert_eq!(pong.args(), [json!("pong")]);
}

/// A `Payload` argument that is the handler's only reader of the payload takes it by value
/// (no copy); wherever it stands among the arguments, next to another reader, or after
/// `on_any` handlers that borrowed the same message, every reader sees all of it, binary
/// included.
#[tokio::test]
async fn a_payload_argument_gets_the_whole_payload_however_it_is_extracted() {
    let seen_by_any = Arc::new(Mutex::new(Vec::new()));
    let io = SocketIo::new();
    let any_log = seen_by_any.clone();
    io.ns("/", move |socket: SocketRef| {
        // The only reader: the payload is moved into it.
        socket.on("first", |payload: Payload, ack: AckSender| {
            let _ = ack.send(payload);
        });
        socket.on("last", |ack: AckSender, payload: Payload| {
            let _ = ack.send(payload);
        });
        // Two readers: each gets all of it.
        socket.on(
            "two",
            |payload: Payload, Data(first): Data<Value>, ack: AckSender| {
                let _ = ack.send(payload.with(first));
            },
        );
        let any_log = any_log.clone();
        socket.on("watched", |payload: Payload, ack: AckSender| {
            let _ = ack.send(payload);
        });
        socket.on_any(move |Event(event): Event, payload: Payload| {
            if event == "watched" {
                any_log.lock().unwrap().push(payload.into_args());
            }
        });
    });
    let client = TestClient::connect(&io).await.unwrap();
    let socket = client.socket("/", None).await.unwrap();
    let sent = Payload::new()
        .with(json!({"t": 1, "p": "xxx"}))
        .with(json!([1, "two"]))
        .binary(bytes::Bytes::from_static(b"\x00\x01"));
    for event in ["first", "last", "watched"] {
        let answer = socket
            .emit_with_ack(event, sent.clone(), WAIT)
            .await
            .unwrap();
        assert_eq!(answer, sent, "{event}");
    }
    let answer = socket
        .emit_with_ack("two", sent.clone(), WAIT)
        .await
        .unwrap();
    assert_eq!(answer, sent.clone().with(json!({"t": 1, "p": "xxx"})));
    let seen_by_any = seen_by_any.lock().unwrap().clone();
    assert_eq!(
        seen_by_any,
        vec![sent.into_args()],
        "on_any saw the whole payload too"
    );
}
