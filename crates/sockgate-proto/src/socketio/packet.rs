//! The packet model shared by both parsers.

use bytes::Bytes;
use serde_json::{Map, Value};

/// The Socket.IO v5 packet types, with their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: join a namespace (client) or confirm the join (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event; `data` is `[name, ...args]`.
    Event = 2,
    /// `3`: an acknowledgement; `data` is the array of ack arguments.
    Ack = 3,
    /// `4`: the server refused a namespace join.
    ConnectError = 4,
    /// `5`: an event with binary attachments (JSON parser wire type only).
    BinaryEvent = 5,
    /// `6`: an acknowledgement with binary attachments (JSON parser wire type only).
    BinaryAck = 6,
}

impl PacketType {
    /// Returns the packet type for its wire number, or `None` for a number above 6.
    pub fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// Returns the wire number of this type.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Maps `BinaryEvent` to `Event` and `BinaryAck` to `Ack`; other types are returned unchanged.
    pub fn without_binary(self) -> Self {
        match self {
            Self::BinaryEvent => Self::Event,
            Self::BinaryAck => Self::Ack,
            other => other,
        }
    }
}

/// An Engine.IO-level message: the unit the codecs produce and consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioMessage {
    /// A text message (UTF-8), without the Engine.IO `4` prefix.
    Text(Bytes),
    /// A binary message (a raw WebSocket binary frame, or a `b`-prefixed base64 polling packet).
    Binary(Bytes),
}

/// The event names that must not be used by applications (socket.io-parser's `RESERVED_EVENTS`).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Returns `true` for event names that are reserved by Socket.IO and are rejected by the decoders:
/// `connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener` and `removeListener`.
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// Builds the placeholder object `{"_placeholder":true,"num":num}` that stands for attachment `num`.
pub fn placeholder(num: usize) -> Value {
    let mut m = Map::new();
    m.insert("_placeholder".to_owned(), Value::Bool(true));
    m.insert("num".to_owned(), Value::from(num));
    Value::Object(m)
}

/// If `value` is a placeholder object (an object whose `_placeholder` key is `true`), returns its
/// `num` (or `None` inside the `Some` when `num` is missing or not a non-negative integer).
/// Returns `None` for any other value.
pub fn placeholder_num(value: &Value) -> Option<Option<u64>> {
    match value {
        Value::Object(m) if m.get("_placeholder") == Some(&Value::Bool(true)) => {
            Some(m.get("num").and_then(Value::as_u64))
        }
        _ => None,
    }
}

/// One argument of an event or ack built with [`Packet::event_with_binary`] or
/// [`Packet::ack_with_binary`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventArg {
    /// A JSON value, sent as is.
    Json(Value),
    /// Binary data, sent as an attachment and replaced in `data` by a placeholder.
    Binary(Bytes),
}

impl From<Value> for EventArg {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

impl From<Bytes> for EventArg {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

/// A decoded or to-be-encoded Socket.IO packet.
///
/// Binary data is represented uniformly for both parsers: `data` is JSON where every binary blob is
/// a placeholder object `{"_placeholder":true,"num":i}` and `attachments[i]` holds the bytes.
///
/// The decoders always produce `Event`/`Ack` for binary packets (never `BinaryEvent`/`BinaryAck`);
/// the JSON encoder picks wire type `5`/`6` by itself when `attachments` is non-empty, so either
/// spelling can be used when encoding. Use [`Packet::is_event`] and [`Packet::is_ack`] to test the
/// kind regardless of binary content.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The namespace, always starting with `/` for packets built by the decoders' JSON parser
    /// (`/` is the main namespace).
    pub nsp: String,
    /// The ack id, for events that expect an acknowledgement and for acks.
    pub id: Option<u64>,
    /// The JSON payload, with binary blobs replaced by placeholders.
    pub data: Option<Value>,
    /// The binary attachments referenced by the placeholders in `data`, in `num` order. Only sent
    /// for events and acks; the encoders ignore attachments on other packet types.
    pub attachments: Vec<Bytes>,
}

impl Packet {
    /// Builds a packet of the given kind with no id, data or attachments.
    pub fn new(kind: PacketType, nsp: impl Into<String>) -> Self {
        Self {
            kind,
            nsp: nsp.into(),
            id: None,
            data: None,
            attachments: Vec::new(),
        }
    }

    /// A CONNECT packet: `data` is the auth object (client) or `{"sid":…}` (server), or `None`.
    pub fn connect(nsp: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            data,
            ..Self::new(PacketType::Connect, nsp)
        }
    }

    /// A DISCONNECT packet.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Self::new(PacketType::Disconnect, nsp)
    }

    /// An EVENT packet; `args` is the whole data array, the event name first
    /// (`["chat", "hello"]`). See [`Packet::event_named`] to pass the name separately.
    pub fn event(nsp: impl Into<String>, args: Vec<Value>) -> Self {
        Self {
            data: Some(Value::Array(args)),
            ..Self::new(PacketType::Event, nsp)
        }
    }

    /// An EVENT packet named `name` with the arguments `args`.
    pub fn event_named(
        nsp: impl Into<String>,
        name: impl Into<String>,
        args: impl IntoIterator<Item = Value>,
    ) -> Self {
        let mut data = vec![Value::String(name.into())];
        data.extend(args);
        Self::event(nsp, data)
    }

    /// An ACK packet answering ack id `id` with the arguments `args`.
    pub fn ack(nsp: impl Into<String>, id: u64, args: Vec<Value>) -> Self {
        Self {
            id: Some(id),
            data: Some(Value::Array(args)),
            ..Self::new(PacketType::Ack, nsp)
        }
    }

    /// A CONNECT_ERROR packet with data `{"message": message}`, plus `"data": data` when `data` is
    /// `Some` (Node omits the key when the error data is undefined).
    pub fn connect_error(
        nsp: impl Into<String>,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Self {
        let mut m = Map::new();
        m.insert("message".to_owned(), Value::String(message.into()));
        if let Some(d) = data {
            m.insert("data".to_owned(), d);
        }
        Self {
            data: Some(Value::Object(m)),
            ..Self::new(PacketType::ConnectError, nsp)
        }
    }

    /// An EVENT packet named `name` whose binary arguments become attachments with placeholders.
    pub fn event_with_binary(
        nsp: impl Into<String>,
        name: impl Into<String>,
        args: impl IntoIterator<Item = EventArg>,
    ) -> Self {
        let mut p = Self::event(nsp, vec![Value::String(name.into())]);
        p.push_args(args);
        p
    }

    /// An ACK packet for ack id `id` whose binary arguments become attachments with placeholders.
    pub fn ack_with_binary(
        nsp: impl Into<String>,
        id: u64,
        args: impl IntoIterator<Item = EventArg>,
    ) -> Self {
        let mut p = Self::ack(nsp, id, Vec::new());
        p.push_args(args);
        p
    }

    fn push_args(&mut self, args: impl IntoIterator<Item = EventArg>) {
        for a in args {
            let v = match a {
                EventArg::Json(v) => v,
                EventArg::Binary(b) => self.add_attachment(b),
            };
            if let Some(Value::Array(arr)) = &mut self.data {
                arr.push(v);
            }
        }
    }

    /// Sets the ack id (builder style), e.g. for an event that expects an acknowledgement.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Appends `bytes` to the attachments and returns the placeholder to put in `data` for it.
    pub fn add_attachment(&mut self, bytes: Bytes) -> Value {
        self.attachments.push(bytes);
        placeholder(self.attachments.len() - 1)
    }

    /// Returns the attachment a placeholder value stands for, or `None` if `value` is not a
    /// placeholder or its `num` is out of range.
    pub fn attachment_for(&self, value: &Value) -> Option<&Bytes> {
        let num = placeholder_num(value)??;
        self.attachments.get(usize::try_from(num).ok()?)
    }

    /// `true` for `Event` and `BinaryEvent`.
    pub fn is_event(&self) -> bool {
        matches!(self.kind, PacketType::Event | PacketType::BinaryEvent)
    }

    /// `true` for `Ack` and `BinaryAck`.
    pub fn is_ack(&self) -> bool {
        matches!(self.kind, PacketType::Ack | PacketType::BinaryAck)
    }

    /// `true` when the packet carries binary attachments.
    pub fn has_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// The event name of an event packet (the first element of `data` when it is a string).
    pub fn event_name(&self) -> Option<&str> {
        if !self.is_event() {
            return None;
        }
        self.data.as_ref()?.as_array()?.first()?.as_str()
    }

    /// The wire type the JSON parser uses for this packet: `5`/`6` for events/acks with attachments,
    /// `2`/`3` for those without, the packet's own type otherwise.
    pub fn wire_type(&self) -> PacketType {
        if self.is_event() {
            if self.has_binary() {
                PacketType::BinaryEvent
            } else {
                PacketType::Event
            }
        } else if self.is_ack() {
            if self.has_binary() {
                PacketType::BinaryAck
            } else {
                PacketType::Ack
            }
        } else {
            self.kind
        }
    }
}

/// Checks `data` against socket.io-parser's `isPayloadValid` for packet type `kind`.
pub(crate) fn is_payload_valid(kind: PacketType, data: Option<&Value>) -> bool {
    match kind {
        PacketType::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketType::Disconnect => data.is_none(),
        PacketType::ConnectError => matches!(data, Some(Value::String(_) | Value::Object(_))),
        PacketType::Event | PacketType::BinaryEvent => match data {
            Some(Value::Array(a)) => match a.first() {
                Some(Value::Number(_)) => true,
                Some(Value::String(s)) => !is_reserved_event(s),
                _ => false,
            },
            _ => false,
        },
        PacketType::Ack | PacketType::BinaryAck => matches!(data, Some(Value::Array(_))),
    }
}

/// Checks that every placeholder in `v` has a `num` below `count`.
pub(crate) fn placeholders_valid(v: &Value, count: usize) -> bool {
    match v {
        Value::Array(a) => a.iter().all(|x| placeholders_valid(x, count)),
        Value::Object(m) => match placeholder_num(v) {
            Some(num) => num.is_some_and(|n| n < count as u64),
            None => m.values().all(|x| placeholders_valid(x, count)),
        },
        _ => true,
    }
}
