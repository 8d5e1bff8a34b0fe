//! The Socket.IO decoder a connection keeps, fed Engine.IO messages in any order (text and binary
//! interleaved, attachments missing, extra or oversized), with arbitrary limits, as a client
//! would send them. Checks: no panic; the attachment bytes held never pass the bound; an error
//! leaves nothing pending; a complete packet has exactly the attachments its placeholders need
//! and re-encodes to itself.
//!
//! Input: byte 0 picks the parser and the attachment limit, byte 1 the pending-bytes bound
//! (`b * 4`) and the decoded-size bound (`b * 256`, 0 = none), then messages separated by `0xff`: a segment starting with `t` is text, anything
//! else binary. A few templates (`T0`..`T3`) expand to well-formed binary packet headers so that
//! attachment handling is reached often.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::socketio::{
    encode_json, encode_msgpack, placeholder_num, EioMessage, JsonDecoder, Packet, Parser,
};

fn template(n: u8) -> &'static [u8] {
    match n % 4 {
        0 => b"51-[\"a\",{\"_placeholder\":true,\"num\":0}]",
        1 => b"52-/x,7[\"a\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]",
        2 => b"61-3[{\"_placeholder\":true,\"num\":0}]",
        _ => b"53-[\"a\",{\"_placeholder\":true,\"num\":2}]",
    }
}

fn max_num(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Array(a) => a.iter().filter_map(max_num).max(),
        serde_json::Value::Object(m) => match placeholder_num(v) {
            Some(n) => n,
            None => m.values().filter_map(max_num).max(),
        },
        _ => None,
    }
}

fn check_complete(packet: &Packet, parser: Parser) {
    match parser {
        Parser::Json => {
            // Binary packets have their placeholders checked (plain ones keep them as data).
            if let (false, Some(data)) = (packet.attachments.is_empty(), &packet.data) {
                if let Some(n) = max_num(data) {
                    assert!(n < packet.attachments.len() as u64, "placeholder {n} out of range");
                }
            }
            let mut again = JsonDecoder::with_max_attachments(usize::MAX);
            let mut out = None;
            for m in encode_json(packet) {
                assert!(out.is_none(), "complete before its last attachment");
                out = again.feed(m).expect("our own JSON encoding decodes");
            }
            assert_eq!(out.as_ref(), Some(packet));
        }
        Parser::Msgpack => {
            let mut again = Parser::Msgpack.decoder_with_max_attachments(usize::MAX);
            again
                .feed(EioMessage::Binary(encode_msgpack(packet)))
                .expect("our own msgpack encoding decodes");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [p, bound, rest @ ..] = data else { return };
    let parser = if p & 0x80 == 0 {
        Parser::Json
    } else {
        Parser::Msgpack
    };
    let max_attachments = usize::from(p & 0x0f);
    let max_pending = usize::from(*bound) * 4;
    // The decoded-size bound also comes from byte 1 (0 = unbounded).
    let max_decoded = if *bound == 0 { usize::MAX } else { usize::from(*bound) * 256 };
    let fresh = || {
        parser
            .decoder_with_max_attachments(max_attachments)
            .with_max_pending_bytes(max_pending)
            .with_max_decoded_bytes(max_decoded)
    };
    let mut decoder = fresh();
    let mut json = JsonDecoder::with_max_attachments(max_attachments)
        .with_max_pending_bytes(max_pending)
        .with_max_decoded_bytes(max_decoded);
    for segment in rest.split(|&b| b == 0xff) {
        let msg = match segment {
            [b'T', n, ..] => EioMessage::Text(Bytes::from_static(template(*n))),
            [b't', text @ ..] => EioMessage::Text(Bytes::copy_from_slice(text)),
            _ => EioMessage::Binary(Bytes::copy_from_slice(segment)),
        };
        // The JSON decoder is also driven directly, to see its pending state.
        if parser == Parser::Json {
            let out = json.feed(msg.clone());
            assert!(json.pending_bytes() <= max_pending);
            if out.is_err() {
                assert!(!json.is_reconstructing());
                assert_eq!(json.pending_bytes(), 0);
            }
            if let Ok(Some(packet)) = &out {
                assert!(packet.attachments.len() <= max_attachments);
                assert!(!json.is_reconstructing());
            }
        }
        match decoder.feed(msg) {
            Ok(Some(packet)) => {
                assert!(!decoder.is_reconstructing());
                assert!(packet.attachments.len() <= max_attachments);
                check_complete(&packet, parser);
            }
            Ok(None) => assert!(decoder.is_reconstructing()),
            Err(_) => {
                assert!(!decoder.is_reconstructing());
                // As the server does: a broken connection is dropped, a new one starts fresh.
                decoder = fresh();
            }
        }
    }
});
