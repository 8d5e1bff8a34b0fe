//! Acknowledgements in both directions.
//!
//! One file because the ack table, the futures that wait on it and the senders that answer
//! share the entries' life cycle (an entry dies with its waiter).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use sockgate_core::Sid;
use tokio::sync::{mpsc, oneshot};

use crate::payload::{IntoPayload, Outgoing, Payload};
use crate::socket::SocketRef;

/// Why an ack did not arrive.
///
/// New variants may be added: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout: the client may be slow or gone; retry, give up, or
    /// raise the timeout ([`SocketIoBuilder::ack_timeout`](crate::SocketIoBuilder::ack_timeout),
    /// or per call with `socket.timeout(..)`).
    Timeout,
    /// The socket disconnected before answering: the answer will never come; treat the
    /// request as failed (the client may reconnect and ask again).
    Disconnected,
    /// The answer did not deserialize into the requested type (the source is serde_json's
    /// error): the client answered something else than expected; ask for
    /// [`Payload`] (with `raw()`) or a `serde_json::Value` to see what it sent.
    Decode(serde_json::Error),
    /// The packet could not be sent (the source says why: socket closed, reserved event
    /// name, arguments not serializable); see [`SendError`](crate::SendError) for what to do.
    Send(crate::SendError),
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::Timeout => f.write_str("operation has timed out"),
            AckError::Disconnected => f.write_str("socket disconnected before acknowledging"),
            AckError::Decode(e) => write!(f, "could not decode the acknowledgement: {e}"),
            AckError::Send(e) => write!(f, "could not send: {e}"),
        }
    }
}

impl std::error::Error for AckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AckError::Decode(error) => Some(error),
            AckError::Send(error) => Some(error),
            AckError::Timeout | AckError::Disconnected => None,
        }
    }
}

/// Answers of a broadcast with acks, each tagged with the socket that answered.
pub(crate) type SharedAcks = mpsc::UnboundedSender<(Option<Sid>, Payload)>;

/// Who waits for one ack id of a socket.
#[derive(Debug)]
enum Waiter {
    /// One `emit_with_ack`.
    Single(oneshot::Sender<Payload>),
    /// A broadcast with acks: every recipient's answer goes into one channel, so the broadcast
    /// needs no task or timer per recipient.
    Shared(Sid, SharedAcks),
}

/// Pending acks of one socket, by ack id.
#[derive(Debug, Default)]
pub(crate) struct AckTable {
    pending: HashMap<u64, Waiter>,
}

impl AckTable {
    pub(crate) fn insert(&mut self, id: u64) -> oneshot::Receiver<Payload> {
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id, Waiter::Single(tx));
        rx
    }

    /// Waits for `id` as one recipient (`sid`) of a broadcast with acks.
    pub(crate) fn insert_shared(&mut self, id: u64, sid: Sid, answers: SharedAcks) {
        self.pending.insert(id, Waiter::Shared(sid, answers));
    }

    /// Completes the ack `id`; unknown ids (late, duplicate) are ignored.
    pub(crate) fn resolve(&mut self, id: u64, payload: Payload) -> bool {
        match self.pending.remove(&id) {
            Some(Waiter::Single(tx)) => tx.send(payload).is_ok(),
            Some(Waiter::Shared(sid, tx)) => tx.send((Some(sid), payload)).is_ok(),
            None => false,
        }
    }

    pub(crate) fn forget(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    /// Number of acks waited for.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Drops every pending ack: their futures resolve to [`AckError::Disconnected`].
    pub(crate) fn clear(&mut self) {
        self.pending = HashMap::new();
    }
}

/// Removes an ack id from a socket's table when the wait ends for any reason: answered, timed
/// out, or the future dropped (a `select!` that lost, a cancelled task), so an abandoned ack
/// does not stay until disconnect.
struct ForgetOnDrop {
    socket: SocketRef,
    id: u64,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        if let Some(rare) = self.socket.rare_if_any() {
            rare.acks.lock().forget(self.id);
        }
    }
}

/// What an ack's arguments are decoded into ([`AckFuture<T>`], [`AckResponses::values`]).
///
/// - any `T: Deserialize`: the first argument (a missing one reads as `null`), binary as bytes
///   (`Bytes`, `Vec<u8>`, [`crate::Arg`]);
/// - [`Args<T>`](crate::extract::Args) with a tuple (or a `Vec`): every argument, for a client
///   that answers `callback(a, b, c)`;
/// - [`Payload`]: every argument as sent, binary included.
///
/// ```no_run
/// use sockgate::extract::Args;
/// use sockgate::SocketRef;
///
/// async fn ask(socket: SocketRef) -> Result<(), sockgate::AckError> {
///     // The client answers `callback("ok", 42, Buffer.from([1, 2]))`.
///     let Args((status, count, blob)): Args<(String, u32, bytes::Bytes)> =
///         socket.emit_with_ack("question", &"how many?").await?;
///     println!("{status}: {count} and {} bytes", blob.len());
///     Ok(())
/// }
/// ```
pub trait FromAck: Sized {
    /// Decodes the arguments.
    fn from_ack(payload: Payload) -> Result<Self, serde_json::Error>;
}

impl<T: DeserializeOwned> FromAck for T {
    fn from_ack(payload: Payload) -> Result<Self, serde_json::Error> {
        payload.decode_arg(0)
    }
}

impl<T: DeserializeOwned> FromAck for crate::extract::Args<T> {
    fn from_ack(payload: Payload) -> Result<Self, serde_json::Error> {
        payload.decode_args().map(crate::extract::Args)
    }
}

impl FromAck for Payload {
    fn from_ack(payload: Payload) -> Result<Self, serde_json::Error> {
        Ok(payload)
    }
}

/// The answer to one `emit_with_ack`, decoded as `T` (see [`FromAck`]: the first argument,
/// every argument as [`Args<(A, B, ..)>`](crate::extract::Args), or the raw [`Payload`], also
/// reachable with [`AckFuture::raw`]).
pub struct AckFuture<T> {
    inner: Pin<Box<dyn Future<Output = Result<Payload, AckError>> + Send>>,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for AckFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AckFuture")
    }
}

impl<T: FromAck> AckFuture<T> {
    pub(crate) fn new(
        socket: SocketRef,
        id: u64,
        rx: oneshot::Receiver<Payload>,
        timeout: Duration,
    ) -> Self {
        // Built outside the future: dropping the future before its first poll forgets too.
        let forget = ForgetOnDrop { socket, id };
        AckFuture {
            inner: Box::pin(async move {
                let forget = forget;
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(payload)) => Ok(payload),
                    Ok(Err(_)) => Err(AckError::Disconnected),
                    Err(_) => {
                        let socket = &forget.socket;
                        socket.ns.observe(|o, ns| o.ack_timed_out(ns, Some(socket)));
                        Err(AckError::Timeout)
                    }
                }
            }),
            _marker: std::marker::PhantomData,
        }
    }

    pub(crate) fn failed(error: AckError) -> Self {
        AckFuture {
            inner: Box::pin(async move { Err(error) }),
            _marker: std::marker::PhantomData,
        }
    }

    /// Every argument of the answer, binary included.
    pub async fn raw(self) -> Result<Payload, AckError> {
        self.inner.await
    }
}

impl<T: FromAck> Future for AckFuture<T> {
    type Output = Result<T, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner
            .as_mut()
            .poll(cx)
            .map(|result| T::from_ack(result?).map_err(AckError::Decode))
    }
}

/// Every answer to a broadcast with acks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckResponses {
    /// Answers, by socket (remote sockets are keyed by a nil id when their node does not say).
    pub answers: Vec<(Option<Sid>, Payload)>,
    /// Local sockets that did not answer in time.
    pub missing: Vec<Sid>,
    /// How many answers were expected in all (local and remote).
    pub expected: usize,
}

impl AckResponses {
    /// True when everyone answered.
    pub fn is_complete(&self) -> bool {
        self.answers.len() == self.expected
    }

    /// Each answer decoded as `T` (see [`FromAck`]): its first argument for a plain type,
    /// every argument for [`Args<(A, B, ..)>`](crate::extract::Args).
    pub fn values<T: FromAck>(&self) -> Vec<Result<T, serde_json::Error>> {
        self.answers
            .iter()
            .map(|(_, p)| T::from_ack(p.clone()))
            .collect()
    }
}

/// Answers the client's ack once. Dropping it without sending sends nothing (as in Node).
///
/// In a server-side event handler ([`crate::NamespaceRef::on_server_side`]) it answers the
/// server that called `serverSideEmit` with an ack; that answer carries one argument (the
/// first), as Node's does.
#[derive(Debug)]
pub struct AckSender {
    target: AckTarget,
    id: Option<u64>,
}

enum AckTarget {
    Socket(SocketRef),
    // A mutex only to make the sender `Sync` as extractors are; never contended.
    ServerSide(parking_lot::Mutex<Option<sockgate_core::ServerSideAck>>),
}

impl fmt::Debug for AckTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckTarget::Socket(socket) => f.debug_tuple("Socket").field(&socket.id()).finish(),
            AckTarget::ServerSide(ack) => f
                .debug_tuple("ServerSide")
                .field(&ack.lock().is_some())
                .finish(),
        }
    }
}

impl AckSender {
    pub(crate) fn new(socket: SocketRef, id: Option<u64>) -> Self {
        AckSender {
            target: AckTarget::Socket(socket),
            id,
        }
    }

    /// Answers a server-side emit (the id only says whether an answer is expected).
    pub(crate) fn server_side(ack: Option<sockgate_core::ServerSideAck>) -> Self {
        AckSender {
            id: ack.is_some().then_some(0),
            target: AckTarget::ServerSide(parking_lot::Mutex::new(ack)),
        }
    }

    /// Whether the client asked for an ack.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Answers with `data` (a tuple sends several arguments, a [`Payload`] sends them as is).
    /// Without a requested ack this does nothing.
    pub fn send<P: IntoPayload>(self, data: P) -> Result<(), crate::SendError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        let payload = data.into_payload().map_err(crate::SendError::Serialize)?;
        match self.target {
            AckTarget::Socket(socket) => socket.send_payload(payload, Outgoing::Ack(id)),
            AckTarget::ServerSide(ack) => {
                if let Some(ack) = ack.into_inner() {
                    ack(payload
                        .into_args()
                        .into_iter()
                        .next()
                        .unwrap_or(serde_json::Value::Null));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn payload(n: i64) -> Payload {
        Payload::from_parts(vec![Value::from(n)], Vec::new())
    }

    #[test]
    fn resolves_each_id_once() {
        let mut table = AckTable::default();
        let mut first = table.insert(1);
        let mut second = table.insert(2);
        assert!(table.resolve(2, payload(2)));
        assert!(!table.resolve(2, payload(3)), "a duplicate ack is ignored");
        assert!(!table.resolve(9, payload(9)), "an unknown id is ignored");
        assert_eq!(second.try_recv().unwrap(), payload(2));
        assert!(first.try_recv().is_err(), "still pending");
        assert!(table.resolve(1, payload(1)));
        assert_eq!(first.try_recv().unwrap(), payload(1));
    }

    #[test]
    fn clearing_fails_the_waiters() {
        let mut table = AckTable::default();
        let mut rx = table.insert(7);
        table.clear();
        assert!(matches!(
            rx.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ));
        let mut rx = table.insert(8);
        table.forget(8);
        assert!(rx.try_recv().is_err());
        assert!(!table.resolve(8, payload(8)));
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use crate::extract::Args;
    use bytes::Bytes;
    use serde_json::json;

    #[test]
    fn an_ack_decodes_as_its_first_argument_or_every_argument() {
        let answer = Payload::new()
            .with("ok")
            .with(json!(42))
            .binary(Bytes::from_static(b"\x01\x02"));
        let first: String = FromAck::from_ack(answer.clone()).unwrap();
        assert_eq!(first, "ok");
        let Args((status, count, blob)): Args<(String, u32, Bytes)> =
            FromAck::from_ack(answer.clone()).unwrap();
        assert_eq!((status.as_str(), count), ("ok", 42));
        assert_eq!(blob, Bytes::from_static(b"\x01\x02"));
        let raw: Payload = FromAck::from_ack(answer.clone()).unwrap();
        assert_eq!(raw, answer);
        let responses = AckResponses {
            answers: vec![(None, answer)],
            missing: Vec::new(),
            expected: 1,
        };
        let values = responses.values::<Args<(String, u32)>>();
        assert!(values[0].is_err(), "three arguments are not a pair");
        let values = responses.values::<Args<(String, u32, Vec<u8>)>>();
        assert_eq!(values[0].as_ref().unwrap().0 .2, vec![1, 2]);
    }
}
