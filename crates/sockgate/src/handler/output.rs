//! What a handler returns: [`HandlerOutput`], and the error type `?` converts into.

use std::error::Error as StdError;
use std::fmt;

use crate::socket::SocketRef;

/// What a handler may return in scope `S`: in the plain server `()` or a `Result<(), E>`
/// whose error converts into [`HandlerError`]; in a gateway any
/// [`crate::gateway::IntoWsReply`].
pub trait HandlerOutput<S = ()>: Send + 'static {
    /// Reports the outcome of the handler of `event` (errors are logged by the plain server,
    /// sent through the exception filters by a gateway).
    fn finish(self, socket: &SocketRef, event: &str, scope: S);
}

impl HandlerOutput for () {
    fn finish(self, _socket: &SocketRef, _event: &str, _scope: ()) {}
}

/// The error is logged at `warn` with the socket id and the event; nothing is sent.
impl<E: Into<HandlerError> + Send + 'static> HandlerOutput for Result<(), E> {
    fn finish(self, socket: &SocketRef, event: &str, _scope: ()) {
        if let Err(error) = self {
            crate::observe::handler_failed(
                socket,
                event,
                crate::observe::HandlerFailureKind::Errored,
            );
            let error = error.into();
            tracing::warn!(socket = %socket.id(), event, %error, "handler returned an error");
        }
    }
}

/// The error a handler returns: any `std::error::Error + Send + Sync` ([`crate::SendError`],
/// [`crate::AckError`], `serde_json::Error`, your own), a `String` or a `&str`, so that `?`
/// works on all of them in one handler.
///
/// The plain server logs it; in a gateway it is an internal error (the client sees
/// "Internal server error", the message is logged); return a
/// [`crate::gateway::WsException`] for what the client should read.
pub struct HandlerError(Box<dyn StdError + Send + Sync>);

/// A handler's result: `Result<T, HandlerError>`. Write `-> HandlerResult` on a closure
/// that ends in `Ok(())`, and `HandlerResult::Ok(())` at the end of an `async` block, where
/// nothing else tells Rust the error type.
pub type HandlerResult<T = ()> = Result<T, HandlerError>;

impl HandlerError {
    /// The error inside.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync> {
        self.0
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

// `HandlerError` itself is no `std::error::Error` (as `anyhow::Error`), so that this
// conversion covers every error without overlapping `From<T> for T`.
impl<E: Into<Box<dyn StdError + Send + Sync>>> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError(error.into())
    }
}
