//! Engine.IO polling payloads and text packets: never panic; whatever decodes re-encodes to
//! something that decodes to the same packets.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockgate_proto::engine::{decode_payload, encode_payload, Frame, Packet};

fuzz_target!(|data: &[u8]| {
    let _ = Packet::decode_text(Bytes::copy_from_slice(data));
    if let Ok(packets) = decode_payload(Bytes::copy_from_slice(data)) {
        let frames: Vec<Frame> = packets.iter().map(Frame::from_packet).collect();
        let again = decode_payload(Bytes::from(encode_payload(&frames)))
            .expect("an encoded payload must decode");
        assert_eq!(again, packets);
    }
});
