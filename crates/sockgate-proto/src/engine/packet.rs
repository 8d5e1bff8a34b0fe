use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

/// One Engine.IO v4 packet as received from a client.
///
/// Text data is kept as [`Bytes`] slices of the received buffer, so decoding copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: open (only the server sends it; ignored when received).
    Open,
    /// `1`: the peer closes the session.
    Close,
    /// `2`: ping, with optional data (`2probe` during an upgrade).
    Ping(Bytes),
    /// `3`: pong, with optional data (`3probe` during an upgrade).
    Pong(Bytes),
    /// `4`: a text message (valid UTF-8, without the type character).
    Message(Bytes),
    /// A binary message: a raw WebSocket binary frame, or `b<base64>` over polling.
    Binary(Bytes),
    /// `5`: the client switches to the probed transport.
    Upgrade,
    /// `6`: no-op.
    Noop,
}

/// Why bytes could not be decoded as an Engine.IO packet.
///
/// Every variant means the peer broke the protocol: close the session with reason `parse error`
/// (polling requests get HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The packet was empty.
    Empty,
    /// The type character is not `0`-`6` (or `b` in a polling payload).
    UnknownType(u8),
    /// Text that is not valid UTF-8.
    InvalidUtf8,
    /// A `b` packet whose base64 does not decode.
    InvalidBase64,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty Engine.IO packet"),
            DecodeError::UnknownType(t) => write!(f, "unknown Engine.IO packet type {t:#04x}"),
            DecodeError::InvalidUtf8 => f.write_str("Engine.IO text packet is not valid UTF-8"),
            DecodeError::InvalidBase64 => f.write_str("Engine.IO binary packet has invalid base64"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Packet {
    /// Decodes a text packet: a WebSocket text frame, or one record of a polling payload.
    ///
    /// `text` must already be valid UTF-8 (the WebSocket codec and [`crate::engine::decode_payload`]
    /// check it once for the whole frame or body).
    pub fn decode_text(text: Bytes) -> Result<Packet, DecodeError> {
        let Some(&kind) = text.first() else {
            return Err(DecodeError::Empty);
        };
        let data = || text.slice(1..);
        Ok(match kind {
            b'0' => Packet::Open,
            b'1' => Packet::Close,
            b'2' => Packet::Ping(data()),
            b'3' => Packet::Pong(data()),
            b'4' => Packet::Message(data()),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// Decodes a polling record that starts with `b`: base64 binary data.
    pub fn decode_base64(record: &[u8]) -> Result<Packet, DecodeError> {
        let encoded = record
            .strip_prefix(b"b")
            .ok_or(DecodeError::InvalidBase64)?;
        STANDARD
            .decode(encoded)
            .map(|raw| Packet::Binary(Bytes::from(raw)))
            .map_err(|_| DecodeError::InvalidBase64)
    }

    /// The packet's text encoding (type character and data). Binary packets have none.
    pub fn encode_text(&self) -> Option<Bytes> {
        let (kind, data): (u8, &[u8]) = match self {
            Packet::Open => (b'0', b""),
            Packet::Close => (b'1', b""),
            Packet::Ping(d) => (b'2', d),
            Packet::Pong(d) => (b'3', d),
            Packet::Message(d) => (b'4', d),
            Packet::Upgrade => (b'5', b""),
            Packet::Noop => (b'6', b""),
            Packet::Binary(_) => return None,
        };
        let mut out = Vec::with_capacity(1 + data.len());
        out.push(kind);
        out.extend_from_slice(data);
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type() {
        let cases: [(&str, Packet); 8] = [
            ("0", Packet::Open),
            ("1", Packet::Close),
            ("2", Packet::Ping(Bytes::new())),
            ("2probe", Packet::Ping(Bytes::from_static(b"probe"))),
            ("3probe", Packet::Pong(Bytes::from_static(b"probe"))),
            ("4héllo", Packet::Message(Bytes::from("héllo"))),
            ("5", Packet::Upgrade),
            ("6", Packet::Noop),
        ];
        for (text, expected) in cases {
            let packet = Packet::decode_text(Bytes::from(text)).unwrap();
            assert_eq!(packet, expected);
            assert_eq!(packet.encode_text().unwrap(), Bytes::from(text));
        }
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(Packet::decode_text(Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_text(Bytes::from("abc")),
            Err(DecodeError::UnknownType(b'a'))
        );
        assert_eq!(
            Packet::decode_base64(b"bAQ!!"),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            Packet::decode_base64(b"bAQIDBA=="),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        );
    }
}
