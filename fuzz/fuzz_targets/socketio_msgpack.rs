//! Feeds arbitrary bytes to the Socket.IO msgpack decoder as one binary Engine.IO message.
//!
//! Checks that decoding never panics, and that a decoded packet re-encodes to msgpack that decodes
//! again to a packet with the same type, namespace and id.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::socketio::{encode_msgpack, EioMessage, MsgpackDecoder};

fuzz_target!(|data: &[u8]| {
    let msg = EioMessage::Binary(Bytes::copy_from_slice(data));
    let Ok(Some(packet)) = MsgpackDecoder::new().feed(msg) else {
        return;
    };
    let again = MsgpackDecoder::new()
        .feed(EioMessage::Binary(encode_msgpack(&packet)))
        .expect("re-decoding our own msgpack encoding")
        .expect("msgpack always yields a packet");
    assert_eq!(
        (again.kind, &again.nsp, again.id),
        (packet.kind, &packet.nsp, packet.id)
    );
});
