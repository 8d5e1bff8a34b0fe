//! What a gateway handler returns, and what the client then receives.
//!
//! | return | client receives |
//! |---|---|
//! | `()`, `None`, `Value::Null` | nothing (no ack either, as in NestJS) |
//! | a value (`String`, numbers, `bool`, `Value`, `Vec<T>`, [`Json<T>`]) | the ack, if the client asked for one |
//! | [`WsResponse { event, data }`](WsResponse) | an `event` emit; never an ack |
//! | [`WsStream`] | each item handled as above (events emitted, the first value acked) |
//! | `Err(e)` | the exception filters (default: the `exception` event) |
//!
//! Only the explicit [`WsResponse`] type emits: a domain object that happens to have a field
//! named `event` is an ack like any other value (NestJS's footgun).

use std::pin::Pin;

use futures_util::Stream;
use serde::Serialize;
use serde_json::Value;

use super::exception::WsException;
use crate::payload::Payload;

/// An event to emit to the caller (NestJS's `WsResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsResponse<T> {
    /// The event name.
    pub event: String,
    /// Its data (one argument).
    pub data: T,
}

impl<T> WsResponse<T> {
    /// An event with data.
    pub fn new(event: impl Into<String>, data: T) -> Self {
        WsResponse {
            event: event.into(),
            data,
        }
    }
}

/// Any serializable value, sent as the ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// A stream of replies: each [`WsResponse`] is emitted as it comes, the first plain value is
/// the ack.
pub struct WsStream(pub(crate) Pin<Box<dyn Stream<Item = Reply> + Send>>);

impl std::fmt::Debug for WsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsStream")
    }
}

impl WsStream {
    /// Wraps a stream of replies.
    pub fn new<S, R>(stream: S) -> Self
    where
        S: Stream<Item = R> + Send + 'static,
        R: IntoWsReply,
    {
        use futures_util::StreamExt;
        WsStream(Box::pin(stream.map(IntoWsReply::into_reply)))
    }
}

/// The reply of a handler, resolved.
#[derive(Debug)]
pub enum Reply {
    /// Send nothing.
    Nothing,
    /// Answer the ack (if requested).
    Ack(Payload),
    /// Emit an event to the caller.
    Emit(String, Payload),
    /// Handle each item in turn.
    Stream(WsStream),
    /// Run the exception filters.
    Exception(WsException),
}

/// Converts a handler's return value into a [`Reply`].
pub trait IntoWsReply: Send + 'static {
    /// The reply.
    fn into_reply(self) -> Reply;
}

fn ack_of<T: Serialize>(value: &T) -> Reply {
    match Payload::from_value(value) {
        Ok(payload) => Reply::Ack(payload),
        Err(e) => Reply::Exception(WsException::Internal(e.to_string())),
    }
}

impl IntoWsReply for () {
    fn into_reply(self) -> Reply {
        Reply::Nothing
    }
}

impl IntoWsReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoWsReply for Payload {
    fn into_reply(self) -> Reply {
        Reply::Ack(self)
    }
}

impl<T: Serialize + Send + 'static> IntoWsReply for Json<T> {
    fn into_reply(self) -> Reply {
        ack_of(&self.0)
    }
}

impl<T: Serialize + Send + 'static> IntoWsReply for WsResponse<T> {
    fn into_reply(self) -> Reply {
        match Payload::from_value(&self.data) {
            Ok(payload) => Reply::Emit(self.event, payload),
            Err(e) => Reply::Exception(WsException::Internal(e.to_string())),
        }
    }
}

impl IntoWsReply for WsStream {
    fn into_reply(self) -> Reply {
        Reply::Stream(self)
    }
}

impl<R: IntoWsReply> IntoWsReply for Option<R> {
    fn into_reply(self) -> Reply {
        self.map_or(Reply::Nothing, IntoWsReply::into_reply)
    }
}

impl<R: IntoWsReply, E: Into<WsException> + Send + 'static> IntoWsReply for Result<R, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => value.into_reply(),
            Err(error) => Reply::Exception(error.into()),
        }
    }
}

macro_rules! ack_values {
    ($($ty:ty),*) => {
        $(impl IntoWsReply for $ty {
            fn into_reply(self) -> Reply {
                ack_of(&self)
            }
        })*
    };
}

ack_values!(String, &'static str, bool, i32, i64, u32, u64, f64);

/// `null` sends nothing, as NestJS does for `null`/`undefined`; any other value is the ack.
impl IntoWsReply for Value {
    fn into_reply(self) -> Reply {
        if self.is_null() {
            Reply::Nothing
        } else {
            ack_of(&self)
        }
    }
}

impl<T: Serialize + Send + 'static> IntoWsReply for Vec<T> {
    fn into_reply(self) -> Reply {
        ack_of(&self)
    }
}
