//! Typed events: declare a namespace's events once, as Rust types, in both directions, and
//! get checked emits, typed handler arguments, a TypeScript event map for socket.io-client and
//! an AsyncAPI 3.0 document from the same declaration (feature `typed`, on by default).
//!
//! Three pieces, as in axum: traits, extractors and generators.
//!
//! - An [`Event`] is a marker type with a name and a payload type; [`ServerToClient`],
//!   [`ClientToServer`] and [`InterServer`] say in which directions it travels and what its ack
//!   answers ([`NoAck`] for none). `#[derive(Event)]` writes these impls.
//! - A [`Contract`] lists a namespace's events. `#[derive(Contract)]` writes it.
//! - Emits take the marker and the payload ([`EmitTyped::emit_typed`]`(Joined, &presence)`), so
//!   an undeclared event, an event declared only from client to server, or a payload of the
//!   wrong type does not compile; handlers take [`Typed<E>`] (the payload) and [`TypedAck<E>`]
//!   (an ack that only sends `E`'s ack type).
//! - [`typescript`] and [`asyncapi`] turn contracts into a `.d.ts` and an AsyncAPI document;
//!   [`ContractFiles`] writes them and tells when committed copies are stale.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use sockgate::typed::{schemars::JsonSchema, ts_rs::TS, Contract, EmitTyped, Event, Typed, TypedAck};
//! use sockgate::{SocketIo, SocketRef};
//!
//! /// Who joined or left.
//! #[derive(Serialize, Deserialize, TS, JsonSchema)]
//! struct Presence { name: String }
//!
//! /// What a sent message became.
//! #[derive(Serialize, Deserialize, TS, JsonSchema)]
//! struct Delivered { line: String }
//!
//! #[derive(Clone, Copy, Event)]
//! #[event(name = "joined", payload = Presence, server_to_client)]
//! struct Joined;
//!
//! #[derive(Clone, Copy, Event)]
//! #[event(name = "message", payload = String, server_to_client, client_to_server(ack = Delivered))]
//! struct Message;
//!
//! #[derive(Contract)]
//! #[contract(namespace = "/", server_to_client(Joined, Message), client_to_server(Message))]
//! struct Chat;
//!
//! let io = SocketIo::new();
//! io.ns("/", |socket: SocketRef| {
//!     let _ = socket.emit_typed(Joined, &Presence { name: "alice".into() });
//!     socket.on(<Message as Event>::NAME, |socket: SocketRef, Typed(text): Typed<Message>, ack: TypedAck<Message>| {
//!         let line = format!("{} : {text}", socket.id());
//!         let _ = socket.namespace().emit_typed(Message, &line);
//!         let _ = ack.send(&Delivered { line });
//!     });
//! });
//! let d_ts = sockgate::typed::typescript::<Chat>(&Default::default()).unwrap();
//! assert!(d_ts.contains("export interface ClientToServerEvents"));
//! ```
//!
//! These do not compile:
//!
//! ```compile_fail
//! # use sockgate::typed::{EmitTyped, Event};
//! # #[derive(Clone, Copy, Event)]
//! # #[event(name = "joined", payload = String, server_to_client)]
//! # struct Joined;
//! # fn f(socket: sockgate::SocketRef) {
//! let _ = socket.emit_typed(Joined, &42); // the payload is a String
//! # }
//! ```
//!
//! ```compile_fail
//! # use sockgate::typed::{EmitTyped, Event};
//! # #[derive(Clone, Copy, Event)]
//! # #[event(name = "hello", payload = String, client_to_server)]
//! # struct Hello;
//! # fn f(socket: sockgate::SocketRef) {
//! let _ = socket.emit_typed(Hello, &"hi".to_owned()); // only the client sends `hello`
//! # }
//! ```
//!
//! Payload and ack types derive serde's traits, [`ts_rs::TS`] and [`schemars::JsonSchema`].
//! Those derives expect `ts-rs` and `schemars` among your dependencies; without them, point
//! the derives at the re-exports: `#[ts(crate = "sockgate::typed::ts_rs")]` and
//! `#[schemars(crate = "sockgate::typed::schemars")]`.
//!
//! Without the macros, the same declaration is four short impls (see [`Event`] and
//! [`Contract`]). One payload argument per event: the Socket.IO body as NestJS passes it
//! (several arguments arrive as an array).
//!
//! The strictness is per event, not per namespace: an event of one contract can be emitted on
//! a socket of another namespace. The generators use each contract's list.

mod asyncapi;
mod emit;
mod error;
mod exception;
mod files;
mod typescript;

use std::any::TypeId;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use asyncapi::{asyncapi, AsyncApiInfo};
pub use emit::{
    EmitTyped, EmitWithAckTyped, OnTyped, ServerSideEmitTyped, Typed, TypedAck, TypedAckResponses,
};
pub use error::ContractError;
pub use exception::{Exception, ExceptionCause, ExceptionFieldError, ExceptionPayload};
pub use files::{ContractFiles, StaleFile};
pub use typescript::{typescript, TypeScriptOptions};

pub use schemars;
pub use ts_rs;

#[cfg(feature = "macros")]
pub use sockgate_macros::{Contract, Event};

/// What a payload or an ack type must be: serde both ways, a TypeScript type ([`ts_rs::TS`]),
/// a JSON Schema ([`schemars::JsonSchema`]). Derive the four on your types.
pub trait PayloadType:
    Serialize + DeserializeOwned + ts_rs::TS + schemars::JsonSchema + Send + Sync + 'static
{
}

impl<T> PayloadType for T where
    T: Serialize + DeserializeOwned + ts_rs::TS + schemars::JsonSchema + Send + Sync + 'static
{
}

/// An event: a marker type naming one Socket.IO event and its payload.
///
/// `#[derive(Event)]` with `#[event(name = "joined", payload = Presence, server_to_client)]`
/// writes this and the direction impls. By hand:
///
/// ```
/// use sockgate::typed::{Event, ServerToClient, NoAck};
///
/// #[derive(Clone, Copy)]
/// struct Joined;
/// impl Event for Joined {
///     const NAME: &'static str = "joined";
///     type Payload = String;
/// }
/// impl ServerToClient for Joined {
///     type Ack = NoAck;
/// }
/// ```
pub trait Event: Copy + Send + Sync + 'static {
    /// The event name on the wire. Reserved names (`connect`, `disconnect`...) are refused
    /// by the emits at run time and by `#[derive(Event)]` at compile time.
    const NAME: &'static str;
    /// The payload: the one argument after the event name.
    type Payload: PayloadType;
}

/// An event the server emits to clients. `Ack` is what the client answers, [`NoAck`] when it
/// does not.
pub trait ServerToClient: Event {
    /// The client's answer.
    type Ack: AckType;
}

/// An event clients emit to the server. `Ack` is what the server answers, [`NoAck`] when it
/// does not.
pub trait ClientToServer: Event {
    /// The server's answer.
    type Ack: AckType;
}

/// An event servers of a cluster send each other (`serverSideEmit`). `Ack` is what each other
/// server answers, [`NoAck`] when they do not.
pub trait InterServer: Event {
    /// Each server's answer.
    type Ack: AckType;
}

/// What an ack may be: a [`PayloadType`], or [`NoAck`].
///
/// [`NoAck`] has a TypeScript type and a schema (so that it fits here) but no serde impls, so
/// waiting for or sending an ack of an event without one does not compile.
pub trait AckType: ts_rs::TS + schemars::JsonSchema + Send + Sync + 'static {}

impl<T: ts_rs::TS + schemars::JsonSchema + Send + Sync + 'static> AckType for T {}

/// No ack: the event is fire-and-forget in that direction.
#[derive(Debug, Clone, Copy)]
pub enum NoAck {}

impl ts_rs::TS for NoAck {
    type WithoutGenerics = NoAck;
    type OptionInnerType = NoAck;
    fn name() -> String {
        "never".to_owned()
    }
    fn inline() -> String {
        "never".to_owned()
    }
    fn inline_flattened() -> String {
        "never".to_owned()
    }
    fn decl() -> String {
        "type NoAck = never;".to_owned()
    }
    fn decl_concrete() -> String {
        Self::decl()
    }
}

impl schemars::JsonSchema for NoAck {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoAck".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::from(false)
    }
    fn inline_schema() -> bool {
        true
    }
}

/// A namespace's events in each direction: the input of [`typescript`] and [`asyncapi`].
///
/// `#[derive(Contract)]` with `#[contract(namespace = "/example", server_to_client(A, B),
/// client_to_server(C), inter_server(D))]` writes it. By hand:
///
/// ```
/// use sockgate::typed::{Contract, Events};
/// # use sockgate::typed::{Event, ServerToClient, NoAck};
/// # #[derive(Clone, Copy)] struct Joined;
/// # impl Event for Joined { const NAME: &'static str = "joined"; type Payload = String; }
/// # impl ServerToClient for Joined { type Ack = NoAck; }
///
/// struct Chat;
/// impl Contract for Chat {
///     const NAMESPACE: &'static str = "/example";
///     fn events(events: &mut Events) {
///         events.server_to_client::<Joined>();
///     }
/// }
/// ```
pub trait Contract: 'static {
    /// The namespace the events travel on.
    const NAMESPACE: &'static str;
    /// The contract's name in generated files (its Rust type name by default).
    fn name() -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }
    /// Lists the events.
    fn events(events: &mut Events);
}

/// Which way an event travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// The server emits it.
    ServerToClient,
    /// Clients emit it.
    ClientToServer,
    /// Servers of a cluster emit it to each other.
    InterServer,
}

impl Direction {
    /// The event map's name in TypeScript (socket.io's documented names).
    pub fn interface_name(self) -> &'static str {
        match self {
            Direction::ServerToClient => "ServerToClientEvents",
            Direction::ClientToServer => "ClientToServerEvents",
            Direction::InterServer => "InterServerEvents",
        }
    }
}

/// A type as the generators see it: its TypeScript and its JSON Schema.
#[derive(Clone, Copy)]
pub(crate) struct TypeInfo {
    pub(crate) rust_name: &'static str,
    pub(crate) ts_name: fn() -> String,
    pub(crate) ts_collect: fn(&mut typescript::Declarations),
    pub(crate) schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

impl TypeInfo {
    fn of<T: ts_rs::TS + schemars::JsonSchema + 'static>() -> TypeInfo {
        TypeInfo {
            rust_name: std::any::type_name::<T>(),
            ts_name: T::name,
            ts_collect: typescript::Declarations::collect::<T>,
            schema: |generator| generator.subschema_for::<T>(),
        }
    }
}

impl std::fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rust_name)
    }
}

/// One declared event in one direction.
#[derive(Debug, Clone)]
pub(crate) struct EventInfo {
    pub(crate) name: &'static str,
    pub(crate) direction: Direction,
    pub(crate) payload: TypeInfo,
    pub(crate) ack: Option<TypeInfo>,
}

/// The events of a [`Contract`], filled by [`Contract::events`].
#[derive(Debug, Default)]
pub struct Events {
    pub(crate) events: Vec<EventInfo>,
}

fn ack_of<A: AckType>() -> Option<TypeInfo> {
    (TypeId::of::<A>() != TypeId::of::<NoAck>()).then(TypeInfo::of::<A>)
}

impl Events {
    fn push<E: Event>(&mut self, direction: Direction, ack: Option<TypeInfo>) -> &mut Self {
        self.events.push(EventInfo {
            name: E::NAME,
            direction,
            payload: TypeInfo::of::<E::Payload>(),
            ack,
        });
        self
    }

    /// Declares `E` from server to client.
    pub fn server_to_client<E: ServerToClient>(&mut self) -> &mut Self {
        self.push::<E>(Direction::ServerToClient, ack_of::<E::Ack>())
    }

    /// Declares `E` from client to server.
    pub fn client_to_server<E: ClientToServer>(&mut self) -> &mut Self {
        self.push::<E>(Direction::ClientToServer, ack_of::<E::Ack>())
    }

    /// Declares `E` between servers.
    pub fn inter_server<E: InterServer>(&mut self) -> &mut Self {
        self.push::<E>(Direction::InterServer, ack_of::<E::Ack>())
    }

    /// The events of contract `C`, checked: an event name declared twice in one direction, or a
    /// reserved name, is an error.
    pub(crate) fn of<C: Contract>() -> Result<Events, ContractError> {
        let mut events = Events::default();
        C::events(&mut events);
        for (index, event) in events.events.iter().enumerate() {
            if sockgate_proto::socketio::is_reserved_event(event.name) {
                return Err(ContractError::ReservedEvent(event.name.to_owned()));
            }
            if events.events[..index]
                .iter()
                .any(|e| e.name == event.name && e.direction == event.direction)
            {
                return Err(ContractError::DuplicateEvent {
                    event: event.name.to_owned(),
                    direction: event.direction,
                });
            }
        }
        Ok(events)
    }
}
