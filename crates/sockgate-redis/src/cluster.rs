//! The ClusterAdapter message model of socket.io-adapter 2.5 (`lib/cluster-adapter.ts`), the
//! envelope every newer Node transport carries: sharded Redis pub/sub here, Redis Streams and
//! Postgres elsewhere.
//!
//! An envelope is `{type, data?, uid, nsp}` (in that key order). Text messages are JSON; one
//! of the types that may carry binary, when it does, is notepack msgpack of the whole
//! envelope. Receivers sniff the first byte (`{` is JSON).

use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

use sockgate_core::{
    AckCallback, BroadcastFlags, BroadcastOptions, LocalNamespace, Room, Sid, SocketDetails,
};
use sockgate_proto::socketio::{Packet, PacketType};

use crate::classic::codec::{
    buffers_to_json, decode_any, err, opts_json, packet_from, rooms_json, socket_json, CodecError,
};
use crate::msgpack;

/// `MessageType` of the ClusterAdapter.
pub mod message_type {
    /// A node announces itself (heartbeat transports).
    pub const INITIAL_HEARTBEAT: u64 = 1;
    /// A node is alive (heartbeat transports).
    pub const HEARTBEAT: u64 = 2;
    /// A broadcast, with a `requestId` when acks are wanted.
    pub const BROADCAST: u64 = 3;
    /// `socketsJoin`.
    pub const SOCKETS_JOIN: u64 = 4;
    /// `socketsLeave`.
    pub const SOCKETS_LEAVE: u64 = 5;
    /// `disconnectSockets`.
    pub const DISCONNECT_SOCKETS: u64 = 6;
    /// `fetchSockets`.
    pub const FETCH_SOCKETS: u64 = 7;
    /// One node's sockets.
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    /// `serverSideEmit`, with a `requestId` when acks are wanted.
    pub const SERVER_SIDE_EMIT: u64 = 9;
    /// One node's answer to a server-side emit.
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    /// How many local clients a broadcast with acks reached on one node.
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    /// One client's ack.
    pub const BROADCAST_ACK: u64 = 12;
    /// A node is leaving.
    pub const ADAPTER_CLOSE: u64 = 13;
}

use message_type::*;

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMessage {
    /// One of [`message_type`].
    pub kind: u64,
    /// The payload, when the type has one.
    pub data: Option<Map<String, Value>>,
    /// The sender's uid (16 hex characters from Node).
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// Binary blobs referenced by placeholders in `data`.
    pub attachments: Vec<Bytes>,
}

impl ClusterMessage {
    /// `data[key]`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.as_ref()?.get(key)
    }

    /// `data.requestId`.
    pub fn request_id(&self) -> Option<&str> {
        self.get("requestId")?.as_str()
    }
}

/// Types that switch to msgpack when they carry binary (the others never do).
fn may_carry_binary(kind: u64) -> bool {
    matches!(
        kind,
        BROADCAST
            | BROADCAST_ACK
            | FETCH_SOCKETS_RESPONSE
            | SERVER_SIDE_EMIT
            | SERVER_SIDE_EMIT_RESPONSE
    )
}

/// Encodes an envelope: msgpack when it carries binary and its type allows it, else JSON.
pub fn encode(
    kind: u64,
    data: Option<Value>,
    uid: &str,
    nsp: &str,
    attachments: &[Bytes],
) -> Vec<u8> {
    let binary = !attachments.is_empty() && may_carry_binary(kind);
    let mut envelope = Map::new();
    envelope.insert("type".into(), Value::from(kind));
    if let Some(data) = data {
        let data = if binary || attachments.is_empty() {
            data
        } else {
            buffers_to_json(&data, attachments)
        };
        envelope.insert("data".into(), data);
    }
    envelope.insert("uid".into(), Value::from(uid));
    envelope.insert("nsp".into(), Value::from(nsp));
    let envelope = Value::Object(envelope);
    if binary {
        msgpack::encode(&envelope, attachments)
    } else {
        serde_json::to_vec(&envelope).unwrap_or_default()
    }
}

/// Decodes an envelope (JSON or msgpack).
///
/// # Errors
/// A [`CodecError`] when it is not `{type, uid, nsp, data?}`; drop the message.
pub fn decode(bytes: &[u8]) -> Result<ClusterMessage, CodecError> {
    let (value, attachments) = decode_any(bytes)?;
    let Value::Object(mut map) = value else {
        return Err(err("a cluster message is an object"));
    };
    let kind = map
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| err("a cluster message has a numeric type"))?;
    let uid = match map.remove("uid") {
        Some(Value::String(s)) => s,
        _ => return Err(err("a cluster message has a uid")),
    };
    let nsp = match map.remove("nsp") {
        Some(Value::String(s)) => s,
        _ => "/".to_owned(),
    };
    let data = match map.remove("data") {
        Some(Value::Object(data)) => Some(data),
        _ => None,
    };
    Ok(ClusterMessage {
        kind,
        data,
        uid,
        nsp,
        attachments,
    })
}

/// `{type: 2, data}`: the packet as the Cluster messages carry it (no `nsp`).
fn packet_json(packet: &Packet) -> Value {
    json!({
        "type": PacketType::Event.as_u8(),
        "data": packet.data.clone().unwrap_or(Value::Array(Vec::new())),
    })
}

/// BROADCAST's data: `{packet, requestId?, opts}`.
pub fn broadcast_data(packet: &Packet, request_id: Option<&str>, opts: &BroadcastOptions) -> Value {
    let mut data = Map::new();
    data.insert("packet".into(), packet_json(packet));
    if let Some(id) = request_id {
        data.insert("requestId".into(), Value::from(id));
    }
    data.insert("opts".into(), opts_json(opts));
    Value::Object(data)
}

/// The packet of a BROADCAST, in namespace `nsp`.
///
/// # Errors
/// A [`CodecError`] when `data.packet` is not an event; drop the message.
pub fn broadcast_packet(message: &ClusterMessage) -> Result<Packet, CodecError> {
    let mut packet = packet_from(message.get("packet"), message.attachments.clone())?;
    packet.nsp = message.nsp.clone();
    Ok(packet)
}

/// SOCKETS_JOIN / SOCKETS_LEAVE's data: `{opts, rooms}`.
pub fn rooms_data(opts: &BroadcastOptions, rooms: &[Room]) -> Value {
    json!({ "opts": opts_json(opts), "rooms": rooms_json(rooms) })
}

/// DISCONNECT_SOCKETS's data: `{opts, close}`.
pub fn disconnect_data(opts: &BroadcastOptions, close: bool) -> Value {
    json!({ "opts": opts_json(opts), "close": close })
}

/// FETCH_SOCKETS's data: `{opts, requestId}`.
pub fn fetch_data(opts: &BroadcastOptions, request_id: &str) -> Value {
    json!({ "opts": opts_json(opts), "requestId": request_id })
}

/// SERVER_SIDE_EMIT's data: `{packet: [event, ...args], requestId?}`.
pub fn server_side_emit_data(args: &[Value], request_id: Option<&str>) -> Value {
    let mut data = Map::new();
    data.insert("packet".into(), Value::Array(args.to_vec()));
    if let Some(id) = request_id {
        data.insert("requestId".into(), Value::from(id));
    }
    Value::Object(data)
}

/// FETCH_SOCKETS_RESPONSE's data: `{requestId, sockets}`.
pub fn fetch_response_data(request_id: &str, sockets: &[SocketDetails]) -> Value {
    let sockets: Vec<Value> = sockets.iter().map(socket_json).collect();
    json!({ "requestId": request_id, "sockets": sockets })
}

/// SERVER_SIDE_EMIT_RESPONSE / BROADCAST_ACK's data: `{requestId, packet}`.
pub fn answer_data(request_id: &str, answer: &Value) -> Value {
    json!({ "requestId": request_id, "packet": answer })
}

/// BROADCAST_CLIENT_COUNT's data: `{requestId, clientCount}`.
pub fn client_count_data(request_id: &str, count: usize) -> Value {
    json!({ "requestId": request_id, "clientCount": count })
}

/// Sends one answer `(type, data)` to the node that made a request; each transport encodes and
/// queues it its own way.
pub(crate) type Reply = Arc<dyn Fn(u64, Value) + Send + Sync>;

/// Answers a `BROADCAST` that carries a request id (another node's broadcast with acks), as
/// Node's ClusterAdapter does: the local recipients get the packet, each one's ack goes back as
/// a `BROADCAST_ACK`, and the number reached goes back at once as a `BROADCAST_CLIENT_COUNT`.
pub(crate) fn answer_broadcast_with_ack(
    ns: &dyn LocalNamespace,
    sids: &[Sid],
    packet: &Packet,
    flags: &BroadcastFlags,
    timeout: Duration,
    request_id: &str,
    reply: Reply,
) {
    let ack_id = request_id.to_owned();
    let ack_reply = reply.clone();
    let on_ack: AckCallback = Arc::new(move |args: Vec<Value>| {
        let first = args.into_iter().next().unwrap_or(Value::Null);
        ack_reply(message_type::BROADCAST_ACK, answer_data(&ack_id, &first));
    });
    let count = ns.deliver_with_ack(sids, packet, flags, timeout, on_ack);
    reply(
        message_type::BROADCAST_CLIENT_COUNT,
        client_count_data(request_id, count),
    );
}
