//! Feeds arbitrary Engine.IO messages to the Socket.IO JSON decoder.
//!
//! The input is a sequence of messages separated by `0xff` (a byte that never occurs in UTF-8); a
//! segment starting with `t` is a text message (the rest of the segment), anything else a binary
//! message (the whole segment). Checks that decoding never panics and that every decoded packet
//! survives an encode/decode round trip with the JSON and msgpack parsers. A second decoder fed
//! the same messages through `feed_lazy` must return the same packets and errors, and the raw
//! arguments it keeps must re-encode to the same values.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::socketio::{
    encode_json, encode_msgpack, encode_raw_json_into, Decoded, EioMessage, JsonDecoder,
    MsgpackDecoder, ParseError,
};

fuzz_target!(|data: &[u8]| {
    let mut decoder = JsonDecoder::new();
    let mut lazy = JsonDecoder::new();
    for segment in data.split(|&b| b == 0xff) {
        let msg = match segment.split_first() {
            Some((b't', rest)) => EioMessage::Text(Bytes::copy_from_slice(rest)),
            _ => EioMessage::Binary(Bytes::copy_from_slice(segment)),
        };
        let decoded = decoder.feed(msg.clone());
        let lazily = lazy.feed_lazy(msg);
        if let Ok(Some(Decoded::Raw(raw))) = &lazily {
            // Pass-through: the raw text, written as an ack, decodes to the same arguments.
            let mut text = Vec::new();
            encode_raw_json_into(&raw.nsp, Some(1), None, &raw.args, &mut text);
            let ack = JsonDecoder::new()
                .feed(EioMessage::Text(Bytes::from(text)))
                .expect("re-decoding a raw pass-through")
                .expect("a complete packet");
            let args = raw.args.to_values().expect("raw arguments parse");
            assert_eq!(ack.data, Some(serde_json::Value::Array(args)));
        }
        assert_eq!(decoded, lazily.map(|d| d.map(Decoded::into_packet)));
        let Ok(Some(packet)) = decoded else {
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
