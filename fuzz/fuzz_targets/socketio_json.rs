//! Feeds arbitrary Engine.IO messages to the Socket.IO JSON decoder.
//!
//! The input is a sequence of messages separated by `0xff` (a byte that never occurs in UTF-8); a
//! segment starting with `t` is a text message (the rest of the segment), anything else a binary
//! message (the whole segment). Checks that decoding never panics and that every decoded packet
//! survives an encode/decode round trip with the JSON and msgpack parsers.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::socketio::{
    encode_json, encode_msgpack, EioMessage, JsonDecoder, MsgpackDecoder, ParseError,
};

fuzz_target!(|data: &[u8]| {
    let mut decoder = JsonDecoder::new();
    for segment in data.split(|&b| b == 0xff) {
        let msg = match segment.split_first() {
            Some((b't', rest)) => EioMessage::Text(Bytes::copy_from_slice(rest)),
            _ => EioMessage::Binary(Bytes::copy_from_slice(segment)),
        };
        let Ok(Some(packet)) = decoder.feed(msg) else {
            continue;
        };
        // JSON: exact round trip.
        let mut again = JsonDecoder::new();
        let mut out = None;
        for m in encode_json(&packet) {
            assert!(out.is_none(), "packet complete before its last attachment");
            out = again.feed(m).expect("re-decoding our own JSON encoding");
        }
        assert_eq!(out.as_ref(), Some(&packet));
        // msgpack: our encoding of a valid packet is accepted. msgpack inlines every
        // placeholder, so a JSON packet that references its attachments more than
        // `max_attachments` times in all is legitimately over the msgpack limit.
        match MsgpackDecoder::new().feed(EioMessage::Binary(encode_msgpack(&packet))) {
            Ok(_) | Err(ParseError::TooManyAttachments { .. }) => {}
            Err(error) => panic!("re-decoding our own msgpack encoding: {error:?}"),
        }
    }
});
