//! The wire formats of `@socket.io/redis-streams-adapter` 0.3: stream entries, the msgpack of
//! the pub/sub messages, stream naming and the persisted sessions of connection state
//! recovery.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sockgate_core::{BroadcastOptions, PersistedSession, Room, Sid};

use crate::classic::codec::{buffers_to_json, err, rooms_of, CodecError};
use crate::cluster::{message_type::*, ClusterMessage};
use crate::driver::StreamEntry;
use crate::msgpack;

/// Java's `String.hashCode` over UTF-16 code units, as the Node adapter computes it
/// (`hash = hash * 31 + c; hash |= 0`).
pub fn hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The stream namespace `nsp` is routed to: `name` with one stream, else
/// `name-<hashCode(nsp) % count>` (JavaScript's `%`, so the index may be negative).
pub fn stream_name(name: &str, count: usize, nsp: &str) -> String {
    if count <= 1 {
        return name.to_owned();
    }
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    // Rust's `%` keeps the sign of the dividend, as JavaScript's does.
    format!("{name}-{}", i64::from(hash_code(nsp)) % count)
}

/// Types whose `data` becomes base64 msgpack when it carries binary.
fn may_carry_binary(kind: u64) -> bool {
    matches!(
        kind,
        BROADCAST
            | FETCH_SOCKETS_RESPONSE
            | SERVER_SIDE_EMIT
            | SERVER_SIDE_EMIT_RESPONSE
            | BROADCAST_ACK
    )
}

/// Whether a message goes through pub/sub instead of the stream (Node's `isEphemeral`):
/// broadcasts with acks, server-side emits and `fetchSockets`. Responses always do.
pub fn is_ephemeral(kind: u64, data: &Value) -> bool {
    (kind == BROADCAST && data.get("requestId").is_some())
        || kind == SERVER_SIDE_EMIT
        || kind == FETCH_SOCKETS
}

/// The fields of an `XADD`: `uid, nsp, type, data?`, in that order. `data` is JSON, or
/// base64 msgpack when it carries binary (unless `only_plaintext`: then each blob is Node's
/// JSON form of a `Buffer`).
pub fn entry_fields(
    kind: u64,
    data: Option<&Value>,
    uid: &str,
    nsp: &str,
    attachments: &[Bytes],
    only_plaintext: bool,
) -> Vec<(String, String)> {
    let mut fields = vec![
        ("uid".to_owned(), uid.to_owned()),
        ("nsp".to_owned(), nsp.to_owned()),
        ("type".to_owned(), kind.to_string()),
    ];
    if let Some(data) = data {
        let encoded = if !attachments.is_empty() && may_carry_binary(kind) && !only_plaintext {
            BASE64.encode(msgpack::encode(data, attachments))
        } else if attachments.is_empty() {
            data.to_string()
        } else {
            buffers_to_json(data, attachments).to_string()
        };
        fields.push(("data".to_owned(), encoded));
    }
    fields
}

/// Decodes a stream entry; `Ok(None)` for an entry without `nsp` (Node skips those, e.g.
/// what the classic emitter could leave there).
///
/// # Errors
/// A [`CodecError`] for a malformed entry; skip it.
pub fn decode_entry(entry: &StreamEntry) -> Result<Option<ClusterMessage>, CodecError> {
    let Some(nsp) = entry.field("nsp").filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let kind = entry
        .field("type")
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| err("a stream entry has a numeric type"))?;
    let (data, attachments) = match entry.field("data").filter(|d| !d.is_empty()) {
        None => (None, Vec::new()),
        Some(json) if json.starts_with('{') => {
            let value: Value =
                serde_json::from_str(json).map_err(|e| err(&format!("entry data: {e}")))?;
            (Some(value), Vec::new())
        }
        Some(encoded) => {
            let bytes = BASE64
                .decode(encoded)
                .map_err(|e| err(&format!("entry data is neither JSON nor base64: {e}")))?;
            let (value, attachments) = msgpack::decode(&bytes)?;
            (Some(value), attachments)
        }
    };
    let data = match data {
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(err("entry data is not an object")),
        None => None,
    };
    Ok(Some(ClusterMessage {
        kind,
        data,
        uid: entry.field("uid").unwrap_or_default().to_owned(),
        nsp: nsp.to_owned(),
        attachments,
    }))
}

/// A pub/sub message: @msgpack/msgpack of the whole envelope `{type, data?, uid, nsp}`,
/// always msgpack (never JSON), binary inline as `bin`.
pub fn encode_pubsub(
    kind: u64,
    data: Option<Value>,
    uid: &str,
    nsp: &str,
    attachments: &[Bytes],
) -> Vec<u8> {
    let mut envelope = Map::new();
    envelope.insert("type".into(), Value::from(kind));
    if let Some(data) = data {
        envelope.insert("data".into(), data);
    }
    envelope.insert("uid".into(), Value::from(uid));
    envelope.insert("nsp".into(), Value::from(nsp));
    msgpack::encode(&Value::Object(envelope), attachments)
}

/// Whether a stored broadcast with `opts` reaches a session in `rooms` (Node's
/// `shouldIncludePacket`).
pub fn reaches(rooms: &[Room], opts: &BroadcastOptions) -> bool {
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
    included && !rooms.iter().any(|r| opts.except.contains(r))
}

/// `base64(msgpack({sid, pid, rooms, data}))`, the value of `sio:session:<pid>`. A missing
/// `data` is written `{}`, Node's default `socket.data`.
pub fn encode_session(session: &PersistedSession) -> String {
    let data = match &session.data {
        Value::Null => json!({}),
        other => other.clone(),
    };
    let value = json!({
        "sid": session.sid.as_str(),
        "pid": session.pid,
        "rooms": session.rooms.iter().map(|r| Value::from(&**r)).collect::<Vec<_>>(),
        "data": data,
    });
    BASE64.encode(msgpack::encode(&value, &[]))
}

/// Reads a session written by [`encode_session`] or by a Node node.
///
/// # Errors
/// A [`CodecError`] when it is not base64 msgpack of `{sid, pid, rooms, data}` with a
/// 20-character sid; the client then connects as a new socket.
pub fn decode_session(encoded: &str) -> Result<PersistedSession, CodecError> {
    let bytes = BASE64
        .decode(encoded)
        .map_err(|e| err(&format!("session is not base64: {e}")))?;
    let (value, _) = msgpack::decode(&bytes)?;
    let sid = value
        .get("sid")
        .and_then(Value::as_str)
        .and_then(Sid::parse)
        .ok_or_else(|| err("session has no valid sid"))?;
    let pid = value
        .get("pid")
        .and_then(Value::as_str)
        .ok_or_else(|| err("session has no pid"))?
        .to_owned();
    let rooms = rooms_of(value.get("rooms"));
    Ok(PersistedSession {
        sid,
        pid,
        rooms,
        data: value.get("data").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_code_and_stream_names_match_node() {
        assert_eq!(hash_code(""), 0);
        assert_eq!(hash_code("/"), 47);
        // "/notifications" overflows and goes negative; JS `%` keeps the sign.
        assert_eq!(
            stream_name("socket.io", 4, "/notifications"),
            "socket.io--3"
        );
        assert_eq!(stream_name("socket.io", 1, "/notifications"), "socket.io");
        assert_eq!(stream_name("socket.io", 4, "/"), "socket.io-3");
        // A character outside the BMP counts as two UTF-16 units.
        assert_eq!(hash_code("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn sessions_round_trip_and_read_nodes_vector() {
        // Captured from a Node node (reference §8).
        let node = "hKNzaWS0Tm9yemR3VmJCcTNNYlBrTEFBQUGjcGlktC0zWWd5UUV6d0N6SnBXZGVBQUFCpXJvb21zkrROb3J6ZHdWYkJxM01iUGtMQUFBQaVyb29tMaRkYXRhgA==";
        let session = decode_session(node).unwrap();
        assert_eq!(session.sid.as_str(), "NorzdwVbBq3MbPkLAAAA");
        assert_eq!(session.pid, "-3YgyQEzwCzJpWdeAAAB");
        assert_eq!(
            session.rooms,
            vec![Room::from("NorzdwVbBq3MbPkLAAAA"), Room::from("room1")]
        );
        assert_eq!(session.data, json!({}));
        // Byte for byte what Node writes.
        assert_eq!(encode_session(&session), node);
        assert!(decode_session("not base64!").is_err());
        assert!(decode_session(&BASE64.encode([0x81, 0xa3, b's', b'i', b'd', 0x01])).is_err());
    }
}
