//! Feeds arbitrary client bytes to the WebSocket frame decoder.
//!
//! The first input byte picks the read size and the message size limit; the rest is the stream.
//! Checks that decoding never panics, that text messages are valid UTF-8, that errors map to a
//! close code the server may send, and that the result does not depend on how reads are split.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::ws::{FrameDecoder, Message, ProtocolError};

fn decode(max: usize, data: &[u8], read_size: usize) -> Vec<Result<Message, ProtocolError>> {
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in data.chunks(read_size) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => break,
                Err(err) => {
                    out.push(Err(err));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&knob, data)) = input.split_first() else {
        return;
    };
    let read_size = usize::from(knob & 0x0F) + 1;
    let max = if knob & 0x80 != 0 { usize::MAX } else { 1024 };

    let whole = decode(max, data, data.len().max(1));
    for result in &whole {
        match result {
            Ok(Message::Text(text)) => assert!(std::str::from_utf8(text).is_ok()),
            Ok(Message::Ping(p) | Message::Pong(p)) => assert!(p.len() <= 125),
            Ok(_) => {}
            Err(err) => assert!(matches!(err.close_code(), 1002 | 1007 | 1009)),
        }
    }
    assert_eq!(whole, decode(max, data, read_size));
});
