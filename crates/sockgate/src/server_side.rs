//! Server-side events: what other servers of a cluster send with `serverSideEmit` (Node's
//! `io.serverSideEmit(event, ...args[, callback])`), and the handlers that receive them
//! (Node's `io.on(event, (...args, callback) => ...)`).
//!
//! A server-side event has no socket, so its handlers take a subset of the socket
//! extractors, through [`FromServerSideParts`]: [`Data<T>`], [`TryData<T>`], [`Args<T>`],
//! [`Payload`], [`Event`], [`State<T>`], [`AckSender`] (answers the sender, with one
//! argument as Node does) and the [`NamespaceRef`] the event arrived on. They are the same
//! types as in socket handlers, so one function body reads the same in both places.
//!
//! ```no_run
//! use sockgate::extract::{AckSender, Data};
//! use sockgate::SocketIo;
//!
//! # async fn run(io: SocketIo) -> Result<(), Box<dyn std::error::Error>> {
//! // Every other node's `io.serverSideEmit("ping", n, cb)` lands here.
//! io.on_server_side("ping", |Data(n): Data<u32>, ack: AckSender| ack.send(&(n + 1)));
//!
//! // Sent to every other node (this node's own handlers are not called).
//! io.server_side_emit("hello", &"from node A").await?;
//! // One answer per other node, decoded as emit_with_ack's are.
//! let answers = io.server_side_emit_with_ack("ping", &1).await?;
//! let numbers: Vec<u32> = answers.values::<u32>().into_iter().flatten().collect();
//! # let _ = numbers;
//! # Ok(())
//! # }
//! ```
//!
//! A gateway registers them with
//! [`GatewayRouter::on_server_side`](crate::gateway::GatewayRouter::on_server_side), where the
//! extractors may also take the gateway as `Arc<G>`.
//!
//! Handler errors and extractor rejections are logged at `warn` (target
//! `sockgate::server_side`) and nothing is answered, so the sender's
//! `server_side_emit_with_ack` ends with a timeout; take [`TryData`] to answer it yourself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sockgate_core::{AdapterError, ServerSideAck};

use crate::extract::{Args, Data, Event, State, TryData};
use crate::handler::{marker, panic_message, HandlerError};
use crate::{AckSender, NamespaceRef, Payload, SendError};

/// A server-side event as it arrived: what its extractors read.
pub struct ServerSideParts {
    /// The event name.
    pub event: String,
    /// Its arguments (after the name).
    pub payload: Payload,
    ack: Option<ServerSideAck>,
    ns: NamespaceRef,
    /// The gateway whose router registered the handler, for the `Arc<G>` extractor.
    gateway: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl fmt::Debug for ServerSideParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSideParts")
            .field("event", &self.event)
            .field("payload", &self.payload)
            .field("ack", &self.ack.is_some())
            .finish_non_exhaustive()
    }
}

/// An extractor of server-side event handlers (see the [module docs](self)).
pub trait FromServerSideParts: Sized {
    /// Why extraction failed: the handler is skipped and this is logged.
    type Rejection: fmt::Display + Send + 'static;
    /// Extracts the value (`parts` is mutable so that [`AckSender`] can take the ack once).
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, Self::Rejection>;
}

impl<T: DeserializeOwned> FromServerSideParts for Data<T> {
    type Rejection = serde_json::Error;
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, serde_json::Error> {
        parts.payload.decode_arg(0).map(Data)
    }
}

impl<T: DeserializeOwned> FromServerSideParts for TryData<T> {
    type Rejection = Infallible;
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, Infallible> {
        Ok(TryData(parts.payload.decode_arg(0)))
    }
}

impl<T: DeserializeOwned> FromServerSideParts for Args<T> {
    type Rejection = serde_json::Error;
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, serde_json::Error> {
        parts.payload.decode_args().map(Args)
    }
}

/// Extractors that cannot fail: `$parts` is the event, `$value` what the handler gets.
macro_rules! infallible_extractor {
    ($(#[$doc:meta])* $ty:ty, |$parts:ident| $value:expr) => {
        $(#[$doc])*
        impl FromServerSideParts for $ty {
            type Rejection = Infallible;
            fn from_server_side_parts($parts: &mut ServerSideParts) -> Result<Self, Infallible> {
                Ok($value)
            }
        }
    };
}

infallible_extractor!(Payload, |parts| parts.payload.clone());
infallible_extractor!(Event, |parts| Event(parts.event.clone()));
infallible_extractor!(NamespaceRef, |parts| parts.ns.clone());
infallible_extractor!(
    /// Answers the sender; [`AckSender::is_requested`] says whether it waits for an answer.
    AckSender,
    |parts| AckSender::server_side(parts.ack.take())
);

/// The gateway, in a handler registered with
/// [`GatewayRouter::on_server_side`](crate::gateway::GatewayRouter::on_server_side).
impl<G: Send + Sync + 'static> FromServerSideParts for Arc<G> {
    type Rejection = MissingState;
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, MissingState> {
        parts
            .gateway
            .clone()
            .and_then(|gateway| gateway.downcast::<G>().ok())
            .ok_or(MissingState(std::any::type_name::<G>()))
    }
}

/// The state's absence, for [`State<T>`] (or the gateway's, for `Arc<G>` outside its router).
#[derive(Debug)]
pub struct MissingState(&'static str);

impl fmt::Display for MissingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no state of type {} was registered", self.0)
    }
}

impl<T: Clone + Send + Sync + 'static> FromServerSideParts for State<T> {
    type Rejection = MissingState;
    fn from_server_side_parts(parts: &mut ServerSideParts) -> Result<Self, MissingState> {
        parts
            .ns
            .0
            .server()
            .state
            .get::<T>()
            .map(State)
            .ok_or(MissingState(std::any::type_name::<T>()))
    }
}

/// What a server-side handler returns: `()` or `Result<(), E>` (the error is logged).
pub trait ServerSideOutput: Send + 'static {
    /// Reports the outcome of the handler of `event`.
    fn finish(self, event: &str);
}

impl ServerSideOutput for () {
    fn finish(self, _event: &str) {}
}

impl<E: Into<HandlerError> + Send + 'static> ServerSideOutput for Result<(), E> {
    fn finish(self, event: &str) {
        if let Err(error) = self {
            let error = error.into();
            tracing::warn!(target: "sockgate::server_side", event, %error, "server-side handler returned an error");
        }
    }
}

/// A function usable as a server-side event handler: `Fn(extractors...)` returning a
/// [`ServerSideOutput`] or a future of one, for up to 5 extractors. `M` is a marker chosen by
/// the compiler.
pub trait ServerSideHandler<M>: Send + Sync + 'static {
    /// Runs the handler for one event.
    fn call(&self, parts: ServerSideParts);
}

fn rejected(event: &str, rejection: &dyn fmt::Display) {
    tracing::warn!(target: "sockgate::server_side", event, %rejection, "extractor rejected the server-side event; the handler was not called");
}

fn panicked(event: &str, panic: Box<dyn std::any::Any + Send>) {
    tracing::error!(target: "sockgate::server_side", event, panic = %panic_message(&panic), "server-side handler panicked");
}

/// Every argument of a handler, extracted in order; the first rejection is logged and stops.
trait ExtractAll: Sized {
    fn extract_all(parts: &mut ServerSideParts) -> Option<Self>;
}

macro_rules! impl_server_side_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<$($ty: FromServerSideParts,)*> ExtractAll for ($($ty,)*) {
            fn extract_all(parts: &mut ServerSideParts) -> Option<Self> {
                Some(($(match $ty::from_server_side_parts(parts) {
                    Ok(value) => value,
                    Err(rejection) => {
                        rejected(&parts.event, &rejection);
                        return None;
                    }
                },)*))
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, R, $($ty,)*> ServerSideHandler<(marker::Sync, $($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> R + Send + Sync + 'static,
            R: ServerSideOutput,
            $($ty: FromServerSideParts + Send + 'static,)*
        {
            fn call(&self, mut parts: ServerSideParts) {
                let Some(($($ty,)*)) = <($($ty,)*)>::extract_all(&mut parts) else {
                    return;
                };
                match std::panic::catch_unwind(AssertUnwindSafe(|| (self)($($ty,)*))) {
                    Ok(output) => output.finish(&parts.event),
                    Err(panic) => panicked(&parts.event, panic),
                }
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, Fut, R, $($ty,)*> ServerSideHandler<(marker::Async, $($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: ServerSideOutput,
            $($ty: FromServerSideParts + Send + 'static,)*
        {
            fn call(&self, mut parts: ServerSideParts) {
                let Some(($($ty,)*)) = <($($ty,)*)>::extract_all(&mut parts) else {
                    return;
                };
                let future = match std::panic::catch_unwind(AssertUnwindSafe(|| (self)($($ty,)*))) {
                    Ok(future) => future,
                    Err(panic) => return panicked(&parts.event, panic),
                };
                let event = parts.event;
                // `run_future` catches a panic of the future itself.
                crate::handler::run_future(async move { future.await.finish(&event) });
            }
        }
    };
}

impl_server_side_handler!();
impl_server_side_handler!(T1);
impl_server_side_handler!(T1, T2);
impl_server_side_handler!(T1, T2, T3);
impl_server_side_handler!(T1, T2, T3, T4);
impl_server_side_handler!(T1, T2, T3, T4, T5);

struct Erased<H, M>(H, PhantomData<fn() -> M>);

pub(crate) trait ErasedServerSide: Send + Sync {
    fn call(&self, parts: ServerSideParts);
}

impl<H: ServerSideHandler<M>, M: Send + Sync + 'static> ErasedServerSide for Erased<H, M> {
    fn call(&self, parts: ServerSideParts) {
        self.0.call(parts);
    }
}

/// The server-side handlers of one namespace, by event.
pub(crate) type ServerSideHandlers = HashMap<Box<str>, Arc<dyn ErasedServerSide>>;

/// A handler of a gateway's router: its extractors may take the gateway as `Arc<G>`.
struct WithGateway {
    gateway: Arc<dyn std::any::Any + Send + Sync>,
    handler: Arc<dyn ErasedServerSide>,
}

impl ErasedServerSide for WithGateway {
    fn call(&self, mut parts: ServerSideParts) {
        parts.gateway = Some(self.gateway.clone());
        self.handler.call(parts);
    }
}

pub(crate) fn with_gateway(
    gateway: Arc<dyn std::any::Any + Send + Sync>,
    handler: Arc<dyn ErasedServerSide>,
) -> Arc<dyn ErasedServerSide> {
    Arc::new(WithGateway { gateway, handler })
}

pub(crate) fn erase<H: ServerSideHandler<M>, M: Send + Sync + 'static>(
    handler: H,
) -> Arc<dyn ErasedServerSide> {
    Arc::new(Erased(handler, PhantomData))
}

/// Runs the handler of a server-side event (`data` is `[event, ...args]`), if any; an event
/// without a handler is dropped, as Node does (its ack is then never answered).
pub(crate) fn dispatch(ns: NamespaceRef, mut data: Vec<Value>, ack: Option<ServerSideAck>) {
    if data.is_empty() {
        return;
    }
    let event = match data.remove(0) {
        Value::String(event) => event,
        _ => return,
    };
    let handler =
        ns.0.server_side_handlers
            .read()
            .get(event.as_str())
            .cloned();
    let Some(handler) = handler else {
        tracing::debug!(target: "sockgate::server_side", event, "no handler for this server-side event");
        return;
    };
    handler.call(ServerSideParts {
        event,
        payload: Payload::from_parts(data, Vec::new()),
        ack,
        ns,
        gateway: None,
    });
}

/// Why a cluster operation of the server API failed.
///
/// New variants may be added: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// The event could not be sent (reserved name, data not serializable): see
    /// [`SendError`] for what to do.
    Send(SendError),
    /// The other nodes could not be reached or did not all answer in time: see
    /// [`AdapterError`] for what to do.
    Adapter(AdapterError),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Send(e) => write!(f, "could not send: {e}"),
            ClusterError::Adapter(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Send(e) => Some(e),
            ClusterError::Adapter(e) => Some(e),
        }
    }
}

impl From<SendError> for ClusterError {
    fn from(e: SendError) -> Self {
        ClusterError::Send(e)
    }
}

impl From<AdapterError> for ClusterError {
    fn from(e: AdapterError) -> Self {
        ClusterError::Adapter(e)
    }
}
