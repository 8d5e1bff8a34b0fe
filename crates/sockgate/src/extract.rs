//! Extractors: the types a handler can take as arguments.
//!
//! | extractor | gives |
//! |---|---|
//! | [`SocketRef`] | the socket |
//! | [`Data<T>`] | the first argument (for connect handlers: the `auth` payload), deserialized; binary as bytes (`Data<Bytes>`, `Data<Arg>`) |
//! | [`TryData<T>`] | the same, or the deserialization error |
//! | [`Args<T>`] | every argument, deserialized as a tuple or `Vec` |
//! | [`Payload`] | every argument as sent, binary included ([`Payload::arg`]: one [`Arg`]) |
//! | [`Bin`] | the binary attachments |
//! | [`AckSender`] | answers the client's ack |
//! | [`Event`] | the event name (for `on_any`) |
//! | [`State<T>`] | application state given to the server builder |
//! | [`Extension<T>`] | a value from the socket's extensions |
//! | [`NsParams`] | the parameters matched by a dynamic namespace pattern |
//! | [`MessageParts`] | the whole message |
//!
//! Every extractor here works in every [scope](crate::handler): in the server's handlers and
//! in a gateway's, where the gateway adds its own ([`crate::gateway::MessageBody`],
//! [`crate::gateway::Ack`]...). Write your own by implementing [`FromMessageParts`].
//!
//! An extractor that fails (a [`Data<T>`] that does not deserialize, a missing [`State<T>`]...)
//! skips the handler: the rejection is logged at `warn` with the socket id, the event and the
//! reason, and nothing is sent to the client (an ack it asked for stays unanswered). Use
//! [`TryData<T>`] to answer such messages yourself; see [`crate::handler`].

use std::convert::Infallible;
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;

pub use crate::ack::AckSender;
pub use crate::handler::MessageParts;
use crate::handler::{FromMessageParts, HandlerScope};
pub use crate::payload::{Arg, Payload};
use crate::socket::SocketRef;

impl<S> FromMessageParts<S> for SocketRef {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(socket.clone())
    }
}

/// The first argument, deserialized as `T` (for connect handlers: the `auth` payload). A
/// binary argument reads as bytes (`Data<Bytes>`, `Data<Vec<u8>>`, [`Data<Arg>`](Arg)); a
/// type that cannot hold bytes (`Data<serde_json::Value>`) is refused, never given the
/// placeholder object. The handler is skipped (and the failure logged at `warn`) when it
/// does not deserialize; use [`TryData`] to handle that yourself.
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

/// Why [`Data`] or [`Args`] could not be extracted.
#[derive(Debug)]
pub struct DataRejection {
    field: &'static str,
    binary: bool,
    error: serde_json::Error,
}

impl DataRejection {
    /// What was read: `"data"` ([`Data`]) or `"args"` ([`Args`]).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The deserialization error.
    pub fn error(&self) -> &serde_json::Error {
        &self.error
    }

    /// The deserialization error, owned.
    pub fn into_error(self) -> serde_json::Error {
        self.error
    }
}

impl fmt::Display for DataRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid message data: {}", self.error)?;
        if self.binary {
            f.write_str(
                " (the message holds binary: read it as `Bytes`, `Vec<u8>` or `Arg`, or take \
                 the `Payload`)",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for DataRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

fn rejection(field: &'static str, parts: &MessageParts, error: serde_json::Error) -> DataRejection {
    DataRejection {
        field,
        binary: parts.payload.has_binary(),
        error,
    }
}

impl<S, T: DeserializeOwned> FromMessageParts<S> for Data<T> {
    type Rejection = DataRejection;
    fn from_message_parts(
        _: &SocketRef,
        parts: &MessageParts,
        _: &S,
    ) -> Result<Self, DataRejection> {
        parts
            .payload
            .decode_arg(0)
            .map(Data)
            .map_err(|e| rejection("data", parts, e))
    }
}

/// The first argument deserialized as `T` (binary as bytes, as [`Data`]), or why it could
/// not be.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

impl<S, T: DeserializeOwned> FromMessageParts<S> for TryData<T> {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(TryData(parts.payload.decode_arg(0)))
    }
}

/// Every argument, deserialized as `T` (a tuple, a `Vec<Value>`, ...), binary as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Args<T>(pub T);

impl<S, T: DeserializeOwned> FromMessageParts<S> for Args<T> {
    type Rejection = DataRejection;
    fn from_message_parts(
        _: &SocketRef,
        parts: &MessageParts,
        _: &S,
    ) -> Result<Self, DataRejection> {
        parts
            .payload
            .decode_args()
            .map(Args)
            .map_err(|e| rejection("args", parts, e))
    }
}

impl<S> FromMessageParts<S> for Payload {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.payload.clone())
    }
    const TAKES_PAYLOAD: bool = true;
    fn from_taken_payload(payload: Payload) -> Option<Self> {
        Some(payload)
    }
}

/// The binary attachments of the message, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin(pub Vec<Bytes>);

impl<S> FromMessageParts<S> for Bin {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(Bin(parts.payload.attachments.clone()))
    }
}

/// Taking it tells the scope that the handler answers the ack itself (a gateway then sends
/// no ack from the return value).
impl<S: HandlerScope> FromMessageParts<S> for AckSender {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
    ) -> Result<Self, Infallible> {
        scope.ack_extracted();
        Ok(AckSender::new(socket.clone(), parts.ack_id))
    }
}

/// The event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

impl<S> FromMessageParts<S> for Event {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(Event(parts.event.clone()))
    }
}

/// Application state registered with [`crate::SocketIoBuilder::with_state`].
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

/// A missing [`State`] or [`Extension`].
#[derive(Debug)]
pub struct MissingValue(&'static str);

impl fmt::Display for MissingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no value of type {} was registered", self.0)
    }
}

impl<S, T: Clone + Send + Sync + 'static> FromMessageParts<S> for State<T> {
    type Rejection = MissingValue;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        socket: &SocketRef,
        _: &MessageParts,
        _: &S,
    ) -> Result<Self, MissingValue> {
        socket
            .ns
            .server()
            .state
            .get::<T>()
            .map(State)
            .ok_or(MissingValue(std::any::type_name::<T>()))
    }
}

/// A value from the socket's [`crate::Socket::extensions`].
#[derive(Debug, Clone)]
pub struct Extension<T>(pub T);

impl<S, T: Clone + Send + Sync + 'static> FromMessageParts<S> for Extension<T> {
    type Rejection = MissingValue;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        socket: &SocketRef,
        _: &MessageParts,
        _: &S,
    ) -> Result<Self, MissingValue> {
        socket
            .extensions
            .get::<T>()
            .map(Extension)
            .ok_or(MissingValue(std::any::type_name::<T>()))
    }
}

/// The parameters a dynamic namespace pattern matched (`/tenant/{id}` → `id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsParams(pub Vec<(String, String)>);

impl NsParams {
    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S> FromMessageParts<S> for NsParams {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(NsParams(socket.ns.params().to_vec()))
    }
}

impl<S> FromMessageParts<S> for MessageParts {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.clone())
    }
}
