//! Typed emits and handler arguments: thin layers over the string API that only accept what a
//! declaration allows.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ClientToServer, Event, InterServer, ServerToClient};
use crate::ack::{AckFuture, AckResponses, AckSender};
use crate::gateway::{FieldError, GatewayRouter, GatewayScope, RouteConfig, WsException};
use crate::handler::{FromMessageParts, HandlerScope, MessageHandler, MessageParts};
use crate::{BroadcastOperators, NamespaceRef, SendError, SocketIo, SocketRef, TimedSocket};

/// Emits of declared server-to-client events: `emitter.emit_typed(Joined, &presence)`.
///
/// Implemented for [`SocketRef`], [`NamespaceRef`], [`SocketIo`] (its main namespace),
/// [`BroadcastOperators`] (`socket.to("room").emit_typed(..)`) and
/// [`crate::RemoteSocket`]. The event must implement [`ServerToClient`] and the payload must
/// be its [`Event::Payload`]: anything else does not compile.
pub trait EmitTyped {
    /// Emits `event` with `payload`; the errors are those of the string API's `emit`.
    fn emit_typed<E: ServerToClient>(self, event: E, payload: &E::Payload)
        -> Result<(), SendError>;
}

impl EmitTyped for &SocketRef {
    fn emit_typed<E: ServerToClient>(self, _: E, payload: &E::Payload) -> Result<(), SendError> {
        self.emit(E::NAME, payload)
    }
}

impl EmitTyped for &NamespaceRef {
    fn emit_typed<E: ServerToClient>(self, _: E, payload: &E::Payload) -> Result<(), SendError> {
        self.emit(E::NAME, payload)
    }
}

impl EmitTyped for &SocketIo {
    fn emit_typed<E: ServerToClient>(self, _: E, payload: &E::Payload) -> Result<(), SendError> {
        self.emit(E::NAME, payload)
    }
}

impl EmitTyped for BroadcastOperators {
    fn emit_typed<E: ServerToClient>(self, _: E, payload: &E::Payload) -> Result<(), SendError> {
        self.emit(E::NAME, payload)
    }
}

impl EmitTyped for &crate::RemoteSocket {
    fn emit_typed<E: ServerToClient>(self, _: E, payload: &E::Payload) -> Result<(), SendError> {
        self.emit(E::NAME, payload)
    }
}

/// Emits of declared server-to-client events that wait for the client's typed ack.
///
/// For one socket ([`SocketRef`], [`TimedSocket`]) the future resolves to the ack decoded as
/// `E::Ack`; for a broadcast ([`BroadcastOperators`]) to every answer
/// ([`TypedAckResponses`]). An event declared without an ack ([`super::NoAck`]) does not
/// compile here.
pub trait EmitWithAckTyped {
    /// What the emit resolves to.
    type Output<A: DeserializeOwned + Send + 'static>;
    /// Emits `event` with `payload` and waits for the ack (the server's ack timeout, or the
    /// one of [`SocketRef::timeout`] / [`BroadcastOperators::timeout`]).
    fn emit_with_ack_typed<E>(self, event: E, payload: &E::Payload) -> Self::Output<E::Ack>
    where
        E: ServerToClient,
        E::Ack: DeserializeOwned;
}

impl EmitWithAckTyped for &SocketRef {
    type Output<A: DeserializeOwned + Send + 'static> = AckFuture<A>;
    fn emit_with_ack_typed<E>(self, _: E, payload: &E::Payload) -> AckFuture<E::Ack>
    where
        E: ServerToClient,
        E::Ack: DeserializeOwned,
    {
        self.emit_with_ack(E::NAME, payload)
    }
}

impl EmitWithAckTyped for &TimedSocket {
    type Output<A: DeserializeOwned + Send + 'static> = AckFuture<A>;
    fn emit_with_ack_typed<E>(self, _: E, payload: &E::Payload) -> AckFuture<E::Ack>
    where
        E: ServerToClient,
        E::Ack: DeserializeOwned,
    {
        self.emit_with_ack(E::NAME, payload)
    }
}

type BoxedFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl EmitWithAckTyped for BroadcastOperators {
    type Output<A: DeserializeOwned + Send + 'static> =
        BoxedFuture<Result<TypedAckResponses<A>, SendError>>;
    fn emit_with_ack_typed<E>(self, _: E, payload: &E::Payload) -> Self::Output<E::Ack>
    where
        E: ServerToClient,
        E::Ack: DeserializeOwned,
    {
        // Serialized now, so that the future does not borrow the payload.
        let payload = crate::Payload::from_value(payload);
        Box::pin(async move {
            let responses = self.emit_with_ack(E::NAME, payload?).await?;
            Ok(TypedAckResponses::new(responses))
        })
    }
}

/// Every answer to a typed broadcast or server-side emit with acks.
#[derive(Debug, Clone)]
pub struct TypedAckResponses<A> {
    /// The answers as received (who answered, who did not).
    pub responses: AckResponses,
    ack: PhantomData<fn() -> A>,
}

impl<A: DeserializeOwned> TypedAckResponses<A> {
    fn new(responses: AckResponses) -> Self {
        TypedAckResponses {
            responses,
            ack: PhantomData,
        }
    }

    /// Each answer decoded as the declared ack type; an `Err` is an answer of another shape
    /// (a client or server that does not follow the contract).
    pub fn values(&self) -> Vec<Result<A, serde_json::Error>> {
        self.responses.values::<A>()
    }

    /// True when everyone answered in time.
    pub fn is_complete(&self) -> bool {
        self.responses.is_complete()
    }
}

/// Server-side emits of declared [`InterServer`] events (Node's `serverSideEmit`), on
/// [`SocketIo`] (its main namespace) and [`NamespaceRef`].
pub trait ServerSideEmitTyped {
    /// Sends `event` to the other servers of the cluster.
    fn server_side_emit_typed<E: InterServer>(
        self,
        event: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<(), crate::ClusterError>>;

    /// Sends `event` and collects one typed answer per other server.
    fn server_side_emit_with_ack_typed<E>(
        self,
        event: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<TypedAckResponses<E::Ack>, crate::ClusterError>>
    where
        E: InterServer,
        E::Ack: DeserializeOwned;
}

impl ServerSideEmitTyped for &NamespaceRef {
    fn server_side_emit_typed<E: InterServer>(
        self,
        _: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<(), crate::ClusterError>> {
        let namespace = self.clone();
        let payload = crate::Payload::from_value(payload);
        Box::pin(async move {
            let payload =
                payload.map_err(|e| crate::ClusterError::from(SendError::Serialize(e)))?;
            namespace.server_side_emit(E::NAME, payload).await
        })
    }

    fn server_side_emit_with_ack_typed<E>(
        self,
        _: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<TypedAckResponses<E::Ack>, crate::ClusterError>>
    where
        E: InterServer,
        E::Ack: DeserializeOwned,
    {
        let namespace = self.clone();
        let payload = crate::Payload::from_value(payload);
        Box::pin(async move {
            let payload =
                payload.map_err(|e| crate::ClusterError::from(SendError::Serialize(e)))?;
            let responses = namespace
                .server_side_emit_with_ack(E::NAME, payload)
                .await?;
            Ok(TypedAckResponses::new(responses))
        })
    }
}

/// The main namespace's, as [`SocketIo::server_side_emit`] is.
impl ServerSideEmitTyped for &SocketIo {
    fn server_side_emit_typed<E: InterServer>(
        self,
        event: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<(), crate::ClusterError>> {
        (&self.main()).server_side_emit_typed(event, payload)
    }

    fn server_side_emit_with_ack_typed<E>(
        self,
        event: E,
        payload: &E::Payload,
    ) -> BoxedFuture<Result<TypedAckResponses<E::Ack>, crate::ClusterError>>
    where
        E: InterServer,
        E::Ack: DeserializeOwned,
    {
        (&self.main()).server_side_emit_with_ack_typed(event, payload)
    }
}

/// The payload of a declared client-to-server event, as a handler argument.
///
/// Decoded as NestJS passes the body (one argument: it; several: an array). A payload of
/// another shape is rejected before the handler runs: logged by the plain server, a
/// `Validation failed` `exception` in a gateway (field `body`), as [`crate::gateway::MessageBody`].
#[derive(Debug, Clone, PartialEq)]
pub struct Typed<E: Event>(pub E::Payload);

impl<S, E: ClientToServer> FromMessageParts<S> for Typed<E> {
    type Rejection = WsException;
    fn from_message_parts(_: &SocketRef, parts: &MessageParts, _: &S) -> Result<Self, WsException> {
        parts.payload.decode_body().map(Typed).map_err(|error| {
            WsException::Validation(vec![FieldError {
                field: "body".to_owned(),
                messages: vec![format!("not a valid `{}` payload: {error}", E::NAME)],
            }])
        })
    }
}

/// The ack of a declared client-to-server event: sends only `E::Ack`. An event declared
/// without an ack ([`super::NoAck`]) cannot be answered (no `send` method exists then).
///
/// In a gateway, taking it means the handler's return value is not sent as the ack.
#[derive(Debug)]
pub struct TypedAck<E> {
    sender: AckSender,
    event: PhantomData<fn() -> E>,
}

impl<E: ClientToServer> TypedAck<E>
where
    E::Ack: Serialize,
{
    /// Whether the client asked for the ack.
    pub fn is_requested(&self) -> bool {
        self.sender.is_requested()
    }

    /// Answers with `response`; does nothing when the client did not ask.
    pub fn send(self, response: &E::Ack) -> Result<(), SendError> {
        self.sender.send(response)
    }
}

impl<S: HandlerScope, E: ClientToServer> FromMessageParts<S> for TypedAck<E> {
    type Rejection = std::convert::Infallible;
    fn from_message_parts(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
    ) -> Result<Self, Self::Rejection> {
        let sender = AckSender::from_message_parts(socket, parts, scope)?;
        Ok(TypedAck {
            sender,
            event: PhantomData,
        })
    }
}

/// Handlers registered under a declared client-to-server event's name:
/// `socket.on_typed(Message, handler)`, `router.subscribe_typed(Message, handler)`.
pub trait OnTyped<M, H> {
    /// What the registration returns.
    type Output;
    /// Registers `handler` for `event` (its [`Event::NAME`]).
    fn on_typed<E: ClientToServer>(self, event: E, handler: H) -> Self::Output;
}

impl<H, M> OnTyped<M, H> for &SocketRef
where
    H: MessageHandler<M>,
    M: Send + Sync + 'static,
{
    type Output = ();
    fn on_typed<E: ClientToServer>(self, _: E, handler: H) {
        self.on(E::NAME, handler);
    }
}

impl<'a, G, H, M> OnTyped<M, H> for &'a mut GatewayRouter<G>
where
    G: Send + Sync + 'static,
    H: MessageHandler<M, GatewayScope<G>>,
    M: Send + Sync + 'static,
{
    type Output = RouteConfig<'a, G>;
    fn on_typed<E: ClientToServer>(self, _: E, handler: H) -> RouteConfig<'a, G> {
        self.subscribe_message(E::NAME, handler)
    }
}
