//! Gateway extractors: NestJS's parameter decorators as types.
//!
//! | NestJS | sockgate |
//! |---|---|
//! | `@MessageBody() x: T` | [`MessageBody<T>`] |
//! | `@MessageBody('prop') x: T` | [`Prop<K, T>`] (with a [`PropKey`]) |
//! | `@MessageBody(ValidationPipe) x: Dto` | `Valid<T>` (feature `validator`) |
//! | `@ConnectedSocket() client` | [`ConnectedSocket`] or [`SocketRef`] |
//! | `@Ack() ack` | [`Ack`] or [`AckSender`] (suppresses the automatic ack from the return value) |
//! | `@WebSocketServer() io` | [`WsServer`] |
//! | `ctx.switchToWs().getPattern()` | [`Pattern`] |
//! | `client.handshake.query` / `.auth` | [`Query`] / [`Auth<T>`] |
//! | injected services | [`crate::extract::State<T>`] |
//! | the gateway (`this`) | `&self` first, or `self: Arc<Self>` (an extractor of [`GatewayScope`](super::GatewayScope)) |
//!
//! Every extractor of the server ([`crate::extract`]: [`crate::extract::Data`],
//! [`crate::extract::Payload`], [`crate::extract::Bin`], [`crate::extract::Extension`]...)
//! works in a gateway handler too, and these work in the server's handlers: they are one
//! family, [`FromMessageParts`]. An extractor that fails in a gateway reaches the client
//! through the exception filters (a readable `exception` event), never silently.

use std::convert::Infallible;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::exception::{FieldError, WsException};
pub use crate::ack::AckSender;
pub use crate::extract::Args;
use crate::handler::{FromMessageParts, HandlerScope, MessageParts};
use crate::handshake::QueryMap;
use crate::namespace::NamespaceRef;
use crate::socket::SocketRef;

/// A message and its socket: what guards see.
#[derive(Debug)]
#[non_exhaustive]
pub struct GatewayContext {
    /// The calling socket.
    pub socket: SocketRef,
    /// The message.
    pub parts: MessageParts,
}

impl GatewayContext {
    pub(crate) fn new(socket: SocketRef, parts: MessageParts) -> Self {
        GatewayContext { socket, parts }
    }

    /// The body as NestJS passes it: nothing → `null`, one argument → it, several → an array.
    pub fn body(&self) -> Value {
        body(&self.parts)
    }
}

/// The body as NestJS passes it (binary arguments as their placeholders).
fn body(parts: &MessageParts) -> Value {
    match parts.payload.args() {
        [] => Value::Null,
        [one] => one.clone(),
        many => Value::Array(many.to_vec()),
    }
}

/// Deserializes the body as NestJS passes it, with binary as bytes (see
/// [`crate::Payload::decode_body`]).
fn decode_body<T: DeserializeOwned>(parts: &MessageParts) -> Result<T, serde_json::Error> {
    parts.payload.decode_body()
}

/// The calling socket (`@ConnectedSocket()`).
#[derive(Debug, Clone)]
pub struct ConnectedSocket(pub SocketRef);

impl<S> FromMessageParts<S> for ConnectedSocket {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(ConnectedSocket(socket.clone()))
    }
}

fn invalid_body(field: &str, error: impl std::fmt::Display) -> WsException {
    WsException::Validation(vec![FieldError {
        field: field.to_owned(),
        messages: vec![error.to_string()],
    }])
}

/// The message body deserialized as `T` (`@MessageBody()`). Several arguments arrive as an
/// array, as in NestJS; binary arguments as bytes (`Bytes`, `Vec<u8>`).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageBody<T>(pub T);

impl<S, T: DeserializeOwned> FromMessageParts<S> for MessageBody<T> {
    type Rejection = WsException;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, WsException> {
        decode_body(parts)
            .map(MessageBody)
            .map_err(|e| invalid_body("body", e))
    }
}

/// Names the property a [`Prop`] extracts.
pub trait PropKey: Send + 'static {
    /// The property name.
    const KEY: &'static str;
}

/// One property of the body (`@MessageBody('prop')`), e.g. `Prop<Name, String>` with
/// `struct Name; impl PropKey for Name { const KEY: &'static str = "name"; }` (the
/// `#[message_body("name")]` attribute of the macros writes this for you).
#[derive(Debug, Clone, PartialEq)]
pub struct Prop<K, T>(pub T, pub PhantomData<K>);

impl<S, K: PropKey, T: DeserializeOwned> FromMessageParts<S> for Prop<K, T> {
    type Rejection = WsException;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, WsException> {
        let value = body(parts).get(K::KEY).cloned().unwrap_or(Value::Null);
        crate::payload::decode_value(&value, &parts.payload.attachments)
            .map(|v| Prop(v, PhantomData))
            .map_err(|e| invalid_body(K::KEY, e))
    }
}

/// The body deserialized and validated with the `validator` crate (a validation pipe; feature
/// `validator`).
/// Failures reach the client as `{"status":"error","message":"Validation failed","errors":
/// [{"field":..,"messages":[..]}],..}`.
#[cfg(feature = "validator")]
#[derive(Debug, Clone, PartialEq)]
pub struct Valid<T>(pub T);

#[cfg(feature = "validator")]
impl<S, T: DeserializeOwned + validator::Validate> FromMessageParts<S> for Valid<T> {
    type Rejection = WsException;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, WsException> {
        let value: T = decode_body(parts).map_err(|e| invalid_body("body", e))?;
        match value.validate() {
            Ok(()) => Ok(Valid(value)),
            Err(errors) => Err(WsException::Validation(field_errors("", &errors))),
        }
    }
}

#[cfg(feature = "validator")]
fn field_errors(prefix: &str, errors: &validator::ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            validator::ValidationErrorsKind::Field(list) => out.push(FieldError {
                field: path,
                messages: list
                    .iter()
                    .map(|e| {
                        e.message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| format!("failed the `{}` check", e.code))
                    })
                    .collect(),
            }),
            validator::ValidationErrorsKind::Struct(inner) => {
                out.extend(field_errors(&path, inner));
            }
            validator::ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    out.extend(field_errors(&format!("{path}[{index}]"), inner));
                }
            }
        }
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

/// The client's ack callback (`@Ack()`); taking it (or an [`AckSender`]) suppresses the
/// automatic ack from the return value.
#[derive(Debug)]
pub struct Ack(pub AckSender);

impl<S: HandlerScope> FromMessageParts<S> for Ack {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
    ) -> Result<Self, Infallible> {
        AckSender::from_message_parts(socket, parts, scope).map(Ack)
    }
}

/// The gateway's namespace (`@WebSocketServer()`): emit to everyone, to rooms...
#[derive(Debug, Clone)]
pub struct WsServer(pub NamespaceRef);

impl<S> FromMessageParts<S> for WsServer {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(WsServer(socket.namespace()))
    }
}

/// The event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub String);

impl<S> FromMessageParts<S> for Pattern {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(Pattern(parts.event.clone()))
    }
}

/// The handshake query (a multi-map whose `get` returns the last value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(pub QueryMap);

impl<S> FromMessageParts<S> for Query {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(socket: &SocketRef, _: &MessageParts, _: &S) -> Result<Self, Infallible> {
        Ok(Query(socket.handshake().query().clone()))
    }
}

/// The CONNECT `auth` payload deserialized as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth<T>(pub T);

impl<S, T: DeserializeOwned> FromMessageParts<S> for Auth<T> {
    type Rejection = WsException;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        socket: &SocketRef,
        _: &MessageParts,
        _: &S,
    ) -> Result<Self, WsException> {
        T::deserialize(&socket.handshake().auth)
            .map(Auth)
            .map_err(|e| invalid_body("auth", e))
    }
}
