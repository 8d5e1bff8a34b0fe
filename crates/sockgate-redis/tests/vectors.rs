//! The captured vectors of `adapters.md` §8 (real Node 4.8.4 nodes on Redis 7), both ways:
//! what sockgate encodes is byte-identical to what Node sent, and what Node sent decodes to
//! what it meant.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use sockgate_core::{BroadcastFlags, BroadcastOptions};
use sockgate_proto::socketio::{placeholder, Packet};
use sockgate_redis::classic::codec::{self, RequestBody};
use sockgate_redis::msgpack;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Test vector 1: `io.emit("hello", {from:"A", n:1})` on node `3ba3PC`.
const BROADCAST: &str = "93 a6 33 62 61 33 50 43 83 a4 74 79 70 65 02 a4
    64 61 74 61 92 a5 68 65 6c 6c 6f 82 a4 66 72 6f 6d a1 41 a1 6e 01 a3 6e 73 70 a1 2f 83 a5 72 6f
    6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80";
const BINARY_BROADCAST: &str = "93a633626133504383a47479706502a46461746192a362696ec403010203a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380";
const ACK_REQUEST: &str = "85a3756964a6336261335043a9726571756573744964a638317a625656a47479706507a67061636b657483a47479706502a46461746192a86e6565642d61636ba141a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd07d0";
const ACK_RESPONSE: &str =
    "83a47479706509a9726571756573744964a638317a625656a67061636b6574ae636c69656e74422061636b732041";
const CLIENT_COUNT: &str = r#"{"type":8,"requestId":"81zbVV","clientCount":1}"#;
const EMITTER: &str = "93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d697474657281a17801a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490";
const SHARDED_BINARY: &str = "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a362696ec403010203a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a3756964b031383239303431376331306231326139a36e7370a12f";
const SHARDED_TEXT: &str = r#"{"type":3,"data":{"packet":{"type":2,"data":["hello",{"from":"A","n":1}]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"18290417c10b12a9","nsp":"/"}"#;
const STREAMS_DATA: &str = r#"{"packet":{"type":2,"data":["hello",{"from":"A","n":1}]},"opts":{"rooms":[],"except":[],"flags":{}}}"#;
const STREAMS_BINARY_B64: &str =
    "gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2JpbsQDAQIDpG9wdHODpXJvb21zkKZleGNlcHSQpWZsYWdzgA==";
const STREAMS_ACK: &str = "84a47479706503a46461746183a67061636b657482a47479706502a46461746192a86e6565642d61636ba141a9726571756573744964b064383262353761616236636666616233a46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd07d0a3756964b066343635383061623632623965373561a36e7370a12f";
const CSR_SESSION_B64: &str = "hKNzaWS0Tm9yemR3VmJCcTNNYlBrTEFBQUGjcGlktC0zWWd5UUV6d0N6SnBXZGVBQUFCpXJvb21zkrROb3J6ZHdWYkJxM01iUGtMQUFBQaVyb29tMaRkYXRhgA==";

#[test]
fn classic_broadcast_matches_vector_1() {
    let bytes = unhex(BROADCAST);
    assert_eq!(bytes.len(), 67);
    let packet = Packet::event("/", vec![json!("hello"), json!({"from": "A", "n": 1})]);
    let encoded = codec::encode_broadcast("3ba3PC", &packet, &BroadcastOptions::default());
    assert_eq!(hex(&encoded), hex(&bytes));

    let decoded = codec::decode_broadcast(&bytes).unwrap();
    assert_eq!(decoded.uid, "3ba3PC");
    assert_eq!(decoded.packet, packet);
    assert_eq!(decoded.opts, BroadcastOptions::default());
}

#[test]
fn classic_binary_broadcast_puts_the_buffer_inline() {
    let bytes = unhex(BINARY_BROADCAST);
    let mut packet = Packet::event("/", vec![json!("bin")]);
    let ph = packet.add_attachment(Bytes::from_static(&[1, 2, 3]));
    if let Some(Value::Array(args)) = packet.data.as_mut() {
        args.push(ph);
    }
    let encoded = codec::encode_broadcast("3ba3PC", &packet, &BroadcastOptions::default());
    assert_eq!(hex(&encoded), hex(&bytes));

    let decoded = codec::decode_broadcast(&bytes).unwrap();
    assert_eq!(decoded.packet.data, Some(json!(["bin", placeholder(0)])));
    assert_eq!(
        decoded.packet.attachments,
        vec![Bytes::from_static(&[1, 2, 3])]
    );
}

#[test]
fn classic_broadcast_with_ack_request() {
    let bytes = unhex(ACK_REQUEST);
    let packet = Packet::event("/", vec![json!("need-ack"), json!("A")]);
    let opts = BroadcastOptions {
        flags: BroadcastFlags {
            timeout: Some(Duration::from_millis(2000)),
            ..Default::default()
        },
        ..Default::default()
    };
    let body = RequestBody::Broadcast {
        packet: packet.clone(),
        opts: opts.clone(),
    };
    let encoded = codec::encode_request("3ba3PC", Some("81zbVV"), &body);
    assert_eq!(hex(&encoded), hex(&bytes));

    let request = codec::decode_request(&bytes).unwrap();
    assert_eq!(request.uid.as_deref(), Some("3ba3PC"));
    assert_eq!(request.request_id.as_deref(), Some("81zbVV"));
    assert_eq!(request.body, body);
}

#[test]
fn classic_ack_replies() {
    // Client count: JSON.
    let encoded = codec::encode_client_count("81zbVV", 1);
    assert_eq!(String::from_utf8(encoded).unwrap(), CLIENT_COUNT);
    let count = codec::decode_response(CLIENT_COUNT.as_bytes()).unwrap();
    assert_eq!(count.request_id, "81zbVV");
    assert_eq!(count.kind, Some(8));
    assert_eq!(count.body["clientCount"], json!(1));

    // One client's ack: msgpack.
    let bytes = unhex(ACK_RESPONSE);
    let encoded = codec::encode_broadcast_ack("81zbVV", &json!("clientB acks A"), &[]);
    assert_eq!(hex(&encoded), hex(&bytes));
    let ack = codec::decode_response(&bytes).unwrap();
    assert_eq!(ack.request_id, "81zbVV");
    assert_eq!(ack.kind, Some(9));
    assert_eq!(ack.body["packet"], json!("clientB acks A"));
}

#[test]
fn emitter_broadcast_decodes_whatever_the_key_order() {
    let bytes = unhex(EMITTER);
    let decoded = codec::decode_broadcast(&bytes).unwrap();
    assert_eq!(decoded.uid, "emitter");
    assert_eq!(decoded.packet.nsp, "/");
    assert_eq!(decoded.packet.data, Some(json!(["from-emitter", {"x": 1}])));
    assert_eq!(decoded.opts, BroadcastOptions::default());
    // The generic encoder keeps the emitter's key order (rooms, flags, except).
    let (value, attachments) = msgpack::decode(&bytes).unwrap();
    assert_eq!(hex(&msgpack::encode(&value, &attachments)), hex(&bytes));
}

/// The other adapters' msgpack vectors (sharded: notepack; streams and the CSR session:
/// @msgpack/msgpack) round-trip byte for byte through the same encoder: they share the rules
/// the classic adapter depends on (minimal ints, key order, `bin`).
#[test]
fn other_msgpack_vectors_round_trip_byte_for_byte() {
    for (name, bytes) in [
        ("sharded binary", unhex(SHARDED_BINARY)),
        ("streams ack", unhex(STREAMS_ACK)),
        ("streams binary", base64(STREAMS_BINARY_B64)),
        ("csr session", base64(CSR_SESSION_B64)),
    ] {
        let (value, attachments) = msgpack::decode(&bytes).unwrap();
        assert_eq!(
            hex(&msgpack::encode(&value, &attachments)),
            hex(&bytes),
            "{name}"
        );
    }
    let (session, _) = msgpack::decode(&base64(CSR_SESSION_B64)).unwrap();
    assert_eq!(
        session,
        json!({
            "sid": "NorzdwVbBq3MbPkLAAAA",
            "pid": "-3YgyQEzwCzJpWdeAAAB",
            "rooms": ["NorzdwVbBq3MbPkLAAAA", "room1"],
            "data": {}
        })
    );
    let (sharded, attachments) = msgpack::decode(&unhex(SHARDED_BINARY)).unwrap();
    assert_eq!(
        sharded["data"]["packet"]["data"],
        json!(["bin", placeholder(0)])
    );
    assert_eq!(attachments, vec![Bytes::from_static(&[1, 2, 3])]);
    assert_eq!(sharded["uid"], json!("18290417c10b12a9"));
}

#[test]
fn json_vectors_round_trip_with_key_order() {
    for text in [SHARDED_TEXT, STREAMS_DATA, CLIENT_COUNT] {
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
    }
    // The streams text data is the classic opts model: the same decoder reads it.
    let value: Value = serde_json::from_str(STREAMS_DATA).unwrap();
    assert_eq!(
        codec::opts_from(value.get("opts")),
        BroadcastOptions::default()
    );
}

/// The JSON requests in the key orders Node writes (`lib/index.ts`).
#[test]
fn json_requests_use_nodes_key_order() {
    let opts = BroadcastOptions {
        rooms: vec!["room1".into()],
        except: vec!["x".into()],
        ..Default::default()
    };
    let cases = [
        (
            Some("req1"),
            RequestBody::AllRooms,
            r#"{"uid":"3ba3PC","requestId":"req1","type":1}"#,
        ),
        (
            None,
            RequestBody::RemoteJoin {
                opts: opts.clone(),
                rooms: vec!["r2".into()],
            },
            r#"{"uid":"3ba3PC","type":2,"opts":{"rooms":["room1"],"except":["x"]},"rooms":["r2"]}"#,
        ),
        (
            None,
            RequestBody::RemoteLeave {
                opts: opts.clone(),
                rooms: vec!["r2".into()],
            },
            r#"{"uid":"3ba3PC","type":3,"opts":{"rooms":["room1"],"except":["x"]},"rooms":["r2"]}"#,
        ),
        (
            None,
            RequestBody::RemoteDisconnect {
                opts: opts.clone(),
                close: true,
            },
            r#"{"uid":"3ba3PC","type":4,"opts":{"rooms":["room1"],"except":["x"]},"close":true}"#,
        ),
        (
            Some("req2"),
            RequestBody::RemoteFetch { opts: opts.clone() },
            r#"{"uid":"3ba3PC","requestId":"req2","type":5,"opts":{"rooms":["room1"],"except":["x"]}}"#,
        ),
        (
            None,
            RequestBody::ServerSideEmit {
                data: vec![json!("ping"), json!(1)],
            },
            r#"{"uid":"3ba3PC","type":6,"data":["ping",1]}"#,
        ),
        (
            Some("req3"),
            RequestBody::ServerSideEmit {
                data: vec![json!("ping")],
            },
            r#"{"uid":"3ba3PC","requestId":"req3","type":6,"data":["ping"]}"#,
        ),
    ];
    for (id, body, expected) in cases {
        let encoded = codec::encode_request("3ba3PC", id, &body);
        assert_eq!(String::from_utf8(encoded).unwrap(), expected);
        let decoded = codec::decode_request(expected.as_bytes()).unwrap();
        assert_eq!(decoded.request_id.as_deref(), id);
        // Room operations carry no flags: compare what they carry.
        assert_eq!(decoded.body, body, "{expected}");
    }
}

/// What `@socket.io/redis-emitter` sends for room operations: JSON without a uid (§5c).
#[test]
fn emitter_room_operations_decode_without_uid() {
    let join = br#"{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["room1"]}"#;
    let request = codec::decode_request(join).unwrap();
    assert_eq!(request.uid, None);
    assert_eq!(
        request.body,
        RequestBody::RemoteJoin {
            opts: BroadcastOptions::default(),
            rooms: vec!["room1".into()]
        }
    );
    let sse = br#"{"uid":"emitter","type":6,"data":["hi",{"a":1}]}"#;
    let request = codec::decode_request(sse).unwrap();
    assert_eq!(request.uid.as_deref(), Some("emitter"));
    assert_eq!(
        request.body,
        RequestBody::ServerSideEmit {
            data: vec![json!("hi"), json!({"a": 1})]
        }
    );
    // Numeric rooms (`socket.join(123)` in Node) are rooms too.
    let numeric = br#"{"type":3,"opts":{"rooms":[123],"except":[]},"rooms":[7]}"#;
    let request = codec::decode_request(numeric).unwrap();
    assert_eq!(
        request.body,
        RequestBody::RemoteLeave {
            opts: BroadcastOptions {
                rooms: vec!["123".into()],
                ..Default::default()
            },
            rooms: vec!["7".into()]
        }
    );
}

#[test]
fn rust_emitter_matches_the_node_emitters_vector() {
    let packet = Packet::event("/", vec![json!("from-emitter"), json!({"x": 1})]);
    let encoded =
        sockgate_redis::emitter::encode_emitter_broadcast(&packet, &BroadcastOptions::default());
    assert_eq!(hex(&encoded), hex(&unhex(EMITTER)));
    // Its flags are the Node emitter's: volatile and compress only.
    let opts = BroadcastOptions {
        rooms: vec!["r".into()],
        flags: BroadcastFlags {
            volatile: true,
            compress: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let decoded = codec::decode_broadcast(&sockgate_redis::emitter::encode_emitter_broadcast(
        &packet, &opts,
    ))
    .unwrap();
    assert_eq!(decoded.uid, "emitter");
    assert_eq!(decoded.opts, opts);
}

/// The sharded adapter's captured messages (ClusterAdapter envelopes): msgpack when binary,
/// JSON otherwise, byte for byte.
#[test]
fn sharded_broadcasts_match_the_vectors() {
    use sockgate_redis::cluster::{self, message_type::BROADCAST};
    let uid = "18290417c10b12a9";

    let mut packet = Packet::event("/", vec![json!("bin")]);
    let ph = packet.add_attachment(Bytes::from_static(&[1, 2, 3]));
    if let Some(Value::Array(args)) = packet.data.as_mut() {
        args.push(ph);
    }
    let opts = BroadcastOptions::default();
    let data = cluster::broadcast_data(&packet, None, &opts);
    let encoded = cluster::encode(BROADCAST, Some(data), uid, "/", &packet.attachments);
    assert_eq!(hex(&encoded), hex(&unhex(SHARDED_BINARY)));
    let decoded = cluster::decode(&unhex(SHARDED_BINARY)).unwrap();
    assert_eq!(
        (decoded.kind, decoded.uid.as_str(), decoded.nsp.as_str()),
        (BROADCAST, uid, "/")
    );
    assert_eq!(cluster::broadcast_packet(&decoded).unwrap(), packet);

    let text = Packet::event("/", vec![json!("hello"), json!({"from": "A", "n": 1})]);
    let data = cluster::broadcast_data(&text, None, &opts);
    let encoded = cluster::encode(BROADCAST, Some(data), uid, "/", &[]);
    assert_eq!(String::from_utf8(encoded).unwrap(), SHARDED_TEXT);
    let decoded = cluster::decode(SHARDED_TEXT.as_bytes()).unwrap();
    assert_eq!(cluster::broadcast_packet(&decoded).unwrap(), text);
    assert_eq!(codec::opts_from(decoded.get("opts")), opts);

    // The streams adapter's broadcast-with-ack envelope (same model): data keys
    // `packet, requestId, opts`.
    let ack = Packet::event("/", vec![json!("need-ack"), json!("A")]);
    let opts = BroadcastOptions {
        flags: BroadcastFlags {
            timeout: Some(Duration::from_millis(2000)),
            ..Default::default()
        },
        ..Default::default()
    };
    let data = cluster::broadcast_data(&ack, Some("d82b57aab6cffab3"), &opts);
    let value = json!({"type": 3, "data": data, "uid": "f46580ab62b9e75a", "nsp": "/"});
    assert_eq!(hex(&msgpack::encode(&value, &[])), hex(&unhex(STREAMS_ACK)));
}
