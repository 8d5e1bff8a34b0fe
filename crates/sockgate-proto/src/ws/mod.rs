//! RFC 6455 WebSocket framing for the server side.
//!
//! Pure and synchronous: the transport driver reads bytes into a [`bytes::BytesMut`], hands it to a
//! [`FrameDecoder`], and writes whatever [`encode_frame`] and friends return. The HTTP upgrade
//! itself only needs [`accept_key`]. No extensions (and so no RSV bits) are ever negotiated.
//!
//! On any [`ProtocolError`] the driver must fail the connection: send
//! `encode_close(err.close_code(), ..)`, stop reading and close the socket. The decoder's state after
//! an error is unspecified (it never panics, but its output is meaningless).

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use std::fmt;

use base64::Engine as _;
use sha1::{Digest, Sha1};

pub use decode::FrameDecoder;
pub use encode::{
    encode_close, encode_frame, encode_frame_parts, encode_masked_frame, encode_masked_frame_into,
    MAX_CLOSE_REASON_LEN,
};

/// GUID appended to the client key before hashing (RFC 6455 section 1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Longest payload a control frame (close, ping, pong) may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (sha1 + base64 of key + GUID).
///
/// Pass the header value as received; HTTP parsers already strip surrounding whitespace.
pub fn accept_key(client_key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(client_key);
    sha.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Frame opcode (RFC 6455 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: a later fragment of a text or binary message.
    Continuation,
    /// `0x1`: a UTF-8 text message (or its first fragment).
    Text,
    /// `0x2`: a binary message (or its first fragment).
    Binary,
    /// `0x8`: connection close, optionally with a code and reason.
    Close,
    /// `0x9`: ping; must be answered with a pong carrying the same payload.
    Ping,
    /// `0xA`: pong, either solicited by a ping or a unidirectional heartbeat.
    Pong,
}

impl OpCode {
    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Parses a 4-bit wire value; `None` for the reserved opcodes.
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// True for close, ping and pong, which may not be fragmented and carry at most
    /// [`MAX_CONTROL_PAYLOAD`] bytes.
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A complete message decoded from client frames (fragments reassembled, unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; the bytes are guaranteed to be valid UTF-8.
    Text(bytes::Bytes),
    /// A binary message.
    Binary(bytes::Bytes),
    /// A ping; reply with [`encode_frame`]`(OpCode::Pong, &payload)`.
    Ping(bytes::Bytes),
    /// A pong; usually only of interest as a sign of life.
    Pong(bytes::Bytes),
    /// The client started the closing handshake. Echo a close frame (usually with the same code)
    /// if one has not been sent yet, then close the socket.
    Close(Option<CloseFrame>),
}

/// Code and reason carried by a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Status code (RFC 6455 section 7.4); always one a peer may legitimately send.
    pub code: u16,
    /// Human-readable reason, possibly empty.
    pub reason: String,
}

/// Whether a peer may put `code` in a close frame.
///
/// 1004 is reserved, 1005/1006/1015 are only for local reporting, 1016..=2999 are unassigned and
/// 3000..=4999 belong to libraries and applications.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Why a client's byte stream is not acceptable WebSocket traffic.
///
/// Every variant is fatal: send [`encode_close`] with [`ProtocolError::close_code`] and close the
/// connection. Variants documented as 1002 are protocol errors, meaning the client is broken or
/// hostile rather than merely over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// A message (all fragments together) is longer than the decoder's `max_message_size`,
    /// detected from the frame header before the payload is buffered. Close with 1009.
    MessageTooBig,
    /// A text message or close reason is not valid UTF-8. Close with 1007.
    InvalidUtf8,
    /// A client frame lacks the mask bit, which clients must always set. Close with 1002.
    UnmaskedFrame,
    /// A server frame has the mask bit set, which servers must never do (client-side decoding
    /// only). Close with 1002.
    MaskedFrame,
    /// RSV1, RSV2 or RSV3 is set although no extension was negotiated. Close with 1002.
    ReservedBits,
    /// A close, ping or pong frame announces more than 125 bytes. Close with 1002.
    ControlFrameTooLong,
    /// A close, ping or pong frame has FIN clear; control frames cannot be fragmented.
    /// Close with 1002.
    FragmentedControl,
    /// A continuation frame arrived with no fragmented message in progress. Close with 1002.
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was still incomplete.
    /// Close with 1002.
    ExpectedContinuation,
    /// The opcode is one of the reserved values (0x3-0x7, 0xB-0xF). Close with 1002.
    UnknownOpcode,
    /// A close frame has a one-byte payload or a status code a peer may not send. Close with 1002.
    InvalidCloseFrame,
    /// A 64-bit payload length has its most significant bit set, which RFC 6455 forbids.
    /// Close with 1002.
    InvalidFrameLength,
}

impl ProtocolError {
    /// The status code to put in the close frame sent before dropping the connection.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::MessageTooBig => 1009,
            ProtocolError::InvalidUtf8 => 1007,
            ProtocolError::UnmaskedFrame
            | ProtocolError::MaskedFrame
            | ProtocolError::ReservedBits
            | ProtocolError::ControlFrameTooLong
            | ProtocolError::FragmentedControl
            | ProtocolError::UnexpectedContinuation
            | ProtocolError::ExpectedContinuation
            | ProtocolError::UnknownOpcode
            | ProtocolError::InvalidCloseFrame
            | ProtocolError::InvalidFrameLength => 1002,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolError::MessageTooBig => "message exceeds the maximum message size",
            ProtocolError::InvalidUtf8 => "text message or close reason is not valid UTF-8",
            ProtocolError::UnmaskedFrame => "client frame is not masked",
            ProtocolError::MaskedFrame => "server frame is masked",
            ProtocolError::ReservedBits => "reserved bits set without a negotiated extension",
            ProtocolError::ControlFrameTooLong => "control frame payload longer than 125 bytes",
            ProtocolError::FragmentedControl => "control frame is fragmented",
            ProtocolError::UnexpectedContinuation => {
                "continuation frame without a fragmented message in progress"
            }
            ProtocolError::ExpectedContinuation => {
                "new data frame while a fragmented message is incomplete"
            }
            ProtocolError::UnknownOpcode => "reserved opcode",
            ProtocolError::InvalidCloseFrame => "close frame has an invalid payload or status code",
            ProtocolError::InvalidFrameLength => "64-bit payload length has its top bit set",
        })
    }
}

impl std::error::Error for ProtocolError {}
