//! An in-process test client: connect to a [`SocketIo`] (or a gateway's server) without a
//! network, emit, await acks and received events. NestJS has none (#1368).
//!
//! The client speaks the real protocols (an HTTP upgrade, WebSocket frames, Engine.IO and
//! Socket.IO packets) over an in-memory pipe, so what it sees is what a socket.io client sees.
//!
//! ```no_run
//! # async fn demo(io: sockgate::SocketIo) -> Result<(), sockgate::testing::TestError> {
//! use std::time::Duration;
//! use sockgate::testing::TestClient;
//!
//! let client = TestClient::connect_with_query(&io, "name=alice").await?;
//! let socket = client.socket("/example", None).await?;
//! socket.emit("message", &"hi")?;
//! let reply = socket.wait_for("message", Duration::from_secs(1)).await?;
//! assert_eq!(reply.args()[0], "alice : hi");
//! # Ok(()) }
//! ```
//!
//! Long for a reason: one client and its socket share the connection task and the inbox;
//! splitting them would expose that plumbing across files.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::Value;
use sockgate_core::Sid;
use sockgate_proto::socketio::{encode_json, EioMessage, JsonDecoder, Packet, PacketType};
use sockgate_proto::ws::{self, FrameDecoder, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::payload::{IntoPayload, Payload};
use crate::server::SocketIo;

/// Why a test client operation failed.
///
/// New variants may be added: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestError {
    /// The server refused the connection or the namespace (with the `connect_error` data):
    /// check the middleware or `allow_request` hook the test expects to pass.
    Refused(Value),
    /// Nothing arrived in time: the server did not send what the test waits for (or took
    /// longer than the timeout given).
    Timeout,
    /// The connection is closed: the server closed it (see its disconnect reason) or the test
    /// closed it first.
    Closed,
    /// The HTTP handshake or WebSocket upgrade failed (the source is hyper's error, or a
    /// description of the unexpected answer): check the server's path and transports.
    Handshake(Box<dyn std::error::Error + Send + Sync>),
    /// The data could not be serialized (the source is serde_json's error): fix the data or
    /// its `Serialize` impl.
    Serialize(serde_json::Error),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Refused(data) => write!(f, "refused: {data}"),
            TestError::Timeout => f.write_str("timed out"),
            TestError::Closed => f.write_str("connection closed"),
            TestError::Handshake(e) => write!(f, "handshake failed: {e}"),
            TestError::Serialize(e) => write!(f, "could not serialize: {e}"),
        }
    }
}

impl std::error::Error for TestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestError::Handshake(error) => Some(&**error),
            TestError::Serialize(error) => Some(error),
            TestError::Refused(_) | TestError::Timeout | TestError::Closed => None,
        }
    }
}

#[derive(Default)]
struct Inbox {
    events: Mutex<HashMap<String, VecDeque<(String, Payload)>>>,
    connects: Mutex<HashMap<String, oneshot::Sender<Result<Sid, Value>>>>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Payload>>>,
    disconnected: Mutex<Vec<String>>,
    arrived: Notify,
    closed: AtomicBool,
}

/// One in-process connection (an Engine.IO session) that can join namespaces.
pub struct TestClient {
    inbox: Arc<Inbox>,
    outgoing: mpsc::UnboundedSender<Bytes>,
    next_ack: Arc<AtomicU64>,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient").finish_non_exhaustive()
    }
}

impl TestClient {
    /// Connects over WebSocket.
    pub async fn connect(io: &SocketIo) -> Result<TestClient, TestError> {
        Self::connect_with_query(io, "").await
    }

    /// Connects with extra query parameters (`"name=alice&x=1"`).
    pub async fn connect_with_query(io: &SocketIo, query: &str) -> Result<TestClient, TestError> {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = io.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server_io), service)
                .with_upgrades()
                .await;
        });

        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(client_io))
                .await
                .map_err(|e| TestError::Handshake(e.into()))?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let separator = if query.is_empty() { "" } else { "&" };
        let uri = format!(
            "{}?EIO=4&transport=websocket{separator}{query}",
            io.config().engine.path
        );
        let request = http::Request::get(uri)
            .header(http::header::HOST, "in-process")
            .header(http::header::UPGRADE, "websocket")
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .header(http::header::SEC_WEBSOCKET_VERSION, "13")
            .body(Empty::<Bytes>::new())
            .map_err(|e| TestError::Handshake(e.into()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| TestError::Handshake(e.into()))?;
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return Err(TestError::Handshake(
                format!("status {}", response.status()).into(),
            ));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| TestError::Handshake(e.into()))?;
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));

        let inbox = Arc::new(Inbox::default());
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Bytes>();
        tokio::spawn(async move {
            while let Some(frame) = to_send.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let reader_inbox = inbox.clone();
        let pong = outgoing.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            let mut frames = FrameDecoder::for_client(usize::MAX / 2);
            let mut packets = JsonDecoder::new();
            'read: loop {
                loop {
                    match frames.decode(&mut buf) {
                        Ok(Some(message)) => {
                            if !on_frame(&reader_inbox, &pong, &mut packets, message) {
                                break 'read;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'read,
                    }
                }
                buf.reserve(8 * 1024);
                match reader.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            reader_inbox.closed.store(true, Ordering::Release);
            reader_inbox.connects.lock().clear();
            reader_inbox.acks.lock().clear();
            reader_inbox.arrived.notify_waiters();
        });
        Ok(TestClient {
            inbox,
            outgoing,
            next_ack: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Joins a namespace, with an optional `auth` payload; fails with the `connect_error` data
    /// when a middleware or guard refuses, and with [`TestError::Timeout`] after 5 s without an
    /// answer (see [`TestClient::socket_within`] for slow middlewares).
    pub async fn socket(&self, nsp: &str, auth: Option<Value>) -> Result<TestSocket, TestError> {
        self.socket_within(nsp, auth, Duration::from_secs(5)).await
    }

    /// [`TestClient::socket`] waiting at most `timeout` for the server's answer: for
    /// middlewares that take long by design (password hashing, a queue of logins).
    pub async fn socket_within(
        &self,
        nsp: &str,
        auth: Option<Value>,
        timeout: Duration,
    ) -> Result<TestSocket, TestError> {
        let (tx, rx) = oneshot::channel();
        self.inbox.connects.lock().insert(nsp.to_owned(), tx);
        send(&self.outgoing, &Packet::connect(nsp, auth))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(id))) => Ok(TestSocket {
                nsp: nsp.to_owned(),
                id,
                inbox: self.inbox.clone(),
                outgoing: self.outgoing.clone(),
                next_ack: self.next_ack.clone(),
            }),
            Ok(Ok(Err(data))) => Err(TestError::Refused(data)),
            Ok(Err(_)) => Err(TestError::Closed),
            Err(_) => Err(TestError::Timeout),
        }
    }

    /// Closes the connection (the server sees `transport close`).
    pub fn close(&self) {
        let _ = self
            .outgoing
            .send(ws::encode_masked_frame(OpCode::Close, &[], [0; 4]));
    }
}

fn send(outgoing: &mpsc::UnboundedSender<Bytes>, packet: &Packet) -> Result<(), TestError> {
    let encoded = encode_json(packet);
    let mut text = Vec::with_capacity(encoded.text.len() + 1);
    text.push(b'4');
    text.extend_from_slice(&encoded.text);
    let key = rand::random();
    outgoing
        .send(ws::encode_masked_frame(OpCode::Text, &text, key))
        .map_err(|_| TestError::Closed)?;
    for attachment in &encoded.attachments {
        outgoing
            .send(ws::encode_masked_frame(OpCode::Binary, attachment, key))
            .map_err(|_| TestError::Closed)?;
    }
    Ok(())
}

/// Handles one WebSocket message; false when the connection is over.
fn on_frame(
    inbox: &Inbox,
    outgoing: &mpsc::UnboundedSender<Bytes>,
    packets: &mut JsonDecoder,
    message: ws::Message,
) -> bool {
    let decoded = match message {
        ws::Message::Text(text) => match text.first() {
            Some(b'2') => {
                let _ = outgoing.send(ws::encode_masked_frame(OpCode::Text, b"3", [0; 4]));
                return true;
            }
            Some(b'4') => packets.feed(EioMessage::Text(text.slice(1..))),
            Some(b'1') => return false,
            _ => return true,
        },
        ws::Message::Binary(data) => packets.feed(EioMessage::Binary(data)),
        ws::Message::Close(_) => return false,
        ws::Message::Ping(_) | ws::Message::Pong(_) => return true,
    };
    let Ok(Some(packet)) = decoded else {
        return decoded.is_ok();
    };
    let nsp = packet.nsp.clone();
    match packet.kind {
        PacketType::Connect => {
            let sid = packet
                .data
                .as_ref()
                .and_then(|d| d.get("sid"))
                .and_then(Value::as_str)
                .and_then(Sid::parse);
            if let (Some(tx), Some(sid)) = (inbox.connects.lock().remove(&nsp), sid) {
                let _ = tx.send(Ok(sid));
            }
        }
        PacketType::ConnectError => {
            if let Some(tx) = inbox.connects.lock().remove(&nsp) {
                let _ = tx.send(Err(packet.data.unwrap_or(Value::Null)));
            }
        }
        PacketType::Disconnect => inbox.disconnected.lock().push(nsp),
        PacketType::Event | PacketType::BinaryEvent => {
            if let Some(Value::Array(mut args)) = packet.data {
                if args.is_empty() {
                    return true;
                }
                let name = match args.remove(0) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let payload = Payload::from_parts(args, packet.attachments);
                inbox
                    .events
                    .lock()
                    .entry(nsp)
                    .or_default()
                    .push_back((name, payload));
                inbox.arrived.notify_waiters();
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            if let (Some(id), Some(Value::Array(args))) = (packet.id, packet.data) {
                if let Some(tx) = inbox.acks.lock().remove(&id) {
                    let _ = tx.send(Payload::from_parts(args, packet.attachments));
                }
            }
        }
    }
    true
}

/// A test client's socket in one namespace.
pub struct TestSocket {
    nsp: String,
    id: Sid,
    inbox: Arc<Inbox>,
    outgoing: mpsc::UnboundedSender<Bytes>,
    next_ack: Arc<AtomicU64>,
}

impl fmt::Debug for TestSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSocket")
            .field("nsp", &self.nsp)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TestSocket {
    /// The socket id the server assigned.
    pub fn id(&self) -> sockgate_core::SocketId {
        self.id
    }

    /// Emits an event.
    pub fn emit<P: IntoPayload>(&self, event: &str, data: P) -> Result<(), TestError> {
        let payload = data.into_payload().map_err(TestError::Serialize)?;
        send(&self.outgoing, &payload.into_event(&self.nsp, event))
    }

    /// Emits an event with an ack and waits for the answer.
    pub async fn emit_with_ack<P: IntoPayload>(
        &self,
        event: &str,
        data: P,
        timeout: Duration,
    ) -> Result<Payload, TestError> {
        let payload = data.into_payload().map_err(TestError::Serialize)?;
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inbox.acks.lock().insert(id, tx);
        send(
            &self.outgoing,
            &payload.into_event(&self.nsp, event).with_id(id),
        )?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(_)) => Err(TestError::Closed),
            Err(_) => {
                self.inbox.acks.lock().remove(&id);
                Err(TestError::Timeout)
            }
        }
    }

    /// The next event received in this namespace, in order.
    pub async fn next_event(&self, timeout: Duration) -> Result<(String, Payload), TestError> {
        self.wait(timeout, |queue| queue.pop_front()).await
    }

    /// The first received event named `event`; earlier events of other names stay queued.
    pub async fn wait_for(&self, event: &str, timeout: Duration) -> Result<Payload, TestError> {
        self.wait(timeout, |queue| {
            let index = queue.iter().position(|(name, _)| name == event)?;
            queue.remove(index).map(|(_, payload)| payload)
        })
        .await
    }

    async fn wait<T>(
        &self,
        timeout: Duration,
        mut take: impl FnMut(&mut VecDeque<(String, Payload)>) -> Option<T>,
    ) -> Result<T, TestError> {
        let deadline = crate::deadline_after(timeout);
        loop {
            let notified = self.inbox.arrived.notified();
            if let Some(found) = self
                .inbox
                .events
                .lock()
                .get_mut(&self.nsp)
                .and_then(&mut take)
            {
                return Ok(found);
            }
            if self.inbox.closed.load(Ordering::Acquire) {
                return Err(TestError::Closed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(TestError::Timeout);
            }
        }
    }

    /// Whether the server disconnected this socket (`41`).
    pub fn was_disconnected(&self) -> bool {
        self.inbox.disconnected.lock().contains(&self.nsp)
    }

    /// Leaves the namespace (the server sees `client namespace disconnect`).
    pub fn disconnect(&self) -> Result<(), TestError> {
        send(&self.outgoing, &Packet::disconnect(&self.nsp))
    }
}
