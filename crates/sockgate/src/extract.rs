//! Extractors: the types a handler can take as arguments.
//!
//! | extractor | gives |
//! |---|---|
//! | [`SocketRef`] | the socket |
//! | [`Data<T>`] | the first argument (for connect handlers: the `auth` payload), deserialized |
//! | [`TryData<T>`] | the same, or the deserialization error |
//! | [`Args<T>`] | every argument, deserialized as a tuple or `Vec` |
//! | [`Payload`] | every argument as sent, binary included |
//! | [`Bin`] | the binary attachments |
//! | [`AckSender`] | answers the client's ack |
//! | [`Event`] | the event name (for `on_any`) |
//! | [`State<T>`] | application state given to the server builder |
//! | [`Extension<T>`] | a value from the socket's extensions |
//! | [`NsParams`] | the parameters matched by a dynamic namespace pattern |
//!
//! An extractor that fails (a [`Data<T>`] that does not deserialize, a missing [`State<T>`]...)
//! skips the handler: the rejection is logged at `warn` with the socket id, the event and the
//! reason, and nothing is sent to the client (an ack it asked for stays unanswered). Use
//! [`TryData<T>`] to answer such messages yourself; see [`crate::handler`].

use std::convert::Infallible;
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::ack::AckSender;
use crate::handler::{FromMessageParts, MessageParts};
pub use crate::payload::Payload;
use crate::socket::SocketRef;

impl FromMessageParts for SocketRef {
    type Rejection = Infallible;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts) -> Result<Self, Infallible> {
        Ok(socket.clone())
    }
}

/// The first argument, deserialized as `T`. The handler is skipped (and the failure logged at
/// `warn`) when it does not deserialize; use [`TryData`] to handle that yourself.
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

/// Why [`Data`] could not be extracted.
#[derive(Debug)]
pub struct DataRejection(pub serde_json::Error);

impl fmt::Display for DataRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid message data: {}", self.0)
    }
}

fn first_arg(parts: &MessageParts) -> &Value {
    static NULL: Value = Value::Null;
    parts.payload.args.first().unwrap_or(&NULL)
}

impl<T: DeserializeOwned> FromMessageParts for Data<T> {
    type Rejection = DataRejection;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, DataRejection> {
        T::deserialize(first_arg(parts))
            .map(Data)
            .map_err(DataRejection)
    }
}

/// The first argument deserialized as `T`, or why it could not be.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

impl<T: DeserializeOwned> FromMessageParts for TryData<T> {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
        Ok(TryData(T::deserialize(first_arg(parts))))
    }
}

/// Every argument, deserialized as `T` (a tuple, a `Vec<Value>`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Args<T>(pub T);

impl<T: DeserializeOwned> FromMessageParts for Args<T> {
    type Rejection = DataRejection;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, DataRejection> {
        let args = Value::Array(parts.payload.args.clone());
        T::deserialize(&args).map(Args).map_err(DataRejection)
    }
}

impl FromMessageParts for Payload {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
        Ok(parts.payload.clone())
    }
}

/// The binary attachments of the message, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin(pub Vec<Bytes>);

impl FromMessageParts for Bin {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
        Ok(Bin(parts.payload.attachments.clone()))
    }
}

impl FromMessageParts for AckSender {
    type Rejection = Infallible;
    fn from_message_parts(socket: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
        Ok(AckSender::new(socket.clone(), parts.ack_id))
    }
}

/// The event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

impl FromMessageParts for Event {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
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

impl<T: Clone + Send + Sync + 'static> FromMessageParts for State<T> {
    type Rejection = MissingValue;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts) -> Result<Self, MissingValue> {
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

impl<T: Clone + Send + Sync + 'static> FromMessageParts for Extension<T> {
    type Rejection = MissingValue;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts) -> Result<Self, MissingValue> {
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

impl FromMessageParts for NsParams {
    type Rejection = Infallible;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts) -> Result<Self, Infallible> {
        Ok(NsParams(socket.ns.params().to_vec()))
    }
}

impl FromMessageParts for MessageParts {
    type Rejection = Infallible;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts) -> Result<Self, Infallible> {
        Ok(parts.clone())
    }
}
