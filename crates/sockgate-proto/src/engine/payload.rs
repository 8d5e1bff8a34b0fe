use bytes::Bytes;

use super::frame::Frame;
use super::packet::{DecodeError, Packet};

/// Separates packets in a polling payload (ASCII record separator).
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Decodes a polling POST body: packets joined by `\x1e`, binary ones as `b` + base64.
///
/// The body is checked for UTF-8 once; every text packet is a zero-copy slice of it.
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
    let mut packets = Vec::new();
    let mut start = 0;
    loop {
        let end = body[start..]
            .iter()
            .position(|&b| b == RECORD_SEPARATOR)
            .map_or(body.len(), |i| start + i);
        let record = body.slice(start..end);
        packets.push(if record.first() == Some(&b'b') {
            Packet::decode_base64(&record)?
        } else {
            Packet::decode_text(record)?
        });
        if end == body.len() {
            return Ok(packets);
        }
        start = end + 1;
    }
}

/// Encodes frames as one polling response body, joined by `\x1e`.
pub fn encode_payload<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        frame.write_polling(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_joined_packets() {
        let packets = decode_payload(Bytes::from("4test1\x1e4test2\x1ebAQIDBA==")).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message(Bytes::from("test1")),
                Packet::Message(Bytes::from("test2")),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            ]
        );
    }

    #[test]
    fn encodes_joined_packets() {
        let frames = [
            Frame::message(b"hello"),
            Frame::binary(Bytes::from_static(&[1, 2, 3, 4])),
            Frame::from_packet(&Packet::Ping(Bytes::new())),
        ];
        assert_eq!(encode_payload(&frames), b"4hello\x1ebAQIDBA==\x1e2");
    }

    #[test]
    fn rejects_invalid_payloads() {
        assert_eq!(decode_payload(Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            decode_payload(Bytes::from("4a\x1e")),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"4\xff")),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            decode_payload(Bytes::from("abc")),
            Err(DecodeError::UnknownType(b'a'))
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_payload(Bytes::from(body));
        }

        #[test]
        fn round_trips(messages in proptest::collection::vec(
            prop_oneof![
                "[^\u{1e}]{0,40}".prop_map(|s| Frame::message(s.as_bytes())),
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Frame::binary(Bytes::from(b))),
            ], 1..8)) {
            let body = encode_payload(&messages);
            let decoded = decode_payload(Bytes::from(body)).unwrap();
            prop_assert_eq!(decoded.len(), messages.len());
            for (packet, frame) in decoded.iter().zip(&messages) {
                match packet {
                    Packet::Message(text) => prop_assert_eq!(&frame.packet()[1..], &text[..]),
                    Packet::Binary(raw) => prop_assert_eq!(frame.packet(), raw),
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
    }
}
