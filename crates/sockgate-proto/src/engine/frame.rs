use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use super::packet::Packet;

/// Whether a frame travels as text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An Engine.IO text packet (`4hello`, `2`, `3probe`...).
    Text,
    /// A binary message (no type prefix over WebSocket, `b` + base64 over polling).
    Binary,
}

/// An encoded outgoing Engine.IO packet, built once and shared by every recipient.
///
/// A broadcast wraps one `Frame` in an [`Arc`] and queues a clone of that pointer for each
/// recipient: the text is serialized once, and the WebSocket frame (server frames are unmasked, so
/// header and payload are the same bytes for everyone) is built by the first WebSocket recipient
/// and reused by the others.
#[derive(Debug)]
pub struct Frame {
    kind: FrameKind,
    packet: Bytes,
    ws: OnceLock<Bytes>,
}

/// A frame shared between the queues of its recipients.
pub type SharedFrame = Arc<Frame>;

impl Frame {
    /// A message packet `4<text>`.
    pub fn message(text: &[u8]) -> Frame {
        let mut packet = Vec::with_capacity(text.len() + 1);
        packet.push(b'4');
        packet.extend_from_slice(text);
        Frame::text_packet(Bytes::from(packet))
    }

    /// A text packet already encoded with its type character (e.g. `4` + Socket.IO payload).
    pub fn text_packet(packet: Bytes) -> Frame {
        Frame {
            kind: FrameKind::Text,
            packet,
            ws: OnceLock::new(),
        }
    }

    /// A binary message.
    pub fn binary(data: Bytes) -> Frame {
        Frame {
            kind: FrameKind::Binary,
            packet: data,
            ws: OnceLock::new(),
        }
    }

    /// The frame for a control packet (`2`, `3probe`, `6`...).
    pub fn from_packet(packet: &Packet) -> Frame {
        match packet {
            Packet::Binary(data) => Frame::binary(data.clone()),
            other => Frame::text_packet(other.encode_text().unwrap_or_default()),
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The Engine.IO packet: type character and data for text, raw bytes for binary.
    pub fn packet(&self) -> &Bytes {
        &self.packet
    }

    /// Bytes this frame occupies in a queue (used to bound per-connection buffers).
    pub fn len(&self) -> usize {
        self.packet.len()
    }

    /// True for an empty binary message.
    pub fn is_empty(&self) -> bool {
        self.packet.is_empty()
    }

    /// The complete unmasked WebSocket frame, built on first use and then shared.
    pub fn ws_frame(&self) -> &Bytes {
        self.ws.get_or_init(|| {
            let opcode = match self.kind {
                FrameKind::Text => crate::ws::OpCode::Text,
                FrameKind::Binary => crate::ws::OpCode::Binary,
            };
            crate::ws::encode_frame(opcode, &self.packet)
        })
    }

    /// Appends this frame's polling encoding to `out`.
    pub fn write_polling(&self, out: &mut Vec<u8>) {
        match self.kind {
            FrameKind::Text => out.extend_from_slice(&self.packet),
            FrameKind::Binary => {
                out.push(b'b');
                let start = out.len();
                out.resize(
                    start + base64::encoded_len(self.packet.len(), true).unwrap_or(0),
                    0,
                );
                let written = STANDARD
                    .encode_slice(&self.packet, &mut out[start..])
                    .unwrap_or(0);
                out.truncate(start + written);
            }
        }
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.packet == other.packet
    }
}

impl Eq for Frame {}
