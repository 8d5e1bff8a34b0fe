//! Encoding of server-to-client frames (never masked, always FIN).

use bytes::{BufMut, Bytes, BytesMut};

use super::{OpCode, MAX_CONTROL_PAYLOAD};

/// Longest close reason [`encode_close`] sends: a control payload minus the 2-byte code.
pub const MAX_CLOSE_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

/// Encodes one unmasked server frame (FIN set) with the header and payload in a single Bytes,
/// so a broadcast can build it once and share it with every recipient.
///
/// Control opcodes must carry at most 125 bytes; the caller is responsible for that (it is
/// checked in debug builds). [`OpCode::Continuation`] is never meaningful here.
pub fn encode_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    encode_frame_parts(opcode, payload, &[])
}

/// Same as [`encode_frame`], with the payload given as two parts (e.g. a one-byte Engine.IO type
/// prefix and the rest), without first concatenating them.
pub fn encode_frame_parts(opcode: OpCode, first: &[u8], rest: &[u8]) -> Bytes {
    // Two live slices of bytes cannot together exceed usize::MAX.
    let len = first.len() + rest.len();
    debug_assert!(
        !opcode.is_control() || len <= MAX_CONTROL_PAYLOAD,
        "control frame payload of {len} bytes"
    );
    let header_len = match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    let mut out = BytesMut::with_capacity(header_len + len);
    out.put_u8(0x80 | opcode.as_u8());
    match len {
        // The match arms bound `len`, so these casts are lossless.
        0..=125 => out.put_u8(len as u8),
        126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.extend_from_slice(first);
    out.extend_from_slice(rest);
    out.freeze()
}

/// Encodes one masked client frame (FIN set) with the given masking key: what a client sends.
/// The one client framer of the workspace: the in-process test client (`sockgate::testing`),
/// the integration tests and the load generator all use it (or [`encode_masked_frame_into`]).
pub fn encode_masked_frame(opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 14);
    encode_masked_frame_into(&mut out, opcode, payload, key);
    Bytes::from(out)
}

/// Appends one masked client frame (FIN set) to `out`, as [`encode_masked_frame`] encodes it,
/// so a client sending many frames can reuse one buffer.
pub fn encode_masked_frame_into(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], key: [u8; 4]) {
    let len = payload.len();
    debug_assert!(
        !opcode.is_control() || len <= MAX_CONTROL_PAYLOAD,
        "control frame payload of {len} bytes"
    );
    out.reserve(len + 14);
    out.push(0x80 | opcode.as_u8());
    // The mask bit is set in the length byte; the arms bound `len`, so the casts are lossless.
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    super::decode::unmask(&mut out[start..], key);
}

/// Close frame with code and reason.
///
/// The reason is cut to [`MAX_CLOSE_REASON_LEN`] bytes at a character boundary so the frame stays
/// a valid control frame. Do not send 1005, 1006 or 1015; they are reserved for local reporting.
pub fn encode_close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CLOSE_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.get(..end).unwrap_or_default();
    encode_frame_parts(OpCode::Close, &code.to_be_bytes(), reason.as_bytes())
}
