//! Gateway extractors: NestJS's parameter decorators as types.
//!
//! | NestJS | sockgate |
//! |---|---|
//! | `@MessageBody() x: T` | [`MessageBody<T>`] |
//! | `@MessageBody('prop') x: T` | [`Prop<K, T>`] (with a [`PropKey`]) |
//! | `@MessageBody(ValidationPipe) x: Dto` | `Valid<T>` (feature `validator`) |
//! | `@ConnectedSocket() client` | [`ConnectedSocket`] or [`SocketRef`] |
//! | `@Ack() ack` | [`Ack`] (suppresses the automatic ack from the return value) |
//! | `@WebSocketServer() io` | [`WsServer`] |
//! | `ctx.switchToWs().getPattern()` | [`Pattern`] |
//! | `client.handshake.query` / `.auth` | [`Query`] / [`Auth<T>`] |
//! | injected services | [`crate::extract::State<T>`] |
//!
//! An extractor that fails reaches the client through the exception filters (a readable
//! `exception` event), never silently.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::exception::{FieldError, WsException};
use crate::ack::AckSender;
use crate::handler::MessageParts;
use crate::handshake::QueryMap;
use crate::namespace::NamespaceRef;
use crate::socket::SocketRef;

/// Everything a gateway handler can draw its arguments from.
#[derive(Debug)]
pub struct GatewayContext {
    /// The calling socket.
    pub socket: SocketRef,
    /// The message.
    pub parts: MessageParts,
    pub(crate) ack_taken: AtomicBool,
}

impl GatewayContext {
    pub(crate) fn new(socket: SocketRef, parts: MessageParts) -> Self {
        GatewayContext {
            socket,
            parts,
            ack_taken: AtomicBool::new(false),
        }
    }

    /// The body as NestJS passes it: nothing → `null`, one argument → it, several → an array.
    pub fn body(&self) -> Value {
        match self.parts.payload.args.as_slice() {
            [] => Value::Null,
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        }
    }
}

/// Builds a gateway handler argument.
pub trait FromGatewayContext: Sized {
    /// Extracts the value, or the exception the client gets.
    fn from_context(context: &GatewayContext) -> Result<Self, WsException>;
}

impl FromGatewayContext for SocketRef {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        Ok(context.socket.clone())
    }
}

/// The calling socket (`@ConnectedSocket()`).
#[derive(Debug, Clone)]
pub struct ConnectedSocket(pub SocketRef);

impl FromGatewayContext for ConnectedSocket {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        Ok(ConnectedSocket(context.socket.clone()))
    }
}

fn invalid_body(field: &str, error: impl std::fmt::Display) -> WsException {
    WsException::Validation(vec![FieldError {
        field: field.to_owned(),
        messages: vec![error.to_string()],
    }])
}

/// The message body deserialized as `T` (`@MessageBody()`). Several arguments arrive as an
/// array, as in NestJS.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageBody<T>(pub T);

impl<T: DeserializeOwned> FromGatewayContext for MessageBody<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        serde_json::from_value(context.body())
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

impl<K: PropKey, T: DeserializeOwned> FromGatewayContext for Prop<K, T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        let value = context.body().get(K::KEY).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value)
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
impl<T: DeserializeOwned + validator::Validate> FromGatewayContext for Valid<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        let value: T =
            serde_json::from_value(context.body()).map_err(|e| invalid_body("body", e))?;
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

/// Every argument deserialized as `T` (a tuple for several arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct Args<T>(pub T);

impl<T: DeserializeOwned> FromGatewayContext for Args<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        let args = Value::Array(context.parts.payload.args.clone());
        serde_json::from_value(args)
            .map(Args)
            .map_err(|e| invalid_body("args", e))
    }
}

/// The client's ack callback (`@Ack()`); taking it suppresses the automatic ack from the
/// return value.
#[derive(Debug)]
pub struct Ack(pub AckSender);

impl FromGatewayContext for Ack {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        context.ack_taken.store(true, Ordering::Release);
        Ok(Ack(AckSender::new(
            context.socket.clone(),
            context.parts.ack_id,
        )))
    }
}

/// The gateway's namespace (`@WebSocketServer()`): emit to everyone, to rooms...
#[derive(Debug, Clone)]
pub struct WsServer(pub NamespaceRef);

impl FromGatewayContext for WsServer {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        Ok(WsServer(context.socket.namespace()))
    }
}

/// The event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub String);

impl FromGatewayContext for Pattern {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        Ok(Pattern(context.parts.event.clone()))
    }
}

/// The handshake query (a multi-map whose `get` returns the last value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(pub QueryMap);

impl FromGatewayContext for Query {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        Ok(Query(context.socket.handshake().query().clone()))
    }
}

/// The CONNECT `auth` payload deserialized as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth<T>(pub T);

impl<T: DeserializeOwned> FromGatewayContext for Auth<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        serde_json::from_value(context.socket.handshake().auth.clone())
            .map(Auth)
            .map_err(|e| invalid_body("auth", e))
    }
}

impl<T: Clone + Send + Sync + 'static> FromGatewayContext for crate::extract::State<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        context
            .socket
            .ns
            .server()
            .state
            .get::<T>()
            .map(crate::extract::State)
            .ok_or_else(|| {
                WsException::internal(format!(
                    "no state of type {} was registered",
                    std::any::type_name::<T>()
                ))
            })
    }
}

impl<T: Clone + Send + Sync + 'static> FromGatewayContext for crate::extract::Extension<T> {
    fn from_context(context: &GatewayContext) -> Result<Self, WsException> {
        context
            .socket
            .extensions
            .get::<T>()
            .map(crate::extract::Extension)
            .ok_or_else(|| {
                WsException::internal(format!(
                    "no extension of type {} on this socket",
                    std::any::type_name::<T>()
                ))
            })
    }
}
