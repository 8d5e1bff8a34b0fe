//! Wire examples from the conformance suite (protocol.md sections 4, 5.3, 5.4), validation
//! failures, msgpack byte-exact checks and property tests.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

/// An Engine.IO-level text (as written in protocol.md, e.g. `42[...]`) as the Socket.IO message.
fn text(s: &str) -> EioMessage {
    let s = s.strip_prefix('4').expect("Engine.IO message packet");
    EioMessage::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn bin(b: &[u8]) -> EioMessage {
    EioMessage::Binary(Bytes::copy_from_slice(b))
}

fn decode1(s: &str) -> Result<Option<Packet>, ParseError> {
    JsonDecoder::new().feed(text(s))
}

fn decode_ok(s: &str) -> Packet {
    decode1(s).unwrap().unwrap()
}

/// The Engine.IO-level text of `p` (with the `4` prefix, as written in protocol.md).
fn enc(p: &Packet) -> String {
    format!("4{}", std::str::from_utf8(&encode_json(p).text).unwrap())
}

/// Decodes `s`, checks it equals `p`, and that `p` encodes back to `s`.
fn both_ways(s: &str, p: &Packet) {
    assert_eq!(&decode_ok(s), p, "decoding {s}");
    assert_eq!(enc(p), s, "encoding {p:?}");
}

// ---- section 4: client -> server ---------------------------------------------------------------

#[test]
fn connect_main() {
    both_ways("40", &Packet::connect("/", None));
}

#[test]
fn connect_main_with_auth() {
    both_ways(
        "40{\"token\":\"123\"}",
        &Packet::connect("/", Some(json!({"token":"123"}))),
    );
}

#[test]
fn connect_custom_trailing_comma() {
    let p = decode_ok("40/custom,");
    assert_eq!(p, Packet::connect("/custom", None));
    assert_eq!(enc(&p), "40/custom,");
}

#[test]
fn connect_custom_with_auth() {
    both_ways(
        "40/custom,{\"token\":\"abc\"}",
        &Packet::connect("/custom", Some(json!({"token":"abc"}))),
    );
}

#[test]
fn connect_namespace_without_trailing_comma() {
    assert_eq!(decode_ok("40/random"), Packet::connect("/random", None));
    assert_eq!(decode_ok("40/custom"), Packet::connect("/custom", None));
    assert_eq!(decode_ok("41/custom"), Packet::disconnect("/custom"));
}

#[test]
fn disconnect_main() {
    both_ways("41", &Packet::disconnect("/"));
}

#[test]
fn event_message() {
    both_ways(
        "42[\"message\",\"message to main namespace\"]",
        &Packet::event(
            "/",
            vec![json!("message"), json!("message to main namespace")],
        ),
    );
}

#[test]
fn event_mixed_args() {
    let p = decode_ok("42[\"message\",1,\"2\",{\"3\":[true]}]");
    assert_eq!(p.event_name(), Some("message"));
    assert!(p.is_event() && !p.is_ack() && !p.has_binary());
    let back = Packet::event_named(
        "/",
        "message-back",
        vec![json!(1), json!("2"), json!({"3":[true]})],
    );
    assert_eq!(enc(&back), "42[\"message-back\",1,\"2\",{\"3\":[true]}]");
}

#[test]
fn event_with_ack_id_and_ack() {
    let p = decode_ok("42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
    assert_eq!(p.id, Some(456));
    assert_eq!(p.event_name(), Some("message-with-ack"));
    let ack = Packet::ack("/", 456, vec![json!(1), json!("2"), json!({"3":[false]})]);
    both_ways("43456[1,\"2\",{\"3\":[false]}]", &ack);
    assert!(ack.is_ack());
}

fn binary_exchange(first: &str) -> Packet {
    let mut d = JsonDecoder::new();
    assert_eq!(d.feed(text(first)).unwrap(), None);
    assert!(d.is_reconstructing());
    assert_eq!(d.feed(bin(&[1, 2, 3])).unwrap(), None);
    let p = d.feed(bin(&[4, 5, 6])).unwrap().unwrap();
    assert!(!d.is_reconstructing());
    p
}

#[test]
fn binary_event_round_trip() {
    let p = binary_exchange(
        "452-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    );
    assert_eq!(p.kind, PacketType::Event);
    assert!(p.is_event() && p.has_binary());
    assert_eq!(
        p.attachments,
        vec![
            Bytes::from_static(&[1, 2, 3]),
            Bytes::from_static(&[4, 5, 6])
        ]
    );
    let args = p.data.as_ref().unwrap().as_array().unwrap();
    assert_eq!(p.attachment_for(&args[2]).unwrap().as_ref(), &[4, 5, 6]);

    let reply = Packet::event_with_binary(
        "/",
        "message-back",
        p.attachments.iter().cloned().map(EventArg::Binary),
    );
    let e = encode_json(&reply);
    assert_eq!(
        e.text.as_ref(),
        b"52-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"
    );
    let msgs = e.into_messages();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1], bin(&[1, 2, 3]));
    assert_eq!(msgs[2], bin(&[4, 5, 6]));
}

#[test]
fn binary_ack_round_trip() {
    let p = binary_exchange(
        "452-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    );
    assert_eq!(p.id, Some(789));
    let args: Vec<EventArg> = p.data.as_ref().unwrap().as_array().unwrap()[1..]
        .iter()
        .map(|v| EventArg::Binary(p.attachment_for(v).unwrap().clone()))
        .collect();
    let ack = Packet::ack_with_binary("/", 789, args);
    assert!(ack.is_ack());
    assert_eq!(ack.wire_type(), PacketType::BinaryAck);
    let e = encode_json(&ack);
    assert_eq!(
        e.text.as_ref(),
        b"62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"
    );
    assert_eq!(e.message_count(), 3);
    // and decoding our own output gives the same packet back
    let mut d = JsonDecoder::new();
    let mut out = None;
    for m in e {
        out = d.feed(m).unwrap();
    }
    assert_eq!(out.unwrap(), ack);
}

#[test]
fn binary_with_namespace_and_zero_attachments() {
    let p = binary_exchange(
        "452-/custom,7[\"x\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]",
    );
    assert_eq!((p.nsp.as_str(), p.id), ("/custom", Some(7)));
    // 50- announces no attachment: illegal since socket.io-parser 4.2.7
    assert_eq!(decode1("450-[\"x\"]"), Err(ParseError::IllegalAttachments));
}

#[test]
fn session_trace_5_1() {
    let mut d = JsonDecoder::new();
    assert_eq!(
        d.feed(text(
            "451-0[\"hello\",\"x\",{\"_placeholder\":true,\"num\":0}]"
        ))
        .unwrap(),
        None
    );
    let p = d.feed(bin(b"abc")).unwrap().unwrap();
    assert_eq!(p.id, Some(0));
    let mut reply = Packet::ack("/", 0, vec![json!("ok")]);
    let ph = reply.add_attachment(Bytes::from_static(b"ok"));
    if let Some(Value::Array(a)) = &mut reply.data {
        a.push(ph);
    }
    assert_eq!(
        encode_json(&reply).text.as_ref(),
        b"61-0[\"ok\",{\"_placeholder\":true,\"num\":0}]"
    );
}

// ---- server -> client (sections 4, 5.3, 5.4) ----------------------------------------------------

#[test]
fn server_replies() {
    let cases: Vec<(Packet, &str)> = vec![
        (
            Packet::connect("/", Some(json!({"sid":"abc"}))),
            "40{\"sid\":\"abc\"}",
        ),
        (
            Packet::connect("/custom", Some(json!({"sid":"abc"}))),
            "40/custom,{\"sid\":\"abc\"}",
        ),
        (
            Packet::event_named("/", "auth", vec![json!({})]),
            "42[\"auth\",{}]",
        ),
        (
            Packet::event_named("/", "auth", vec![json!({"token":"123"})]),
            "42[\"auth\",{\"token\":\"123\"}]",
        ),
        (
            Packet::event_named("/custom", "auth", vec![json!({})]),
            "42/custom,[\"auth\",{}]",
        ),
        (
            Packet::connect_error("/random", "Invalid namespace", None),
            "44/random,{\"message\":\"Invalid namespace\"}",
        ),
        (
            Packet::connect_error("/", "Auth failed (main namespace)", None),
            "44{\"message\":\"Auth failed (main namespace)\"}",
        ),
        (
            Packet::connect_error("/no", "Auth failed (custom namespace)", None),
            "44/no,{\"message\":\"Auth failed (custom namespace)\"}",
        ),
        (Packet::disconnect("/custom"), "41/custom,"),
        (
            Packet::event_named("/", "hi", vec![json!("Q8InYV8")]),
            "42[\"hi\",\"Q8InYV8\"]",
        ),
        (Packet::ack("/", 1, vec![json!({"a":1})]), "431[{\"a\":1}]"),
        (
            Packet::event_named("/", "welcome", vec![json!(1), json!("Q8In1tP")]),
            "42[\"welcome\",1,\"Q8In1tP\"]",
        ),
    ];
    for (p, s) in cases {
        both_ways(s, &p);
    }
    // connect_error with data, and a CONNECT_ERROR carrying a plain string (v4 style)
    let p = Packet::connect_error("/", "nope", Some(json!({"x":1})));
    assert_eq!(p.data, Some(json!({"message":"nope","data":{"x":1}})));
    assert_eq!(
        enc(&p),
        format!(
            "44{}",
            serde_json::to_string(p.data.as_ref().unwrap()).unwrap()
        )
    );
    assert_eq!(decode_ok("44\"boom\"").data, Some(json!("boom")));
    assert_eq!(decode_ok("421[\"echo\",{\"a\":1}]").id, Some(1));
}

#[test]
fn null_data_is_omitted() {
    let mut p = Packet::connect("/", Some(Value::Null));
    assert_eq!(enc(&p), "40");
    p.nsp = String::new();
    assert_eq!(enc(&p), "40");
}

#[test]
fn encode_into_reuses_buffer() {
    let mut buf = b"4".to_vec();
    encode_json_into(&Packet::event_named("/", "a", vec![]), &mut buf);
    assert_eq!(buf, b"42[\"a\"]", "prefix kept, packet appended");
}

#[test]
fn parser_enum_dispatch() {
    let p = Packet::event_named("/x", "a", vec![json!(1)]);
    for parser in [Parser::Json, Parser::Msgpack] {
        let mut d = parser.decoder();
        let mut out = None;
        for m in parser.encode(&p) {
            out = d.feed(m).unwrap();
        }
        assert_eq!(out.unwrap(), p);
    }
}

// ---- validation failures ------------------------------------------------------------------------

#[test]
fn validation_failures() {
    use ParseError::*;
    let cases: &[(&str, ParseError)] = &[
        ("4", Empty),
        ("4abc", UnknownType('a')),
        ("47", UnknownType('7')),
        ("4é", UnknownType('é')),
        ("42{}", InvalidPayload),
        ("42\"x\"", InvalidPayload),
        ("42[]", InvalidPayload),
        ("42[null]", InvalidPayload),
        ("42[{}]", InvalidPayload),
        ("42", InvalidPayload),
        ("43", InvalidPayload),
        ("43{}", InvalidPayload),
        ("40[]", InvalidPayload),
        ("40\"x\"", InvalidPayload),
        ("40null", InvalidPayload),
        ("41{}", InvalidPayload),
        ("41/custom,{}", InvalidPayload),
        ("44[]", InvalidPayload),
        ("44 1", InvalidPayload),
        ("42[\"connect\"]", InvalidPayload),
        ("42[\"connect_error\"]", InvalidPayload),
        ("42[\"disconnect\"]", InvalidPayload),
        ("42[\"disconnecting\"]", InvalidPayload),
        ("42[\"newListener\"]", InvalidPayload),
        ("42[\"removeListener\"]", InvalidPayload),
        ("4299999999999999999999[\"a\"]", InvalidAckId),
        ("45[\"a\"]", IllegalAttachments),
        ("45-[\"a\"]", IllegalAttachments),
        ("45x-[\"a\"]", IllegalAttachments),
        ("451[\"a\"]", IllegalAttachments),
        ("4511-[\"a\"]", TooManyAttachments { count: 11, max: 10 }),
        (
            "4599999999999999999999999-[\"a\"]",
            TooManyAttachments {
                count: usize::MAX,
                max: 10,
            },
        ),
        (
            "451-[\"a\",{\"_placeholder\":true,\"num\":1}]",
            IllegalPlaceholder,
        ),
        ("451-[\"a\",{\"_placeholder\":true}]", IllegalPlaceholder),
        (
            "451-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
            IllegalPlaceholder,
        ),
        (
            "450-[\"a\",{\"_placeholder\":true,\"num\":0}]",
            IllegalAttachments,
        ),
        // socket.io-parser 4.2.7: a binary packet must have at least one attachment
        ("450-[\"a\"]", IllegalAttachments),
        ("460-1[\"a\"]", IllegalAttachments),
        (
            "461-[{\"k\":[{\"_placeholder\":true,\"num\":\"0\"}]}]",
            IllegalPlaceholder,
        ),
        (
            "451-[\"connect\",{\"_placeholder\":true,\"num\":0}]",
            InvalidPayload,
        ),
        ("451-", InvalidPayload),
    ];
    for (s, e) in cases {
        assert_eq!(&decode1(s).unwrap_err(), e, "input {s:?}");
    }
    for s in [
        "42abc[\"a\"]",
        "42[\"a\"]x",
        "42[\"a\"",
        "40/custom,x",
        "42 ",
    ] {
        assert!(matches!(decode1(s), Err(InvalidJson(_))), "input {s:?}");
    }
    // JSON.parse allows surrounding whitespace
    assert_eq!(decode_ok("421 [\"a\"] ").id, Some(1));
    // numbers are accepted as event names; reserved names are fine as arguments
    assert!(decode1("42[1]").is_ok());
    assert!(decode1("42[\"a\",\"connect\"]").is_ok());
    assert!(decode1("44{\"message\":\"x\"}").is_ok());
    assert_eq!(
        decode1("4510-[\"a\"]").unwrap(),
        None,
        "10 attachments is the limit, still allowed"
    );
    assert_eq!(
        JsonDecoder::with_max_attachments(20)
            .feed(text("4511-[\"a\"]"))
            .unwrap(),
        None
    );
    assert_eq!(
        JsonDecoder::new().max_attachments(),
        DEFAULT_MAX_ATTACHMENTS
    );
}

#[test]
fn invalid_utf8() {
    let msg = EioMessage::Text(Bytes::from_static(&[b'4', b'2', 0xff]));
    assert_eq!(JsonDecoder::new().feed(msg), Err(ParseError::InvalidUtf8));
}

#[test]
fn binary_sequence_errors() {
    // binary when none expected
    let mut d = JsonDecoder::new();
    assert_eq!(d.feed(bin(&[1])), Err(ParseError::UnexpectedBinary));
    // a duplicate (extra) binary after the packet completed
    assert_eq!(
        d.feed(text("451-[\"a\",{\"_placeholder\":true,\"num\":0}]"))
            .unwrap(),
        None
    );
    assert!(d.feed(bin(&[1])).unwrap().is_some());
    assert_eq!(d.feed(bin(&[1])), Err(ParseError::UnexpectedBinary));
    // text while reconstructing; the pending packet is dropped
    assert_eq!(d.feed(text("452-[\"a\"]")).unwrap(), None);
    assert_eq!(d.feed(bin(&[1])).unwrap(), None);
    assert_eq!(d.feed(text("42[\"a\"]")), Err(ParseError::UnexpectedText));
    assert!(!d.is_reconstructing());
    assert!(d.feed(text("42[\"a\"]")).unwrap().is_some());
    // reset
    assert_eq!(d.feed(text("451-[\"a\"]")).unwrap(), None);
    d.reset();
    assert_eq!(d.feed(bin(&[1])), Err(ParseError::UnexpectedBinary));
}

#[test]
fn reserved_events() {
    for n in RESERVED_EVENTS {
        assert!(is_reserved_event(n));
    }
    assert!(!is_reserved_event("message"));
    assert!(!is_reserved_event("Connect"));
}

#[test]
fn placeholders_in_plain_events_are_plain_data() {
    // Node only reconstructs binary packets; a placeholder-looking object in `42` is data.
    let p = decode_ok("42[\"a\",{\"_placeholder\":true,\"num\":3}]");
    assert!(p.attachment_for(&p.data.as_ref().unwrap()[1]).is_none());
}

#[test]
fn error_display() {
    assert_eq!(
        ParseError::UnknownType('a').to_string(),
        "unknown packet type 'a'"
    );
    assert_eq!(
        ParseError::TooManyAttachments { count: 11, max: 10 }.to_string(),
        "too many attachments: 11 (max 10)"
    );
    let e: Box<dyn std::error::Error> = Box::new(ParseError::InvalidPayload);
    assert_eq!(e.to_string(), "invalid payload");
}

#[test]
fn packet_type_numbers() {
    for n in 0..=6u8 {
        assert_eq!(PacketType::from_u8(n).unwrap().as_u8(), n);
    }
    assert_eq!(PacketType::from_u8(7), None);
    assert_eq!(PacketType::BinaryAck.without_binary(), PacketType::Ack);
    let mut p = Packet::event_named("/", "a", vec![]);
    p.kind = PacketType::BinaryEvent;
    assert!(p.is_event());
    assert_eq!(
        enc(&p),
        "42[\"a\"]",
        "no attachments: plain EVENT on the wire"
    );
}

// ---- msgpack ------------------------------------------------------------------------------------

fn mp(p: &Packet) -> Vec<u8> {
    encode_msgpack(p).to_vec()
}

fn mp_decode(b: &[u8]) -> Result<Packet, ParseError> {
    MsgpackDecoder::new()
        .feed(bin(b))
        .map(|p| p.expect("msgpack always yields a packet"))
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

#[test]
fn msgpack_exact_bytes_event() {
    let p = Packet::event("/", vec![json!("hello"), json!(1)]);
    let expected =
        hex("83 a4 74 79 70 65 02 a4 64 61 74 61 92 a5 68 65 6c 6c 6f 01 a3 6e 73 70 a1 2f");
    assert_eq!(mp(&p), expected);
    assert_eq!(mp_decode(&expected).unwrap(), p);
}

#[test]
fn msgpack_exact_bytes_ack_with_binary_and_id() {
    // {type:3, data:[<Buffer 01 02>], nsp:"/c", id:300}
    let p = Packet::ack_with_binary("/c", 300, [EventArg::Binary(Bytes::from_static(&[1, 2]))]);
    let expected = hex(
        "84 a4 74 79 70 65 03 a4 64 61 74 61 91 c4 02 01 02 a3 6e 73 70 a2 2f 63 a2 69 64 cd 01 2c",
    );
    assert_eq!(mp(&p), expected);
    assert_eq!(mp_decode(&expected).unwrap(), p);
}

#[test]
fn msgpack_exact_bytes_connect_without_data() {
    // {type:1, nsp:"/"}
    let expected = hex("82 a4 74 79 70 65 01 a3 6e 73 70 a1 2f");
    assert_eq!(mp(&Packet::disconnect("/")), expected);
    assert_eq!(mp_decode(&expected).unwrap(), Packet::disconnect("/"));
}

#[test]
fn msgpack_number_encodings() {
    let cases: Vec<(Value, &str)> = vec![
        (json!(0), "00"),
        (json!(127), "7f"),
        (json!(128), "cc 80"),
        (json!(256), "cd 01 00"),
        (json!(65536), "ce 00 01 00 00"),
        (json!(4294967296u64), "cf 00 00 00 01 00 00 00 00"),
        (json!(-1), "ff"),
        (json!(-32), "e0"),
        (json!(-33), "d0 df"),
        (json!(-129), "d1 ff 7f"),
        (json!(-32769), "d2 ff ff 7f ff"),
        (json!(-2147483649i64), "d3 ff ff ff ff 7f ff ff ff"),
        (json!(1.5), "cb 3f f8 00 00 00 00 00 00"),
        (json!(2.0), "02"),
        (json!(-2.0), "fe"),
        (json!(null), "c0"),
        (json!(true), "c3"),
        (json!(false), "c2"),
        (json!("a".repeat(31)), ""),
    ];
    for (v, h) in cases {
        let p = Packet::event("/", vec![json!("e"), v.clone()]);
        let bytes = mp(&p);
        // 83 a4 type 02 a4 data 92 a1 65 <value> a3 nsp a1 2f
        let value = &bytes[15..bytes.len() - 6];
        if !h.is_empty() {
            assert_eq!(value, hex(h).as_slice(), "value {v}");
        }
        let back = mp_decode(&bytes).unwrap();
        let expected = match v.as_f64() {
            Some(f) if f.fract() == 0.0 && !v.is_u64() && !v.is_i64() => json!(f as i64),
            _ => v.clone(),
        };
        assert_eq!(back.data.unwrap()[1], expected, "value {v}");
    }
}

/// Every format boundary of the writer, byte for byte as notepack 2.2 writes it (the writer uses
/// `rmp`'s encoders; these pin that they choose the formats notepack chooses).
#[test]
fn msgpack_writer_format_boundaries() {
    fn value_bytes(v: Value, attachments: Vec<Bytes>) -> Vec<u8> {
        let mut p = Packet::event("/", vec![json!("e"), v]);
        p.attachments = attachments;
        let bytes = mp(&p);
        // 83 a4 type 02 a4 data 92 a1 65 <value> a3 nsp a1 2f
        bytes[15..bytes.len() - 6].to_vec()
    }
    let ints: Vec<(Value, &str)> = vec![
        (json!(255), "cc ff"),
        (json!(65535), "cd ff ff"),
        (json!(4294967295u64), "ce ff ff ff ff"),
        (json!(u64::MAX), "cf ff ff ff ff ff ff ff ff"),
        (json!(-128), "d0 80"),
        (json!(-32768), "d1 80 00"),
        (json!(-2147483648i64), "d2 80 00 00 00"),
        (json!(i64::MIN), "d3 80 00 00 00 00 00 00 00"),
        (json!(-0.5), "cb bf e0 00 00 00 00 00 00"),
        (json!(4294967296.0), "cf 00 00 00 01 00 00 00 00"),
    ];
    for (v, h) in ints {
        assert_eq!(value_bytes(v.clone(), vec![]), hex(h), "value {v}");
    }
    let header = |v: Value, n: usize| value_bytes(v, vec![])[..n].to_vec();
    assert_eq!(header(json!("a".repeat(255)), 2), hex("d9 ff"));
    assert_eq!(header(json!("a".repeat(65535)), 3), hex("da ff ff"));
    assert_eq!(header(json!("a".repeat(65536)), 5), hex("db 00 01 00 00"));
    assert_eq!(header(json!(vec![0; 15]), 1), hex("9f"));
    assert_eq!(header(json!(vec![0; 65535]), 3), hex("dc ff ff"));
    assert_eq!(header(json!(vec![0; 65536]), 5), hex("dd 00 01 00 00"));
    let map = |n: usize| Value::Object((0..n).map(|i| (i.to_string(), json!(0))).collect());
    assert_eq!(header(map(15), 1), hex("8f"));
    assert_eq!(header(map(16), 3), hex("de 00 10"));
    assert_eq!(header(map(65536), 5), hex("df 00 01 00 00"));
    let bin = |n: usize| value_bytes(placeholder(0), vec![Bytes::from(vec![1u8; n])]);
    assert_eq!(bin(0), hex("c4 00"));
    assert_eq!(bin(255)[..2], hex("c4 ff"));
    assert_eq!(bin(256)[..3], hex("c5 01 00"));
    assert_eq!(bin(65536)[..5], hex("c6 00 01 00 00"));
}

#[test]
fn msgpack_length_headers() {
    let s31 = "a".repeat(31);
    let s32 = "a".repeat(32);
    let s256 = "a".repeat(256);
    let mut out = Vec::new();
    encode_msgpack_into(
        &Packet::event("/", vec![json!(s31), json!(s32), json!(s256)]),
        &mut out,
    );
    let find = |needle: &[u8]| out.windows(needle.len()).any(|w| w == needle);
    assert!(find(&[0x93, 0xbf]));
    assert!(find(&[0xd9, 32]));
    assert!(find(&[0xda, 0x01, 0x00]));
    let big: Vec<Value> = (0..16).map(Value::from).collect();
    let mut p = Packet::ack("/", 1, big);
    p.attachments.push(Bytes::from(vec![7u8; 300]));
    p.data
        .as_mut()
        .unwrap()
        .as_array_mut()
        .unwrap()
        .push(placeholder(0));
    let bytes = mp(&p);
    assert!(bytes.windows(3).any(|w| w == [0xdc, 0x00, 0x11]));
    assert!(bytes.windows(3).any(|w| w == [0xc5, 0x01, 0x2c]));
    assert_eq!(mp_decode(&bytes).unwrap(), p);
}

#[test]
fn msgpack_notepack_quirks() {
    // data: undefined (fixext 1 type 0) -> absent; key order type, data, nsp as the client sends
    let b = hex("82 a4 74 79 70 65 00 a4 64 61 74 61 d4 00 00 a3 6e 73 70 a1 2f");
    assert!(
        mp_decode(&b).is_err(),
        "2 entries announced but 3 present: trailing bytes"
    );
    let b = hex("83 a4 74 79 70 65 00 a4 64 61 74 61 d4 00 00 a3 6e 73 70 a1 2f");
    assert_eq!(mp_decode(&b).unwrap(), Packet::connect("/", None));
    // client's extra `options` key is ignored, id before nsp, ArrayBuffer as ext type 0
    let b = hex(
        "85 a4 74 79 70 65 02 a4 64 61 74 61 92 a1 65 c7 02 00 09 08 \
         a7 6f 70 74 69 6f 6e 73 81 a8 63 6f 6d 70 72 65 73 73 c3 a2 69 64 05 a3 6e 73 70 a1 2f",
    );
    let p = mp_decode(&b).unwrap();
    assert_eq!(p.id, Some(5));
    assert_eq!(p.attachments, vec![Bytes::from_static(&[9, 8])]);
    assert_eq!(
        p.data.unwrap(),
        json!(["e", {"_placeholder": true, "num": 0}])
    );
    // Date (fixext 8 type 0) becomes its JSON string; undefined in arrays -> null, in maps dropped
    let b = hex(
        "83 a4 74 79 70 65 02 a4 64 61 74 61 94 a1 65 d7 00 00 00 00 df b7 62 9c 00 d4 00 00 \
         82 a1 61 d4 00 00 a1 62 01 a3 6e 73 70 a1 2f",
    );
    let p = mp_decode(&b).unwrap();
    assert_eq!(
        p.data.unwrap(),
        json!(["e", "2000-06-13T00:00:00.000Z", null, {"b": 1}])
    );
    // float32 and integral float64 decode like JS numbers
    let b = hex("83 a4 74 79 70 65 02 a4 64 61 74 61 93 a1 65 ca 3f c0 00 00 cb 40 00 00 00 00 00 00 00 a3 6e 73 70 a1 2f");
    assert_eq!(mp_decode(&b).unwrap().data.unwrap(), json!(["e", 1.5, 2]));
}

#[test]
fn msgpack_validation() {
    use ParseError::*;
    let body = |ty: &str, data: &str, nsp: &str| {
        let mut s = String::from("83 a4 74 79 70 65 ");
        s.push_str(ty);
        s.push_str(" a4 64 61 74 61 ");
        s.push_str(data);
        s.push_str(" a3 6e 73 70 ");
        s.push_str(nsp);
        hex(&s)
    };
    let cases: Vec<(Vec<u8>, ParseError)> = vec![
        (body("05", "91 a1 65", "a1 2f"), InvalidType),
        (body("ff", "91 a1 65", "a1 2f"), InvalidType),
        (body("a1 32", "91 a1 65", "a1 2f"), InvalidType),
        (body("02", "91 a1 65", "01"), InvalidNamespace),
        (body("02", "90", "a1 2f"), InvalidPayload),
        (body("02", "80", "a1 2f"), InvalidPayload),
        (
            body("02", "91 a7 63 6f 6e 6e 65 63 74", "a1 2f"),
            InvalidPayload,
        ),
        (body("00", "90", "a1 2f"), InvalidPayload),
        (body("01", "80", "a1 2f"), InvalidPayload),
        (body("04", "01", "a1 2f"), InvalidPayload),
        (body("03", "c0", "a1 2f"), InvalidPayload),
        (hex("91 02"), InvalidType),
        (hex("c1"), InvalidMsgpack("reserved byte 0xc1")),
        (hex(""), InvalidMsgpack("truncated")),
        (hex("83 a4 74 79 70"), InvalidMsgpack("truncated")),
        (
            hex("81 a4 74 79 70 65 02 00"),
            InvalidMsgpack("trailing bytes"),
        ),
        (
            hex("81 a2 ff fe 02"),
            InvalidMsgpack("string is not valid UTF-8"),
        ),
        (hex("df ff ff ff ff"), InvalidMsgpack("truncated")),
        (hex("81 c4 01 00 02"), InvalidMsgpack("unsupported map key")),
    ];
    for (b, e) in cases {
        assert_eq!(mp_decode(&b).unwrap_err(), e, "input {b:02x?}");
    }
    // negative ack id
    let mut b = body("02", "91 a1 65", "a1 2f");
    b[0] = 0x84;
    b.extend_from_slice(&hex("a2 69 64 ff"));
    assert_eq!(mp_decode(&b).unwrap_err(), InvalidAckId);
    // text messages are refused
    assert_eq!(
        MsgpackDecoder::new().feed(text("42[\"a\"]")),
        Err(UnexpectedText)
    );
    // deep nesting is refused without overflowing the stack
    let mut deep = hex("81 a4 64 61 74 61");
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    assert_eq!(
        mp_decode(&deep).unwrap_err(),
        InvalidMsgpack("nesting too deep")
    );
}

#[test]
fn msgpack_binary_round_trip() {
    let p = Packet::event_with_binary(
        "/custom",
        "message",
        [
            EventArg::Binary(Bytes::from_static(&[1, 2, 3])),
            EventArg::Json(json!({"nested": [1.25, "x", null]})),
            EventArg::Binary(Bytes::from_static(&[4, 5, 6])),
        ],
    )
    .with_id(789);
    let b = mp(&p);
    assert_eq!(mp_decode(&b).unwrap(), p);
    // JSON and msgpack see the same model
    let mut d = JsonDecoder::new();
    let mut out = None;
    for m in encode_json(&p) {
        out = d.feed(m).unwrap();
    }
    assert_eq!(out.unwrap(), p);
}

#[test]
fn date_formatting() {
    let cases = [
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
        (-62_198_755_200_000, "-000001-01-01T00:00:00.000Z"),
    ];
    for (ms, s) in cases {
        let mut b = hex("83 a4 74 79 70 65 02 a4 64 61 74 61 92 a1 65 d7 00");
        b.extend_from_slice(&i64::to_be_bytes(ms));
        b.extend_from_slice(&hex("a3 6e 73 70 a1 2f"));
        assert_eq!(mp_decode(&b).unwrap().data.unwrap()[1], json!(s), "ms {ms}");
    }
}

// ---- property tests -----------------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_/-]{1,12}"]
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    let name = "[a-z]{1,10}".prop_filter("reserved", |s| !is_reserved_event(s));
    let args = prop::collection::vec(
        prop_oneof![
            3 => arb_json().prop_map(EventArg::Json),
            1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|v| EventArg::Binary(Bytes::from(v))),
        ],
        0..5,
    );
    prop_oneof![
        (
            arb_nsp(),
            prop::option::of(prop::collection::btree_map("[a-z]{1,5}", arb_json(), 0..4))
        )
            .prop_map(|(n, d)| Packet::connect(
                n,
                d.map(|m| Value::Object(m.into_iter().collect()))
            )),
        arb_nsp().prop_map(Packet::disconnect),
        (arb_nsp(), ".{0,20}", prop::option::of(arb_json()))
            .prop_map(|(n, m, d)| Packet::connect_error(n, m, d)),
        (
            arb_nsp(),
            name,
            args.clone(),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(n, e, a, id)| {
                let p = Packet::event_with_binary(n, e, a);
                match id {
                    Some(id) => p.with_id(id),
                    None => p,
                }
            }),
        (arb_nsp(), any::<u64>(), args).prop_map(|(n, id, a)| Packet::ack_with_binary(n, id, a)),
    ]
    .prop_filter("Node caps attachments at 10", |p| p.attachments.len() <= 10)
}

/// Floats that are integral come back from msgpack as integers (JS has one number type).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                Value::from(f as i64)
            } else {
                v.clone()
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        _ => v.clone(),
    }
}

proptest! {
    // Keep failures out of the source tree (no proptest-regressions directory); a failing case is
    // printed and should be added as a unit test.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn json_decoder_never_panics(msgs in prop::collection::vec(
        prop_oneof![
            ".{0,64}".prop_map(|s| EioMessage::Text(Bytes::from(s))),
            "[0-6][0-9]{0,2}-?(/[a-z]{0,4},?)?[0-9]{0,3}\\[.{0,16}\\]".prop_map(|s| EioMessage::Text(Bytes::from(s))),
            prop::collection::vec(any::<u8>(), 0..32).prop_map(|v| EioMessage::Text(Bytes::from(v))),
            prop::collection::vec(any::<u8>(), 0..32).prop_map(|v| EioMessage::Binary(Bytes::from(v))),
        ], 0..8)) {
        let mut d = JsonDecoder::new();
        for m in msgs {
            let _ = d.feed(m);
        }
    }

    /// `feed_lazy` returns what `feed` returns, for generated packets and for junk alike.
    #[test]
    fn lazy_decoding_agrees_with_feed(
        packet in arb_packet(),
        junk in "[0-6][0-9]{0,2}-?(/[a-z]{0,4},?)?[0-9]{0,3}\\[.{0,16}\\]",
    ) {
        let mut messages = encode_json(&packet).into_messages();
        messages.push(EioMessage::Text(Bytes::from(junk)));
        let (mut strict, mut lazy) = (JsonDecoder::new(), JsonDecoder::new());
        for m in messages {
            let expected = strict.feed(m.clone());
            let got = lazy.feed_lazy(m).map(|d| d.map(crate::socketio::Decoded::into_packet));
            prop_assert_eq!(expected, got);
        }
    }

    #[test]
    fn msgpack_decoder_never_panics(b in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = MsgpackDecoder::new().feed(EioMessage::Binary(Bytes::from(b)));
    }

    #[test]
    fn msgpack_decoder_never_panics_on_mutations(p in arb_packet(), idx in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut b = mp(&p);
        let i = idx.index(b.len());
        b[i] = byte;
        let _ = mp_decode(&b);
        b.truncate(cut.index(b.len()));
        let _ = mp_decode(&b);
    }

    #[test]
    fn json_round_trip(p in arb_packet()) {
        let mut d = JsonDecoder::new();
        let mut out = None;
        for m in encode_json(&p) {
            prop_assert!(out.is_none());
            out = d.feed(m).unwrap();
        }
        prop_assert_eq!(out.unwrap(), p);
    }

    #[test]
    fn msgpack_round_trip(p in arb_packet()) {
        let got = mp_decode(&mp(&p)).unwrap();
        let mut want = p.clone();
        want.data = want.data.as_ref().map(normalize);
        prop_assert_eq!(got, want);
    }
}

/// `depth` nested arrays around `1`, as JSON: `[[[1]]]` for 3.
fn nested_json(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn json_nesting_depth_is_bounded() {
    // The event array itself is level 1.
    let ok = format!("42[\"a\",{}]", nested_json(MAX_NESTING_DEPTH - 1));
    assert!(decode1(&ok).unwrap().is_some());
    let deep = format!("42[\"a\",{}]", nested_json(MAX_NESTING_DEPTH));
    assert_eq!(
        decode1(&deep).unwrap_err(),
        ParseError::InvalidJson("nesting too deep".to_owned())
    );
    let objects = format!("42[\"a\",{}1{}]", "{\"k\":".repeat(64), "}".repeat(64));
    assert!(decode1(&objects).is_err());
    // far deeper than serde_json's own limit, without a stack overflow
    let huge = format!("42{}", "[".repeat(1_000_000));
    assert!(decode1(&huge).is_err());
    // brackets in strings (with escaped quotes) do not count
    let in_str = format!("42[\"a\",\"\\\"{}\"]", "[".repeat(200));
    assert!(decode1(&in_str).unwrap().is_some(), "{in_str}");
}

/// A msgpack event packet `{type: 2, data: [\"a\", <arg>], nsp: \"/\"}` with `arg` raw.
fn mp_event(arg: &[u8]) -> Vec<u8> {
    let mut b = hex("83 a4 74 79 70 65 02 a4 64 61 74 61 92 a1 61");
    b.extend_from_slice(arg);
    b.extend_from_slice(&hex("a3 6e 73 70 a1 2f"));
    b
}

#[test]
fn msgpack_nesting_depth_is_bounded() {
    // `data` is level 1: 63 more arrays are fine, 64 more are not.
    let arrays = |n| {
        let mut v = vec![0x91; n];
        v.push(0x01);
        v
    };
    assert!(mp_decode(&mp_event(&arrays(MAX_NESTING_DEPTH - 1))).is_ok());
    assert_eq!(
        mp_decode(&mp_event(&arrays(MAX_NESTING_DEPTH))).unwrap_err(),
        ParseError::InvalidMsgpack("nesting too deep")
    );
    // maps count as well, keys included
    let mut maps = Vec::new();
    for _ in 0..MAX_NESTING_DEPTH {
        maps.extend_from_slice(&hex("81 a1 6b"));
    }
    maps.push(0x01);
    assert!(mp_decode(&mp_event(&maps)).is_err());
}

#[test]
fn msgpack_binary_count_is_bounded_like_json_attachments() {
    let bins = |n: usize| {
        let mut v = vec![0xdc];
        v.extend_from_slice(&(n as u16).to_be_bytes());
        for _ in 0..n {
            v.extend_from_slice(&hex("c4 01 07"));
        }
        v
    };
    let p = mp_decode(&mp_event(&bins(10))).unwrap();
    assert_eq!(p.attachments.len(), 10);
    assert_eq!(
        mp_decode(&mp_event(&bins(11))).unwrap_err(),
        ParseError::TooManyAttachments { count: 11, max: 10 }
    );
    // The packet: ~1 MB of 2-byte binaries is refused at the 11th, not decoded.
    let mut huge = vec![0xdd];
    huge.extend_from_slice(&499_000u32.to_be_bytes());
    huge.extend(std::iter::repeat_n([0xc4, 0x00], 499_000).flatten());
    assert_eq!(
        mp_decode(&mp_event(&huge)).unwrap_err(),
        ParseError::TooManyAttachments { count: 11, max: 10 }
    );
    // ext values become binaries too; binaries outside `data` count as well
    let mut exts = vec![0x9b];
    for _ in 0..11 {
        exts.extend_from_slice(&hex("d4 05 01"));
    }
    assert!(matches!(
        mp_decode(&mp_event(&exts)),
        Err(ParseError::TooManyAttachments { .. })
    ));
    let raised = MsgpackDecoder::with_max_attachments(20);
    assert_eq!(raised.max_attachments(), 20);
    assert!(raised.clone().feed(bin(&mp_event(&bins(20)))).is_ok());
    assert!(Parser::Msgpack
        .decoder_with_max_attachments(20)
        .feed(bin(&mp_event(&bins(20))))
        .is_ok());
    assert!(Parser::Json
        .decoder_with_max_attachments(20)
        .feed(text("4520-[\"a\"]"))
        .is_ok());
}

#[test]
fn msgpack_array_headers_reserve_nothing_they_have_not_read() {
    // 64 nested `array 32` headers announcing 2^32-1 elements each, then the message ends: the
    // decoder must fail on truncation without reserving per announced element.
    let mut b = Vec::new();
    for _ in 0..MAX_NESTING_DEPTH - 1 {
        b.extend_from_slice(&hex("dd ff ff ff ff"));
    }
    assert_eq!(mp_decode(&mp_event(&b)).unwrap_err(), TRUNCATED_ERR);
}

const TRUNCATED_ERR: ParseError = ParseError::InvalidMsgpack("truncated");

#[test]
fn incomplete_binary_packets_hold_a_bounded_number_of_bytes() {
    let mut d = JsonDecoder::new().with_max_pending_bytes(10);
    assert_eq!(d.max_pending_bytes(), 10);
    let head = "453-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":2}]";
    assert_eq!(d.feed(text(head)), Ok(None));
    assert_eq!(d.feed(bin(&[0; 6])), Ok(None));
    assert_eq!(d.pending_bytes(), 6);
    assert_eq!(
        d.feed(bin(&[0; 5])),
        Err(ParseError::PendingTooLarge { max: 10 })
    );
    assert!(!d.is_reconstructing());
    assert_eq!(d.pending_bytes(), 0);
    // exactly at the bound is fine, and the count restarts with each packet
    for _ in 0..2 {
        assert_eq!(d.feed(text(head)), Ok(None));
        assert_eq!(d.feed(bin(&[0; 4])), Ok(None));
        assert_eq!(d.feed(bin(&[0; 4])), Ok(None));
        assert_eq!(d.feed(bin(&[0; 2])).unwrap().unwrap().attachments.len(), 3);
        assert_eq!(d.pending_bytes(), 0);
    }
    // a text packet while attachments are awaited drops the partial packet
    assert_eq!(d.feed(text(head)), Ok(None));
    assert_eq!(d.feed(bin(&[0; 4])), Ok(None));
    assert_eq!(d.feed(text("42[\"b\"]")), Err(ParseError::UnexpectedText));
    assert!(!d.is_reconstructing());
    assert_eq!(d.pending_bytes(), 0);
    let mut any = Parser::Json.decoder().with_max_pending_bytes(3);
    assert_eq!(any.feed(text(head)), Ok(None));
    assert!(any.is_reconstructing());
    assert!(any.feed(bin(&[0; 4])).is_err());
    assert!(!Parser::Msgpack
        .decoder()
        .with_max_pending_bytes(3)
        .is_reconstructing());
}

#[test]
fn msgpack_lying_length_headers_fail_at_once_and_honest_ones_decode() {
    // A map announcing more entries than bytes can hold is truncated before any entry is read.
    assert_eq!(
        mp_decode(&mp_event(&hex("df 00 01 00 00 a1 6b 01"))).unwrap_err(),
        TRUNCATED_ERR
    );
    // An honest array of 100,000 nils (one byte each) decodes, with every element.
    let mut nils = hex("dd 00 01 86 a0");
    nils.extend(std::iter::repeat_n(0xc0, 100_000));
    let p = mp_decode(&mp_event(&nils)).unwrap();
    assert_eq!(p.data.unwrap()[1].as_array().unwrap().len(), 100_000);
    // Arrays nested in an array share the reservation allowance and still decode in full.
    let mut nested = hex("dc 00 64");
    for _ in 0..100 {
        nested.extend_from_slice(&hex("dc 00 64"));
        nested.extend(std::iter::repeat_n(0x01, 100));
    }
    let p = mp_decode(&mp_event(&nested)).unwrap();
    let outer = p.data.unwrap()[1].as_array().unwrap().clone();
    assert_eq!(outer.len(), 100);
    assert!(outer.iter().all(|a| a.as_array().unwrap().len() == 100));
}

#[test]
fn decoded_size_is_bounded_before_allocation_in_both_parsers() {
    let max = 1 << 20;
    // JSON: 100,000 zeros are 200 KB of text and over 7 MB of `Value`s.
    let zeros = format!("42[\"x\",[{}]]", vec!["0"; 100_000].join(","));
    let mut d = JsonDecoder::new().with_max_decoded_bytes(max);
    assert_eq!(
        d.feed(text(&zeros)),
        Err(ParseError::DecodedTooLarge { max })
    );
    // small objects cost their entries too
    let objects = format!("42[\"x\",[{}]]", vec!["{\"a\":1}"; 10_000].join(","));
    assert!(JsonDecoder::new()
        .with_max_decoded_bytes(max)
        .feed(text(&objects))
        .is_err());
    // a large string costs its length: 900 KB of text passes a 1 MiB bound
    let long = format!("42[\"x\",\"{}\"]", "a".repeat(900_000));
    assert!(JsonDecoder::new()
        .with_max_decoded_bytes(max)
        .feed(text(&long))
        .unwrap()
        .is_some());
    // and so does a normal packet, with the bound or without it
    assert!(JsonDecoder::new()
        .with_max_decoded_bytes(max)
        .feed(text("42[\"x\",{\"a\":[1,2,3],\"b\":\"c\"}]"))
        .unwrap()
        .is_some());
    assert!(decode1(&zeros).unwrap().is_some());

    // msgpack: 240,000 four-byte maps `{"a":1}` (960 KB) decoded to ~200 MB before.
    let mut maps = hex("dd 00 03 a9 80");
    maps.extend(std::iter::repeat_n(hex("81 a1 61 01"), 240_000).flatten());
    let bounded = |b: &[u8]| {
        MsgpackDecoder::new()
            .with_max_decoded_bytes(max)
            .feed(bin(&mp_event(b)))
    };
    assert_eq!(bounded(&maps), Err(ParseError::DecodedTooLarge { max }));
    let mut nils = hex("dd 00 01 86 a0");
    nils.extend(std::iter::repeat_n(0xc0, 100_000));
    assert_eq!(bounded(&nils), Err(ParseError::DecodedTooLarge { max }));
    assert!(mp_decode(&mp_event(&nils)).is_ok(), "unbounded by default");
    // strings and binaries cost about their size
    let mut s = vec![0xdb];
    s.extend_from_slice(&900_000u32.to_be_bytes());
    s.extend(std::iter::repeat_n(b'a', 900_000));
    assert!(bounded(&s).is_ok());
    let mut b = vec![0xc6];
    b.extend_from_slice(&900_000u32.to_be_bytes());
    b.extend(std::iter::repeat_n(7u8, 900_000));
    assert!(bounded(&b).is_ok());
    assert!(Parser::Msgpack
        .decoder()
        .with_max_decoded_bytes(max)
        .feed(bin(&mp_event(&maps)))
        .is_err());
    assert!(Parser::Json
        .decoder()
        .with_max_decoded_bytes(max)
        .feed(text(&zeros))
        .is_err());
}
