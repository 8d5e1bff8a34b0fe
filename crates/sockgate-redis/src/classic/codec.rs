//! The messages of `@socket.io/redis-adapter` 8.3 (`createAdapter`), as Node writes them.
//!
//! Broadcasts are notepack msgpack `[uid, packet, opts]`; requests and most responses are
//! JSON strings; the broadcast-with-ack request and each client ack are msgpack. Receivers tell
//! the two apart by the first byte (`{` is JSON). Keys are written in Node's order so the bytes
//! match the reference's captured vectors; they are read in any order.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sockgate_core::{BroadcastFlags, BroadcastOptions, Room, Sid, SocketDetails};
use sockgate_proto::socketio::{placeholder_num, Packet, PacketType};

use crate::msgpack;

/// Request types of the classic protocol (`RequestType` in the adapter's source).
pub mod request_type {
    /// Local socket ids of some rooms (legacy; answered, never sent).
    pub const SOCKETS: u64 = 0;
    /// `allRooms()`.
    pub const ALL_ROOMS: u64 = 1;
    /// `socketsJoin`.
    pub const REMOTE_JOIN: u64 = 2;
    /// `socketsLeave`.
    pub const REMOTE_LEAVE: u64 = 3;
    /// `disconnectSockets`.
    pub const REMOTE_DISCONNECT: u64 = 4;
    /// `fetchSockets`.
    pub const REMOTE_FETCH: u64 = 5;
    /// `serverSideEmit`.
    pub const SERVER_SIDE_EMIT: u64 = 6;
    /// A broadcast expecting acks.
    pub const BROADCAST: u64 = 7;
    /// A node's number of clients reached by a broadcast with acks (responses only).
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    /// One client's ack of a broadcast (responses only).
    pub const BROADCAST_ACK: u64 = 9;
}

/// A message that cannot be read as the classic protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed redis adapter message: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<msgpack::DecodeError> for CodecError {
    fn from(e: msgpack::DecodeError) -> Self {
        CodecError(e.to_string())
    }
}

pub(crate) fn err(what: &str) -> CodecError {
    CodecError(what.to_owned())
}

/// A broadcast received on `socket.io#<nsp>#[<room>#]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The sender's uid (`"emitter"` for `@socket.io/redis-emitter`).
    pub uid: String,
    /// The event (its `nsp` is `/` when the sender left it out).
    pub packet: Packet,
    /// Who it reaches.
    pub opts: BroadcastOptions,
}

/// A request received on `socket.io-request#<nsp>#`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The sender's uid; `None` from the emitter's room operations, which carry none.
    pub uid: Option<String>,
    /// The request id, when the request wants answers.
    pub request_id: Option<String>,
    /// What is asked.
    pub body: RequestBody,
}

/// The kinds of request.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// Type 0: local socket ids of `rooms`.
    Sockets {
        /// Rooms to look in (all sockets when empty).
        rooms: Vec<Room>,
    },
    /// Type 1: every room with a local member.
    AllRooms,
    /// Type 2: the matching sockets join `rooms`.
    RemoteJoin {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<Room>,
    },
    /// Type 3: the matching sockets leave `rooms`.
    RemoteLeave {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<Room>,
    },
    /// Type 4: the matching sockets are disconnected.
    RemoteDisconnect {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Whether their connections are closed too.
        close: bool,
    },
    /// Type 5: details of the matching sockets.
    RemoteFetch {
        /// Which sockets.
        opts: BroadcastOptions,
    },
    /// Type 6: an event for the other servers (`[event, ...args]`).
    ServerSideEmit {
        /// The event name first, then the arguments.
        data: Vec<Value>,
    },
    /// Type 7: a broadcast whose recipients answer with acks.
    Broadcast {
        /// The event.
        packet: Packet,
        /// Who it reaches (`flags.timeout` is the ack timeout).
        opts: BroadcastOptions,
    },
}

/// Sniffs JSON (first byte `{`) or msgpack, as every Node receiver does.
pub fn decode_any(bytes: &[u8]) -> Result<(Value, Vec<Bytes>), CodecError> {
    if bytes.first() == Some(&b'{') {
        let value = serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string()))?;
        Ok((value, Vec::new()))
    } else {
        Ok(msgpack::decode(bytes)?)
    }
}

pub(crate) fn rooms_json(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| Value::String(r.to_string())).collect())
}

fn flags_json(flags: &BroadcastFlags) -> Value {
    let mut map = Map::new();
    if flags.volatile {
        map.insert("volatile".into(), Value::Bool(true));
    }
    if let Some(compress) = flags.compress {
        map.insert("compress".into(), Value::Bool(compress));
    }
    if let Some(timeout) = flags.timeout {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        map.insert("timeout".into(), Value::from(ms));
    }
    Value::Object(map)
}

/// `{rooms, except, flags}` in the adapter's key order.
pub fn opts_json(opts: &BroadcastOptions) -> Value {
    json!({
        "rooms": rooms_json(&opts.rooms),
        "except": rooms_json(&opts.except),
        "flags": flags_json(&opts.flags),
    })
}

/// `{rooms, except}`, the form room operations carry.
fn opts_json_no_flags(opts: &BroadcastOptions) -> Value {
    json!({ "rooms": rooms_json(&opts.rooms), "except": rooms_json(&opts.except) })
}

fn room_of(value: &Value) -> Option<Room> {
    match value {
        Value::String(s) => Some(Room::from(s.as_str())),
        // `socket.join(123)` in Node: numeric rooms are rooms too.
        Value::Number(n) => Some(Room::from(n.to_string().as_str())),
        _ => None,
    }
}

/// The rooms of a `rooms`/`except` array (strings, or numbers as Node's `socket.join(123)`
/// makes them); anything else is skipped. Every adapter's decoder reads rooms through this.
pub(crate) fn rooms_of(value: Option<&Value>) -> Vec<Room> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(room_of).collect())
        .unwrap_or_default()
}

/// Reads `{rooms, except, flags}` in any key order.
pub fn opts_from(value: Option<&Value>) -> BroadcastOptions {
    let Some(map) = value.and_then(Value::as_object) else {
        return BroadcastOptions::default();
    };
    let flags = map.get("flags").and_then(Value::as_object);
    let flag = |name: &str| flags.and_then(|f| f.get(name));
    BroadcastOptions {
        rooms: rooms_of(map.get("rooms")),
        except: rooms_of(map.get("except")),
        flags: BroadcastFlags {
            volatile: flag("volatile").and_then(Value::as_bool).unwrap_or(false),
            compress: flag("compress").and_then(Value::as_bool),
            local: false,
            timeout: flag("timeout")
                .and_then(Value::as_f64)
                .filter(|ms| *ms >= 0.0 && ms.is_finite())
                .map(|ms| Duration::from_millis(ms as u64)),
        },
    }
}

/// `{type: 2, data, nsp}`: events only, ack ids never travel (each receiver assigns its own).
fn packet_json(packet: &Packet) -> Value {
    json!({
        "type": PacketType::Event.as_u8(),
        "data": packet.data.clone().unwrap_or(Value::Array(Vec::new())),
        "nsp": packet.nsp,
    })
}

pub(crate) fn packet_from(
    value: Option<&Value>,
    attachments: Vec<Bytes>,
) -> Result<Packet, CodecError> {
    let map = value
        .and_then(Value::as_object)
        .ok_or_else(|| err("no packet"))?;
    let data = map
        .get("data")
        .filter(|d| d.is_array())
        .cloned()
        .ok_or_else(|| err("packet data is not an array"))?;
    let nsp = map.get("nsp").and_then(Value::as_str).unwrap_or("/");
    let mut packet = Packet::new(PacketType::Event, nsp);
    packet.data = Some(data);
    packet.attachments = attachments;
    Ok(packet)
}

/// `[uid, {type, data, nsp}, {rooms, except, flags}]`, the broadcast Node publishes.
pub fn encode_broadcast(uid: &str, packet: &Packet, opts: &BroadcastOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(0x93);
    msgpack::encode_str(uid, &mut out);
    msgpack::encode_into(&packet_json(packet), &packet.attachments, &mut out);
    msgpack::encode_into(&opts_json(opts), &[], &mut out);
    out
}

/// Reads a broadcast from Node, the emitter or sockgate.
///
/// # Errors
/// A [`CodecError`] for anything but `[uid, packet, opts]`; drop the message.
pub fn decode_broadcast(bytes: &[u8]) -> Result<Broadcast, CodecError> {
    let (value, attachments) = msgpack::decode(bytes)?;
    let Value::Array(mut parts) = value else {
        return Err(err("a broadcast is an array"));
    };
    if parts.len() < 2 {
        return Err(err("a broadcast has a uid and a packet"));
    }
    let opts = opts_from(parts.get(2));
    let packet = packet_from(parts.get(1), attachments)?;
    let uid = match parts.swap_remove(0) {
        Value::String(s) => s,
        _ => String::new(),
    };
    Ok(Broadcast { uid, packet, opts })
}

/// Encodes a request as Node does: JSON, except the broadcast with acks (msgpack).
pub fn encode_request(uid: &str, request_id: Option<&str>, body: &RequestBody) -> Vec<u8> {
    use request_type::*;
    let mut map = Map::new();
    map.insert("uid".into(), Value::from(uid));
    let push_id = |map: &mut Map<String, Value>| {
        if let Some(id) = request_id {
            map.insert("requestId".into(), Value::from(id));
        }
    };
    match body {
        RequestBody::Sockets { rooms } => {
            push_id(&mut map);
            map.insert("type".into(), Value::from(SOCKETS));
            map.insert("rooms".into(), rooms_json(rooms));
        }
        RequestBody::AllRooms => {
            push_id(&mut map);
            map.insert("type".into(), Value::from(ALL_ROOMS));
        }
        RequestBody::RemoteJoin { opts, rooms } | RequestBody::RemoteLeave { opts, rooms } => {
            let kind = if matches!(body, RequestBody::RemoteJoin { .. }) {
                REMOTE_JOIN
            } else {
                REMOTE_LEAVE
            };
            map.insert("type".into(), Value::from(kind));
            map.insert("opts".into(), opts_json_no_flags(opts));
            map.insert("rooms".into(), rooms_json(rooms));
        }
        RequestBody::RemoteDisconnect { opts, close } => {
            map.insert("type".into(), Value::from(REMOTE_DISCONNECT));
            map.insert("opts".into(), opts_json_no_flags(opts));
            map.insert("close".into(), Value::Bool(*close));
        }
        RequestBody::RemoteFetch { opts } => {
            push_id(&mut map);
            map.insert("type".into(), Value::from(REMOTE_FETCH));
            map.insert("opts".into(), opts_json_no_flags(opts));
        }
        RequestBody::ServerSideEmit { data } => {
            push_id(&mut map);
            map.insert("type".into(), Value::from(SERVER_SIDE_EMIT));
            map.insert("data".into(), Value::Array(data.clone()));
        }
        RequestBody::Broadcast { packet, opts } => {
            push_id(&mut map);
            map.insert("type".into(), Value::from(BROADCAST));
            map.insert("packet".into(), packet_json(packet));
            map.insert("opts".into(), opts_json(opts));
            return msgpack::encode(&Value::Object(map), &packet.attachments);
        }
    }
    serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
}

/// Reads a request (JSON or msgpack).
///
/// # Errors
/// A [`CodecError`] when it is neither, or of an unknown type; drop the message.
pub fn decode_request(bytes: &[u8]) -> Result<Request, CodecError> {
    use request_type::*;
    let (value, attachments) = decode_any(bytes)?;
    let map = value
        .as_object()
        .ok_or_else(|| err("a request is an object"))?;
    let kind = map
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| err("a request has a numeric type"))?;
    let uid = map.get("uid").and_then(Value::as_str).map(str::to_owned);
    let request_id = map
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let opts = || opts_from(map.get("opts"));
    let body = match kind {
        SOCKETS => RequestBody::Sockets {
            rooms: rooms_of(map.get("rooms")),
        },
        ALL_ROOMS => RequestBody::AllRooms,
        REMOTE_JOIN => RequestBody::RemoteJoin {
            opts: opts(),
            rooms: rooms_of(map.get("rooms")),
        },
        REMOTE_LEAVE => RequestBody::RemoteLeave {
            opts: opts(),
            rooms: rooms_of(map.get("rooms")),
        },
        REMOTE_DISCONNECT => RequestBody::RemoteDisconnect {
            opts: opts(),
            close: map.get("close").and_then(Value::as_bool).unwrap_or(false),
        },
        REMOTE_FETCH => RequestBody::RemoteFetch { opts: opts() },
        SERVER_SIDE_EMIT => RequestBody::ServerSideEmit {
            data: map
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .ok_or_else(|| err("server-side emit data is not an array"))?,
        },
        BROADCAST => RequestBody::Broadcast {
            packet: packet_from(map.get("packet"), attachments)?,
            opts: opts(),
        },
        other => return Err(CodecError(format!("unknown request type {other}"))),
    };
    Ok(Request {
        uid,
        request_id,
        body,
    })
}

fn json_bytes(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap_or_default()
}

/// `{"requestId", "rooms"}`: the answer to ALL_ROOMS.
pub fn encode_all_rooms_response(request_id: &str, rooms: &[Room]) -> Vec<u8> {
    json_bytes(json!({ "requestId": request_id, "rooms": rooms_json(rooms) }))
}

/// `{"requestId", "sockets": [sid...]}`: the answer to the legacy SOCKETS request.
pub fn encode_sockets_response(request_id: &str, sids: &[Sid]) -> Vec<u8> {
    let sids: Vec<Value> = sids.iter().map(|s| Value::from(s.as_str())).collect();
    json_bytes(json!({ "requestId": request_id, "sockets": sids }))
}

/// `{"requestId", "sockets": [{id, handshake, rooms, data}]}`: the answer to REMOTE_FETCH.
pub fn encode_fetch_response(request_id: &str, sockets: &[SocketDetails]) -> Vec<u8> {
    let sockets: Vec<Value> = sockets.iter().map(socket_json).collect();
    json_bytes(json!({ "requestId": request_id, "sockets": sockets }))
}

pub(crate) fn socket_json(socket: &SocketDetails) -> Value {
    json!({
        "id": socket.id.as_str(),
        "handshake": socket.handshake,
        "rooms": rooms_json(&socket.rooms),
        "data": socket.data,
    })
}

/// Reads one socket of a REMOTE_FETCH answer; `None` when its id cannot be a socket id.
pub fn socket_from(value: &Value) -> Option<SocketDetails> {
    let map = value.as_object()?;
    Some(SocketDetails {
        id: Sid::parse(map.get("id")?.as_str()?)?,
        handshake: map.get("handshake").cloned().unwrap_or(Value::Null),
        rooms: rooms_of(map.get("rooms")),
        data: map.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// `{"type":6, "requestId", "data"}`: one server's answer to a server-side emit.
pub fn encode_server_side_emit_response(request_id: &str, data: &Value) -> Vec<u8> {
    json_bytes(json!({
        "type": request_type::SERVER_SIDE_EMIT,
        "requestId": request_id,
        "data": data,
    }))
}

/// `{"type":8, "requestId", "clientCount"}`: how many local clients a broadcast with acks
/// reached on this node (sent even when 0).
pub fn encode_client_count(request_id: &str, count: usize) -> Vec<u8> {
    json_bytes(json!({
        "type": request_type::BROADCAST_CLIENT_COUNT,
        "requestId": request_id,
        "clientCount": count,
    }))
}

/// msgpack `{type: 9, requestId, packet}`: one client's ack (its first argument).
pub fn encode_broadcast_ack(request_id: &str, arg: &Value, attachments: &[Bytes]) -> Vec<u8> {
    let value = json!({
        "type": request_type::BROADCAST_ACK,
        "requestId": request_id,
        "packet": arg,
    });
    msgpack::encode(&value, attachments)
}

/// A response, read loosely: the requester knows what it asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request it answers.
    pub request_id: String,
    /// `type` when present (6, 8 and 9 carry one).
    pub kind: Option<u64>,
    /// The whole decoded object.
    pub body: Map<String, Value>,
    /// Binary blobs referenced by placeholders in `body`.
    pub attachments: Vec<Bytes>,
}

/// Reads a response (JSON or msgpack).
///
/// # Errors
/// A [`CodecError`] when it is not an object with a `requestId`; drop the message.
pub fn decode_response(bytes: &[u8]) -> Result<Response, CodecError> {
    let (value, attachments) = decode_any(bytes)?;
    let Value::Object(body) = value else {
        return Err(err("a response is an object"));
    };
    let request_id = body
        .get("requestId")
        .and_then(Value::as_str)
        .ok_or_else(|| err("a response has a requestId"))?
        .to_owned();
    Ok(Response {
        request_id,
        kind: body.get("type").and_then(Value::as_u64),
        body,
        attachments,
    })
}

/// Node's JSON form of a `Buffer` (`{"type":"Buffer","data":[..]}`), for binary arguments of
/// the requests that travel as JSON.
pub fn buffers_to_json(value: &Value, attachments: &[Bytes]) -> Value {
    if let Some(Some(num)) = placeholder_num(value) {
        if let Some(bytes) = usize::try_from(num).ok().and_then(|n| attachments.get(n)) {
            return json!({ "type": "Buffer", "data": bytes.to_vec() });
        }
    }
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| buffers_to_json(v, attachments))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), buffers_to_json(v, attachments)))
                .collect(),
        ),
        other => other.clone(),
    }
}
