//! Socket.IO v5 packets: the JSON parser with binary placeholders and the msgpack parser.
//!
//! Pure codecs, no I/O. Both parsers share one packet model, [`Packet`]: `data` is JSON in which
//! every binary blob is a placeholder `{"_placeholder":true,"num":i}` and `attachments[i]` holds the
//! bytes. The codecs consume and produce [`EioMessage`]s, i.e. the payloads of Engine.IO `message`
//! packets.
//!
//! * [`encode_json`] / [`JsonDecoder`]: npm `socket.io-parser` 4.x, the default.
//! * [`encode_msgpack`] / [`MsgpackDecoder`]: npm `socket.io-msgpack-parser` 3.0.2.
//! * [`Parser`] / [`Decoder`]: pick one of the two at run time.
//!
//! Every decoding error means the Engine.IO connection should be closed, as Node does.

mod error;
mod json;
mod msgpack;
mod packet;
mod raw;
#[cfg(test)]
mod tests;

pub use error::ParseError;
pub use json::{
    encode_json, encode_json_into, EncodedPacket, JsonDecoder, DEFAULT_MAX_ATTACHMENTS,
    MAX_NESTING_DEPTH,
};
pub use msgpack::{encode_msgpack, encode_msgpack_into, MsgpackDecoder};
pub use packet::{
    is_reserved_event, placeholder, placeholder_num, EioMessage, EventArg, Packet, PacketType,
    RESERVED_EVENTS,
};
pub use raw::{encode_raw_json_into, Decoded, RawArgs, RawPacket};

/// The two Socket.IO parsers a server can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Parser {
    /// npm `socket.io-parser` (text packets plus binary attachments). The default.
    #[default]
    Json,
    /// npm `socket.io-msgpack-parser` (one binary message per packet).
    Msgpack,
}

impl Parser {
    /// Encodes `packet` into the Engine.IO messages to send, in order.
    pub fn encode(self, packet: &Packet) -> Vec<EioMessage> {
        match self {
            Self::Json => encode_json(packet).into_messages(),
            Self::Msgpack => vec![EioMessage::Binary(encode_msgpack(packet))],
        }
    }

    /// A fresh decoder for this parser, with the default limit of [`DEFAULT_MAX_ATTACHMENTS`]
    /// attachments per packet.
    pub fn decoder(self) -> Decoder {
        self.decoder_with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A fresh decoder for this parser that refuses packets with more than `max` attachments
    /// (JSON) or inline binaries (msgpack).
    pub fn decoder_with_max_attachments(self, max: usize) -> Decoder {
        match self {
            Self::Json => Decoder::Json(JsonDecoder::with_max_attachments(max)),
            Self::Msgpack => Decoder::Msgpack(MsgpackDecoder::with_max_attachments(max)),
        }
    }
}

/// A decoder for either parser, with the common [`feed`](Decoder::feed) method.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// The JSON parser's decoder.
    Json(JsonDecoder),
    /// The msgpack parser's decoder.
    Msgpack(MsgpackDecoder),
}

impl Decoder {
    /// Bounds the attachment bytes of an incomplete binary packet (see
    /// [`JsonDecoder::with_max_pending_bytes`]); msgpack packets are never incomplete.
    pub fn with_max_pending_bytes(self, max: usize) -> Self {
        match self {
            Self::Json(d) => Self::Json(d.with_max_pending_bytes(max)),
            msgpack @ Self::Msgpack(_) => msgpack,
        }
    }

    /// Bounds the estimated memory of a decoded packet (see
    /// [`JsonDecoder::with_max_decoded_bytes`] and [`MsgpackDecoder::with_max_decoded_bytes`]).
    pub fn with_max_decoded_bytes(self, max: usize) -> Self {
        match self {
            Self::Json(d) => Self::Json(d.with_max_decoded_bytes(max)),
            Self::Msgpack(d) => Self::Msgpack(d.with_max_decoded_bytes(max)),
        }
    }

    /// `true` while a binary packet waits for more attachments.
    pub fn is_reconstructing(&self) -> bool {
        match self {
            Self::Json(d) => d.is_reconstructing(),
            Self::Msgpack(_) => false,
        }
    }

    /// Feeds one Engine.IO message; `Ok(Some(packet))` when a packet is complete, `Ok(None)` when
    /// the JSON decoder waits for more attachments.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when the peer broke the protocol: close the Engine.IO connection.
    pub fn feed(&mut self, msg: EioMessage) -> Result<Option<Packet>, ParseError> {
        match self {
            Self::Json(d) => d.feed(msg),
            Self::Msgpack(d) => d.feed(msg),
        }
    }

    /// As [`feed`](Self::feed), but the JSON parser keeps the arguments of a text event or ack
    /// as their checked JSON text ([`JsonDecoder::feed_lazy`]); msgpack packets are always
    /// [`Decoded::Packet`].
    ///
    /// # Errors
    ///
    /// As [`feed`](Self::feed).
    pub fn feed_lazy(&mut self, msg: EioMessage) -> Result<Option<Decoded>, ParseError> {
        match self {
            Self::Json(d) => d.feed_lazy(msg),
            Self::Msgpack(d) => d.feed(msg).map(|p| p.map(Decoded::Packet)),
        }
    }
}
