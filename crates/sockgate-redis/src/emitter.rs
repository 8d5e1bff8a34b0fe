//! `Emitter`: drives a cluster from a process that is not a server (a worker, a cron job):
//! a classic cluster as `@socket.io/redis-emitter` 5.1 does from Node, or a streams cluster
//! ([`Emitter::streams`]) as `@socket.io/redis-streams-emitter` 0.1.1 does. One file: both
//! modes share the builder (rooms, flags, namespaces) and differ only in where they write.
//!
//! It only publishes: it never subscribes, counts servers or waits for acks. Its messages use
//! the uid `"emitter"` and the Node emitters' key orders (`rooms, flags, except` for a
//! broadcast), so Node and sockgate nodes alike take them as they take the Node emitters'.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};
use sockgate_core::{BroadcastOptions, Room};
use sockgate_proto::socketio::{is_reserved_event, EventArg, Packet};

use crate::classic::codec::request_type;
use crate::driver::{Driver, DriverError};
use crate::msgpack;

/// The uid every emitter message carries.
pub const EMITTER_UID: &str = "emitter";

/// Why an emit was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitterError {
    /// The event name is reserved by Socket.IO (`connect`, `disconnect`, ...): pick another.
    ReservedEvent(String),
    /// Redis did not take the message; retry once it is reachable.
    Driver(DriverError),
}

impl fmt::Display for EmitterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitterError::ReservedEvent(name) => {
                write!(f, "\"{name}\" is a reserved event name; use another name")
            }
            EmitterError::Driver(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EmitterError {}

impl From<DriverError> for EmitterError {
    fn from(e: DriverError) -> Self {
        EmitterError::Driver(e)
    }
}

/// Publishes broadcasts and room operations into a cluster of servers on the classic adapter.
///
/// Cheap to clone; every modifier returns a new emitter and leaves this one as it is:
///
/// ```no_run
/// # async fn run(driver: sockgate_redis::MemoryDriver) -> Result<(), sockgate_redis::EmitterError> {
/// use serde_json::json;
/// let emitter = sockgate_redis::Emitter::new(driver);
/// emitter.to("room1").except("muted").emit("news", vec![json!({"title": "hi"})]).await?;
/// emitter.of("/admin").sockets_join(["staff"]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter {
    driver: Arc<dyn Driver>,
    key: String,
    nsp: String,
    opts: BroadcastOptions,
    /// `Some` in streams mode: `(stream name, maxLen)`.
    stream: Option<(String, usize)>,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("key", &self.key)
            .field("nsp", &self.nsp)
            .field("opts", &self.opts)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// An emitter for namespace `/` under the key `socket.io` (Node's defaults).
    pub fn new(driver: impl Driver) -> Self {
        Emitter::with_driver(Arc::new(driver))
    }

    /// [`Emitter::new`] on a shared driver.
    pub fn with_driver(driver: Arc<dyn Driver>) -> Self {
        Emitter {
            driver,
            key: "socket.io".into(),
            nsp: "/".into(),
            opts: BroadcastOptions::default(),
            stream: None,
        }
    }

    /// An emitter for a cluster on the streams adapter ([`crate::StreamsAdapter`] or Node's
    /// `@socket.io/redis-streams-adapter`), writing what `@socket.io/redis-streams-emitter`
    /// 0.1.1 writes: `XADD socket.io MAXLEN ~ 10000 * uid emitter nsp <nsp> type <t> data
    /// <json or base64 msgpack>`. Like the Node emitter it writes one stream, so the cluster
    /// must run with one stream (`stream_count` 1).
    pub fn streams(driver: impl Driver) -> Self {
        let mut emitter = Emitter::with_driver(Arc::new(driver));
        emitter.stream = Some(("socket.io".into(), 10_000));
        emitter
    }

    /// In streams mode, writes to `stream` and trims it to about `max_len` entries (the
    /// adapters' `stream_name` and `max_len`). Switches a classic emitter to streams mode.
    pub fn stream(&self, stream: impl Into<String>, max_len: usize) -> Self {
        let mut next = self.clone();
        next.stream = Some((stream.into(), max_len));
        next
    }

    /// Uses another channel prefix (the adapters' `key`).
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.key = key.into();
        next
    }

    /// The same emitter for namespace `nsp`, with no rooms or flags.
    pub fn of(&self, nsp: &str) -> Emitter {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            driver: self.driver.clone(),
            key: self.key.clone(),
            nsp,
            opts: BroadcastOptions::default(),
            stream: self.stream.clone(),
        }
    }

    /// Targets these rooms too (a socket id is a room).
    pub fn to<I, R>(&self, rooms: I) -> Self
    where
        I: IntoRooms<R>,
    {
        let mut next = self.clone();
        for room in rooms.into_rooms() {
            if !next.opts.rooms.contains(&room) {
                next.opts.rooms.push(room);
            }
        }
        next
    }

    /// Same as [`Emitter::to`] (Node's `in`).
    pub fn within<I, R>(&self, rooms: I) -> Self
    where
        I: IntoRooms<R>,
    {
        self.to(rooms)
    }

    /// Skips the members of these rooms.
    pub fn except<I, R>(&self, rooms: I) -> Self
    where
        I: IntoRooms<R>,
    {
        let mut next = self.clone();
        for room in rooms.into_rooms() {
            if !next.opts.except.contains(&room) {
                next.opts.except.push(room);
            }
        }
        next
    }

    /// Recipients that cannot take the packet right now skip it.
    pub fn volatile(&self) -> Self {
        let mut next = self.clone();
        next.opts.flags.volatile = true;
        next
    }

    /// Sets the compression flag.
    pub fn compress(&self, compress: bool) -> Self {
        let mut next = self.clone();
        next.opts.flags.compress = Some(compress);
        next
    }

    fn broadcast_channel(&self) -> String {
        match self.opts.rooms.as_slice() {
            [room] => format!("{}#{}#{room}#", self.key, self.nsp),
            _ => format!("{}#{}#", self.key, self.nsp),
        }
    }

    fn request_channel(&self) -> String {
        format!("{}-request#{}#", self.key, self.nsp)
    }

    /// Emits `event` with JSON arguments to every matching socket of the cluster.
    ///
    /// # Errors
    /// [`EmitterError::ReservedEvent`] for a reserved name; [`EmitterError::Driver`] when
    /// Redis did not take it.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitterError> {
        self.emit_with_binary(event, args.into_iter().map(EventArg::Json))
            .await
    }

    /// [`Emitter::emit`] with binary arguments (sent inline as msgpack `bin`).
    ///
    /// # Errors
    /// As [`Emitter::emit`].
    pub async fn emit_with_binary(
        &self,
        event: &str,
        args: impl IntoIterator<Item = EventArg>,
    ) -> Result<(), EmitterError> {
        if is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let packet = Packet::event_with_binary(self.nsp.clone(), event, args);
        if self.stream.is_some() {
            let data = streams_broadcast_data(&packet, &self.opts);
            return self
                .append(
                    crate::cluster::message_type::BROADCAST,
                    data,
                    &packet.attachments,
                )
                .await;
        }
        let payload = encode_emitter_broadcast(&packet, &self.opts);
        self.driver
            .publish(self.broadcast_channel(), Bytes::from(payload))
            .await?;
        Ok(())
    }

    async fn request(&self, body: Value) -> Result<(), EmitterError> {
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        self.driver
            .publish(self.request_channel(), Bytes::from(payload))
            .await?;
        Ok(())
    }

    /// Streams mode: `XADD` of `{uid: "emitter", nsp, type, data}`.
    async fn append(
        &self,
        kind: u64,
        data: Value,
        attachments: &[Bytes],
    ) -> Result<(), EmitterError> {
        let (stream, max_len) = self.stream.clone().unwrap_or_default();
        let fields = crate::streams::codec::entry_fields(
            kind,
            Some(&data),
            EMITTER_UID,
            &self.nsp,
            attachments,
            false,
        );
        self.driver.xadd(stream, max_len, fields).await?;
        Ok(())
    }

    fn opts_json(&self) -> Value {
        json!({ "rooms": rooms_json(&self.opts.rooms), "except": rooms_json(&self.opts.except) })
    }

    /// The streams emitter's room-operation options: `{rooms, except, flags: {}}`.
    fn streams_opts_json(&self) -> Value {
        json!({
            "rooms": rooms_json(&self.opts.rooms),
            "except": rooms_json(&self.opts.except),
            "flags": {},
        })
    }

    /// Makes the matching sockets of every node join `rooms`.
    ///
    /// # Errors
    /// [`EmitterError::Driver`] when Redis did not take it.
    pub async fn sockets_join<I, R>(&self, rooms: I) -> Result<(), EmitterError>
    where
        I: IntoRooms<R>,
    {
        let rooms: Vec<Room> = rooms.into_rooms();
        if self.stream.is_some() {
            let data = json!({ "opts": self.streams_opts_json(), "rooms": rooms_json(&rooms) });
            return self
                .append(crate::cluster::message_type::SOCKETS_JOIN, data, &[])
                .await;
        }
        self.request(json!({
            "type": request_type::REMOTE_JOIN,
            "opts": self.opts_json(),
            "rooms": rooms_json(&rooms),
        }))
        .await
    }

    /// Makes the matching sockets of every node leave `rooms`.
    ///
    /// # Errors
    /// [`EmitterError::Driver`] when Redis did not take it.
    pub async fn sockets_leave<I, R>(&self, rooms: I) -> Result<(), EmitterError>
    where
        I: IntoRooms<R>,
    {
        let rooms: Vec<Room> = rooms.into_rooms();
        if self.stream.is_some() {
            let data = json!({ "opts": self.streams_opts_json(), "rooms": rooms_json(&rooms) });
            return self
                .append(crate::cluster::message_type::SOCKETS_LEAVE, data, &[])
                .await;
        }
        self.request(json!({
            "type": request_type::REMOTE_LEAVE,
            "opts": self.opts_json(),
            "rooms": rooms_json(&rooms),
        }))
        .await
    }

    /// Disconnects the matching sockets of every node (`close`: their connections too).
    ///
    /// # Errors
    /// [`EmitterError::Driver`] when Redis did not take it.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        if self.stream.is_some() {
            let data = json!({ "opts": self.streams_opts_json(), "close": close });
            return self
                .append(crate::cluster::message_type::DISCONNECT_SOCKETS, data, &[])
                .await;
        }
        self.request(json!({
            "type": request_type::REMOTE_DISCONNECT,
            "opts": self.opts_json(),
            "close": close,
        }))
        .await
    }

    /// Sends `[event, ...args]` to the servers' server-side listeners (no acks: an emitter
    /// cannot receive them).
    ///
    /// # Errors
    /// [`EmitterError::ReservedEvent`] for a reserved name; [`EmitterError::Driver`] when
    /// Redis did not take it.
    pub async fn server_side_emit(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<(), EmitterError> {
        if is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let mut data = vec![Value::from(event)];
        data.extend(args);
        if self.stream.is_some() {
            let data = json!({ "packet": data });
            return self
                .append(crate::cluster::message_type::SERVER_SIDE_EMIT, data, &[])
                .await;
        }
        self.request(json!({
            "uid": EMITTER_UID,
            "type": request_type::SERVER_SIDE_EMIT,
            "data": data,
        }))
        .await
    }
}

fn rooms_json(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| Value::from(&**r)).collect())
}

/// `["emitter", {type, data, nsp}, {rooms, flags, except}]`, byte for byte as the Node
/// emitter writes it (flags only `volatile` and `compress`).
pub fn encode_emitter_broadcast(packet: &Packet, opts: &BroadcastOptions) -> Vec<u8> {
    let mut flags = serde_json::Map::new();
    if opts.flags.volatile {
        flags.insert("volatile".into(), Value::Bool(true));
    }
    if let Some(compress) = opts.flags.compress {
        flags.insert("compress".into(), Value::Bool(compress));
    }
    let message = json!([
        EMITTER_UID,
        {
            "type": 2,
            "data": packet.data.clone().unwrap_or(Value::Array(Vec::new())),
            "nsp": packet.nsp,
        },
        {
            "rooms": rooms_json(&opts.rooms),
            "flags": Value::Object(flags),
            "except": rooms_json(&opts.except),
        }
    ]);
    msgpack::encode(&message, &packet.attachments)
}

/// BROADCAST's data as the streams emitter writes it:
/// `{packet: {type: 2, data, nsp}, opts: {rooms, flags, except}}`.
pub fn streams_broadcast_data(packet: &Packet, opts: &BroadcastOptions) -> Value {
    let mut flags = serde_json::Map::new();
    if opts.flags.volatile {
        flags.insert("volatile".into(), Value::Bool(true));
    }
    if let Some(compress) = opts.flags.compress {
        flags.insert("compress".into(), Value::Bool(compress));
    }
    json!({
        "packet": {
            "type": 2,
            "data": packet.data.clone().unwrap_or(Value::Array(Vec::new())),
            "nsp": packet.nsp,
        },
        "opts": {
            "rooms": rooms_json(&opts.rooms),
            "flags": Value::Object(flags),
            "except": rooms_json(&opts.except),
        },
    })
}

/// Room arguments: one room (`&str`, `String`, [`Room`]) or a collection of them.
pub trait IntoRooms<M> {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

/// Marker for a single room argument.
#[derive(Debug)]
pub enum One {}
/// Marker for a collection of rooms.
#[derive(Debug)]
pub enum Many {}

impl IntoRooms<One> for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms<One> for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}

impl IntoRooms<One> for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl<I> IntoRooms<Many> for I
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter()
            .map(|r| Room::from(r.into().as_str()))
            .collect()
    }
}
