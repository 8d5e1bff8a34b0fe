//! The decoding error shared by both parsers.

use std::fmt;

/// Why a Socket.IO packet could not be decoded.
///
/// Every variant means the peer broke the protocol: like Node's socket.io, the caller should close
/// the whole Engine.IO connection (not just the namespace) and drop the decoder. The decoder
/// discards any partially reconstructed binary packet when it returns an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A text message was empty. Close the connection.
    Empty,
    /// A text message was not valid UTF-8. Close the connection.
    InvalidUtf8,
    /// The first character of a text packet is not a packet type `0`–`6`, e.g. `4abc` at the
    /// Engine.IO level. Close the connection.
    UnknownType(char),
    /// The attachment count of a binary packet is missing, not a number or not followed by `-`.
    /// Close the connection.
    IllegalAttachments,
    /// A binary packet announced more attachments than the decoder allows. Close the connection,
    /// or raise the limit with `with_max_attachments` if larger packets are legitimate.
    TooManyAttachments {
        /// The announced attachment count (saturated at `usize::MAX`).
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The attachments received so far for an incomplete binary packet passed the decoder's
    /// byte limit. Close the connection, or raise the limit with `with_max_pending_bytes` if such
    /// packets are legitimate.
    PendingTooLarge {
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// The payload would take more memory once decoded than the decoder allows (a `Value` costs
    /// 72 bytes, a map entry over 100, for as little as one byte of input). Close the
    /// connection, or raise the bound with `with_max_decoded_bytes` if such packets are
    /// legitimate.
    DecodedTooLarge {
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// The ack id does not fit in a `u64`. Close the connection.
    InvalidAckId,
    /// The JSON (or msgpack) payload could not be parsed; the message says why. Close the
    /// connection.
    InvalidJson(String),
    /// The payload does not have the shape required for the packet type (socket.io-parser's
    /// `isPayloadValid`), e.g. `42{}`, an empty event array or a reserved event name. Close the
    /// connection.
    InvalidPayload,
    /// A placeholder in a binary packet refers to a missing attachment, or has no valid `num`.
    /// Close the connection.
    IllegalPlaceholder,
    /// A binary message arrived while no binary packet was waiting for attachments. Close the
    /// connection.
    UnexpectedBinary,
    /// A text message arrived while a binary packet was still waiting for attachments. Close the
    /// connection.
    UnexpectedText,
    /// Msgpack: the message is not well-formed msgpack (truncated, trailing bytes, reserved byte,
    /// invalid UTF-8 string, nesting too deep, ...). Close the connection.
    InvalidMsgpack(&'static str),
    /// Msgpack: `type` is missing or not an integer from 0 to 4. Close the connection.
    InvalidType,
    /// Msgpack: `nsp` is missing or not a string. Close the connection.
    InvalidNamespace,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty packet"),
            Self::InvalidUtf8 => f.write_str("text packet is not valid UTF-8"),
            Self::UnknownType(c) => write!(f, "unknown packet type {c:?}"),
            Self::IllegalAttachments => f.write_str("illegal attachments"),
            Self::TooManyAttachments { count, max } => {
                write!(f, "too many attachments: {count} (max {max})")
            }
            Self::PendingTooLarge { max } => {
                write!(f, "attachments of an incomplete packet exceed {max} bytes")
            }
            Self::DecodedTooLarge { max } => {
                write!(f, "payload would take more than {max} bytes once decoded")
            }
            Self::InvalidAckId => f.write_str("invalid ack id"),
            Self::InvalidJson(e) => write!(f, "invalid payload encoding: {e}"),
            Self::InvalidPayload => f.write_str("invalid payload"),
            Self::IllegalPlaceholder => f.write_str("illegal attachment placeholder"),
            Self::UnexpectedBinary => {
                f.write_str("got binary data when not reconstructing a packet")
            }
            Self::UnexpectedText => f.write_str("got plaintext data when reconstructing a packet"),
            Self::InvalidMsgpack(why) => write!(f, "invalid msgpack: {why}"),
            Self::InvalidType => f.write_str("invalid packet type"),
            Self::InvalidNamespace => f.write_str("invalid namespace"),
        }
    }
}

impl std::error::Error for ParseError {}
