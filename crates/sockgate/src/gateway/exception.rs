//! Exceptions and exception filters: how a failing handler is reported to its client.

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::socket::SocketRef;

/// An error a gateway handler, guard or hook reports to the client (NestJS's `WsException`).
///
/// Returned as the `Err` of a handler, it goes through the exception filters; the default
/// filter emits an `exception` event to the caller and never answers its ack.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WsException {
    /// A message for the client: `{"status":"error","message":..,"cause":{..}}`.
    Message(String),
    /// An object or array sent to the client as is (no status, no cause), as NestJS does.
    Object(Value),
    /// Body validation failed: `{"status":"error","message":"Validation failed","errors":
    /// [{"field":..,"messages":[..]}],"cause":{..}}`. Readable, unlike NestJS's
    /// "Internal server error" (#3476).
    Validation(Vec<FieldError>),
    /// Anything unexpected: logged in full, the client only sees "Internal server error".
    Internal(String),
}

/// One invalid field of a message body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field path (`name`, `address.city`, `items[2]`).
    pub field: String,
    /// What is wrong with it.
    pub messages: Vec<String>,
}

impl WsException {
    /// A message for the client.
    pub fn new(message: impl Into<String>) -> Self {
        WsException::Message(message.into())
    }

    /// An object or array sent as is.
    pub fn object(value: Value) -> Self {
        WsException::Object(value)
    }

    /// An unexpected error, hidden from the client.
    pub fn internal(error: impl fmt::Display) -> Self {
        WsException::Internal(error.to_string())
    }

    /// The guard refusal (`Forbidden resource`).
    pub fn forbidden() -> Self {
        WsException::Message("Forbidden resource".to_owned())
    }

    /// The message as the client sees it.
    pub fn client_message(&self) -> &str {
        match self {
            WsException::Message(m) => m,
            WsException::Object(_) => "",
            WsException::Validation(_) => "Validation failed",
            WsException::Internal(_) => "Internal server error",
        }
    }
}

impl fmt::Display for WsException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsException::Message(m) => f.write_str(m),
            WsException::Object(v) => write!(f, "{v}"),
            WsException::Validation(errors) => {
                write!(f, "validation failed:")?;
                for e in errors {
                    write!(f, " {}: {};", e.field, e.messages.join(", "))?;
                }
                Ok(())
            }
            WsException::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for WsException {}

impl From<&str> for WsException {
    fn from(message: &str) -> Self {
        WsException::Message(message.to_owned())
    }
}

impl From<String> for WsException {
    fn from(message: String) -> Self {
        WsException::Message(message)
    }
}

impl From<serde_json::Error> for WsException {
    fn from(error: serde_json::Error) -> Self {
        WsException::Internal(error.to_string())
    }
}

impl From<crate::SendError> for WsException {
    fn from(error: crate::SendError) -> Self {
        WsException::Internal(error.to_string())
    }
}

impl From<crate::AckError> for WsException {
    fn from(error: crate::AckError) -> Self {
        WsException::Internal(error.to_string())
    }
}

impl From<std::convert::Infallible> for WsException {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// A [`crate::extract::Data`] or [`crate::extract::Args`] that did not deserialize: a
/// validation error on `data` / `args`, as [`super::MessageBody`] reports one on `body`.
impl From<crate::extract::DataRejection> for WsException {
    fn from(rejection: crate::extract::DataRejection) -> Self {
        WsException::Validation(vec![FieldError {
            field: rejection.field().to_owned(),
            messages: vec![rejection.error().to_string()],
        }])
    }
}

/// A missing [`crate::extract::State`] or [`crate::extract::Extension`]: a server mistake,
/// so an internal error.
impl From<crate::extract::MissingValue> for WsException {
    fn from(missing: crate::extract::MissingValue) -> Self {
        WsException::Internal(missing.to_string())
    }
}

/// Any error a handler returned with `?`: an internal error (logged; the client sees
/// "Internal server error").
impl From<crate::handler::HandlerError> for WsException {
    fn from(error: crate::handler::HandlerError) -> Self {
        WsException::Internal(error.to_string())
    }
}

/// Where an exception happened: what a filter needs to answer it.
#[derive(Debug, Clone)]
pub struct ExceptionContext {
    /// The socket whose message (or connection) failed.
    pub socket: SocketRef,
    /// The event name (`handleConnection` / `handleDisconnect` for hooks).
    pub pattern: String,
    /// The message body as NestJS sees it (the first argument, or an array of all of them).
    pub data: Value,
}

/// Turns exceptions into what the client receives. Filters run in order (handler-level,
/// gateway-level, then global); the first that returns `true` handled the exception.
pub trait ExceptionFilter: Send + Sync + 'static {
    /// Handles the exception; return `false` to let the next filter try.
    fn catch(&self, exception: &WsException, context: &ExceptionContext) -> bool;
}

impl<F> ExceptionFilter for F
where
    F: Fn(&WsException, &ExceptionContext) -> bool + Send + Sync + 'static,
{
    fn catch(&self, exception: &WsException, context: &ExceptionContext) -> bool {
        self(exception, context)
    }
}

/// NestJS 11+'s `BaseWsExceptionFilter`: emits `exception` with
/// `{"status":"error","message":..,"cause":{"pattern":..,"data":..}}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultExceptionFilter {
    /// Drop `cause` from the payload (NestJS's `includeCause: false`).
    pub exclude_cause: bool,
}

impl DefaultExceptionFilter {
    /// The payload the client receives for `exception`.
    pub fn payload(&self, exception: &WsException, context: &ExceptionContext) -> Value {
        let cause = json!({ "pattern": context.pattern, "data": context.data });
        let mut payload = match exception {
            WsException::Object(value) => return value.clone(),
            WsException::Validation(errors) => json!({
                "status": "error",
                "message": exception.client_message(),
                "errors": errors,
            }),
            _ => json!({ "status": "error", "message": exception.client_message() }),
        };
        if !self.exclude_cause {
            payload["cause"] = cause;
        }
        payload
    }
}

impl ExceptionFilter for DefaultExceptionFilter {
    fn catch(&self, exception: &WsException, context: &ExceptionContext) -> bool {
        if let WsException::Internal(error) = exception {
            tracing::error!(socket = %context.socket.id(), pattern = %context.pattern, %error, "gateway handler failed");
        }
        let _ = context
            .socket
            .emit("exception", self.payload(exception, context));
        true
    }
}

/// The filters that apply to one handler, most specific first.
#[derive(Clone, Default)]
pub(crate) struct FilterChain {
    pub(crate) filters: Vec<Arc<dyn ExceptionFilter>>,
}

impl FilterChain {
    pub(crate) fn handle(&self, exception: &WsException, context: &ExceptionContext) {
        for filter in &self.filters {
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                filter.catch(exception, context)
            }))
            .unwrap_or(false);
            if handled {
                return;
            }
        }
        DefaultExceptionFilter::default().catch(exception, context);
    }
}
