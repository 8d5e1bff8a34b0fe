//! Handlers: plain functions or closures whose arguments are extractors, as in axum.
//!
//! One handler system serves the whole crate. A handler may be synchronous or `async`; its
//! arguments are any types implementing [`FromMessageParts<S>`](FromMessageParts), where `S`
//! is the *scope* the handler runs in: `()` for the handlers given to
//! [`crate::SocketIo::ns`] and [`crate::Socket::on`], [`crate::gateway::GatewayScope`] for the
//! message handlers of a gateway. The server's extractors ([`crate::extract`]) work in every
//! scope; a gateway adds a few of its own (its `Ack`, the gateway itself as `Arc<G>`), and
//! its handlers may also take the gateway by reference first (`fn(&G, extractors...)`).
//!
//! The scope decides what becomes of a rejection, a panic and the return value
//! ([`HandlerScope`], [`HandlerOutput`]): the plain server logs them, a gateway sends them
//! through its exception filters (an `exception` event by default, as NestJS does).
//!
//! # What a handler returns
//!
//! `()`, or a `Result<(), E>` whose error converts into [`HandlerError`] (any
//! `std::error::Error + Send + Sync`, `String`, `&str`): `?` works on [`crate::SendError`],
//! [`crate::AckError`], `serde_json::Error` and your own errors in the same handler. The
//! error is logged at `warn` (target `sockgate::handler`) with the socket id and the event;
//! nothing is sent to the client. When nothing else fixes the error type of a closure (a
//! closure ending in `Ok(())`), Rust cannot infer it: name it once with [`HandlerResult`].
//!
//! ```no_run
//! use sockgate::handler::HandlerResult;
//! use sockgate::extract::{AckSender, Data};
//! use sockgate::{SocketIo, SocketRef};
//!
//! #[derive(Debug)]
//! struct NotAllowed;
//! impl std::fmt::Display for NotAllowed {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("not allowed")
//!     }
//! }
//! impl std::error::Error for NotAllowed {}
//!
//! // A function: its return type says it all.
//! fn join(socket: SocketRef, Data(room): Data<String>) -> HandlerResult {
//!     if room.starts_with("admin") {
//!         return Err(NotAllowed.into());
//!     }
//!     socket.join(room.clone());
//!     socket.emit("joined", &room)?; // a SendError
//!     Ok(())
//! }
//!
//! let io = SocketIo::new();
//! io.ns("/", |socket: SocketRef| {
//!     socket.on("join", join);
//!     // A closure: name the type once, no `Ok::<(), SendError>(())`.
//!     socket.on("twice", |socket: SocketRef, ack: AckSender| -> HandlerResult {
//!         socket.emit("one", &1)?;
//!         socket.emit("two", &2)?;
//!         ack.send("done")?;
//!         Ok(())
//!     });
//!     // Ending with the call whose error is returned needs nothing at all.
//!     socket.on("ping", |ack: AckSender| ack.send("pong"));
//!     // An async block has no return type to write: `HandlerResult::Ok`.
//!     socket.on("slow", |socket: SocketRef| async move {
//!         let answer: String = socket.emit_with_ack("question", &1).await?; // an AckError
//!         socket.emit("answer", &answer)?;
//!         HandlerResult::Ok(())
//!     });
//! });
//! ```
//!
//! # When an extractor rejects a message
//!
//! The handler is not called, and the rejection is logged at `warn` (target
//! `sockgate::handler`) with the socket id, the event and the rejection. Nothing is sent to the
//! client: the plain API has no error channel of its own, and an ack the client asked for is
//! not answered, so an `emitWithAck` waits for its own timeout. When the client must learn
//! about it, take [`crate::extract::TryData`] (or [`crate::extract::Payload`]) and answer the
//! [`crate::extract::AckSender`] yourself. Gateways ([`crate::gateway`]) answer a rejection with
//! an `exception` event, as NestJS does.
//!
//! A handler that panics is caught; the plain server logs it, a gateway answers it as an
//! internal error. The socket and the server carry on.

mod impls;
mod output;

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Waker};

use futures_util::FutureExt;

pub use impls::HasReceiver;
pub use output::{HandlerError, HandlerOutput, HandlerResult};

use crate::payload::Payload;
use crate::reason::DisconnectReason;
use crate::socket::SocketRef;

/// What a handler receives: the event name, its arguments and the ack id if one was asked.
#[derive(Debug, Clone)]
pub struct MessageParts {
    /// The event name (`"connection"` for connect handlers).
    pub event: String,
    /// The arguments after the event name (for connect handlers: the `auth` payload).
    pub payload: Payload,
    /// The ack id, when the client expects an answer.
    pub ack_id: Option<u64>,
}

/// An extractor: builds a handler argument from the socket, the message and the scope `S`
/// the handler runs in (`()` for the plain server, [`crate::gateway::GatewayScope`] in a
/// gateway).
///
/// Implement it for every `S` (`impl<S> FromMessageParts<S> for MyType`) to make an extractor
/// usable everywhere, or for one scope only when it needs what that scope holds.
///
/// ```
/// use sockgate::handler::{FromMessageParts, MessageParts};
/// use sockgate::SocketRef;
///
/// /// The `x-tenant` header of the handshake.
/// struct Tenant(String);
///
/// impl<S> FromMessageParts<S> for Tenant {
///     type Rejection = &'static str;
///     fn from_message_parts(
///         socket: &SocketRef,
///         _parts: &MessageParts,
///         _scope: &S,
///     ) -> Result<Self, Self::Rejection> {
///         let header = socket.handshake().headers().get("x-tenant").ok_or("no x-tenant header")?;
///         Ok(Tenant(header.to_str().map_err(|_| "x-tenant is not text")?.to_owned()))
///     }
/// }
/// ```
pub trait FromMessageParts<S = ()>: Sized {
    /// Why extraction failed; the handler is then not called and the scope reports the
    /// failure: logged at `warn` by the plain server (nothing is sent to the client; see the
    /// module docs), an `exception` in a gateway (the rejection must convert into a
    /// [`crate::gateway::WsException`] there).
    type Rejection: fmt::Display + Send + 'static;
    /// Extracts the value.
    fn from_message_parts(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
    ) -> Result<Self, Self::Rejection>;

    /// Whether [`FromMessageParts::from_message_parts`] reads `parts.payload`. Leave it `true`
    /// (the default) unless the extractor never looks at the payload: when exactly one
    /// argument of a handler reads it and that argument is a [`Payload`], the payload is
    /// moved into it instead of copied.
    #[doc(hidden)]
    const READS_PAYLOAD: bool = true;

    /// Builds the value from the message's payload taken by value; `None` (the default) when
    /// the extractor cannot. Only [`Payload`] can: its extraction is then deferred until every
    /// other argument was extracted, so a rejection still sees the whole message.
    #[doc(hidden)]
    fn from_taken_payload(_payload: Payload) -> Option<Self> {
        None
    }

    /// Whether [`FromMessageParts::from_taken_payload`] returns `Some`.
    #[doc(hidden)]
    const TAKES_PAYLOAD: bool = false;
}

/// Where a handler runs: what becomes of a rejection and of a panic. The plain server's
/// scope is `()`; a gateway's is [`crate::gateway::GatewayScope`].
pub trait HandlerScope: Send + 'static {
    /// What every extractor's rejection converts into in this scope.
    type Rejection;
    /// An extractor refused the message: the handler was not called.
    fn rejected(self, socket: &SocketRef, parts: &MessageParts, rejection: Self::Rejection);
    /// The handler panicked (`event` is the message's event name).
    fn panicked(self, socket: &SocketRef, event: &str, panic: Box<dyn Any + Send>);
    /// An extractor took the client's ack ([`crate::extract::AckSender`]): a gateway then
    /// does not send its return value as the ack. Does nothing by default.
    fn ack_extracted(&self) {}
}

/// An extractor's rejection in the plain server's scope: anything `Display`, logged.
///
/// It does not implement `Display` itself, so that every `Display` type converts into it.
pub struct LoggedRejection(Box<dyn fmt::Display + Send>);

impl fmt::Debug for LoggedRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoggedRejection({})", self.0)
    }
}

impl<R: fmt::Display + Send + 'static> From<R> for LoggedRejection {
    fn from(rejection: R) -> Self {
        LoggedRejection(Box::new(rejection))
    }
}

/// The plain server: rejections and panics are logged (see the module docs).
impl HandlerScope for () {
    type Rejection = LoggedRejection;

    fn rejected(self, socket: &SocketRef, parts: &MessageParts, rejection: LoggedRejection) {
        tracing::warn!(
            socket = %socket.id(),
            event = %parts.event,
            ack = parts.ack_id.is_some(),
            rejection = %rejection.0,
            "extractor rejected the message; the handler was not called"
        );
    }

    fn panicked(self, socket: &SocketRef, event: &str, panic: Box<dyn Any + Send>) {
        tracing::error!(socket = %socket.id(), event, panic = %panic_message(&panic), "handler panicked");
    }
}

/// A function usable as a handler in scope `S`. `M` is a marker chosen by the compiler; you
/// never name it.
///
/// Implemented, for up to 7 extractors, by `Fn(extractors...) -> R` and
/// `Fn(extractors...) -> impl Future<Output = R>` where `R:` [`HandlerOutput<S>`], and, in a
/// gateway, by `Fn(&G, extractors...) -> R` (a method taking `&self`).
pub trait MessageHandler<M, S = ()>: Send + Sync + 'static {
    /// Runs the handler for one message. `parts` is borrowed when other handlers see the same
    /// message (`on_any`): extractors take what they need from it.
    fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S);
}

#[doc(hidden)]
pub mod marker {
    /// Marks handlers that return a value directly.
    #[derive(Debug)]
    pub struct Sync;
    /// Marks handlers that return a future.
    #[derive(Debug)]
    pub struct Async;
    /// Marks gateway handlers taking the gateway by reference first (`fn(&G, ...)`).
    #[derive(Debug)]
    pub struct ByRef;
}

pub(crate) trait ErasedHandler<S>: Send + Sync {
    fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S);
}

struct Erased<H, M>(H, PhantomData<fn() -> M>);

impl<S, H: MessageHandler<M, S>, M: Send + Sync + 'static> ErasedHandler<S> for Erased<H, M> {
    fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S) {
        self.0.call(socket, parts, scope);
    }
}

/// A type-erased handler of scope `S`, shared by every socket that uses it.
pub(crate) type ErasedArc<S> = Arc<dyn ErasedHandler<S>>;

pub(crate) fn erase<S: 'static, H, M>(handler: H) -> ErasedArc<S>
where
    H: MessageHandler<M, S>,
    M: Send + Sync + 'static,
{
    Arc::new(Erased(handler, PhantomData))
}

/// A type-erased plain-server handler.
#[derive(Clone)]
pub(crate) struct BoxedMessageHandler(ErasedArc<()>);

impl BoxedMessageHandler {
    /// Runs it on a message it alone handles.
    pub(crate) fn call(&self, socket: SocketRef, parts: MessageParts) {
        self.0.call(socket, Cow::Owned(parts), ());
    }

    /// Runs it on a message other handlers see too (no copy of the payload).
    pub(crate) fn call_ref(&self, socket: SocketRef, parts: &MessageParts) {
        self.0.call(socket, Cow::Borrowed(parts), ());
    }
}

pub(crate) fn boxed_message_handler<H, M>(handler: H) -> BoxedMessageHandler
where
    H: MessageHandler<M>,
    M: Send + Sync + 'static,
{
    BoxedMessageHandler(erase(handler))
}

/// Called when a socket disconnects.
pub(crate) type DisconnectCallback = Box<dyn FnOnce(SocketRef, DisconnectReason) + Send>;

/// The text of a caught panic.
pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Polls a handler's future once right away, so that a handler that does not wait finishes
/// before the next message of the same connection is read (events keep their order), and
/// spawns it only if it has to wait. Panics are caught both here and in the spawned task.
pub(crate) fn run_future(future: impl Future<Output = ()> + Send + 'static) {
    let mut future = Box::pin(AssertUnwindSafe(future).catch_unwind().map(|result| {
        if let Err(panic) = result {
            tracing::error!(panic = %panic_message(&panic), "a handler panicked");
        }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    if future.as_mut().poll(&mut cx).is_pending() {
        // The rest of the handler runs in the span it started in (its event's).
        let span = tracing::Span::current();
        if span.is_disabled() {
            tokio::spawn(future);
        } else {
            tokio::spawn(tracing::Instrument::instrument(future, span));
        }
    }
}
