//! Incremental decoding of client-to-server frames.

use bytes::{Buf, BytesMut};

use super::{is_valid_close_code, CloseFrame, Message, OpCode, ProtocolError, MAX_CONTROL_PAYLOAD};

/// A parsed and validated frame header.
struct Header {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

/// The fragments of a text or binary message received so far, already unmasked.
struct Partial {
    opcode: OpCode,
    data: BytesMut,
}

/// Incremental decoder for client-to-server frames.
///
/// Keeps only the fragments of an incomplete message; frame bytes stay in the caller's buffer
/// until the whole frame has arrived, so an unfragmented message is unmasked in place and handed
/// out without copying.
pub struct FrameDecoder {
    max_message_size: usize,
    /// Boxed: fragmented messages are rare, and the decoder lives in every idle socket's task
    /// (inline, the partial message's buffer made the decoder 56 bytes instead of 24).
    partial: Option<Box<Partial>>,
    /// Decoding server frames (a client: in-process test clients, load generators).
    server_frames: bool,
}

impl FrameDecoder {
    /// A decoder that rejects text and binary messages longer than `max_message_size` bytes in
    /// total (control frames are bounded at 125 bytes by the protocol instead).
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            max_message_size,
            partial: None,
            server_frames: false,
        }
    }

    /// A decoder for the client side: frames must be unmasked, as servers send them.
    pub fn for_client(max_message_size: usize) -> Self {
        FrameDecoder {
            server_frames: true,
            ..FrameDecoder::new(max_message_size)
        }
    }

    /// The limit given to [`FrameDecoder::new`].
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// True while a fragmented message is partially received (so the driver knows it holds state).
    pub fn is_mid_message(&self) -> bool {
        self.partial.is_some()
    }

    /// Decode at most one message from the front of `buf`, consuming the bytes it used.
    ///
    /// `Ok(None)` means more bytes are needed: read more into `buf` (appending) and call again.
    /// Non-final fragments are consumed and kept inside the decoder. Control frames interleaved
    /// within a fragmented message are returned as soon as complete. Header rules, including
    /// `max_message_size`, are checked as soon as the header bytes are present, before any of the
    /// payload has arrived. Call repeatedly until `Ok(None)`: one read may hold several messages.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        // Loop because a non-final fragment yields no message but may be followed by more
        // complete frames already in `buf`.
        loop {
            let Some(header) = self.parse_header(buf)? else {
                return Ok(None);
            };
            let frame_len = header
                .header_len
                .checked_add(header.payload_len)
                .ok_or(ProtocolError::MessageTooBig)?;
            if buf.len() < frame_len {
                return Ok(None);
            }
            let mut payload = buf.split_to(frame_len);
            payload.advance(header.header_len);
            unmask(&mut payload, header.mask);
            if let Some(message) = self.on_frame(header.fin, header.opcode, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Validates whatever part of the header at the front of `buf` is present.
    ///
    /// Checks run in the order of the bytes they need, so the first error reported does not
    /// depend on how the input was split into reads.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::UnknownOpcode)?;
        match opcode {
            OpCode::Continuation if self.partial.is_none() => {
                return Err(ProtocolError::UnexpectedContinuation)
            }
            OpCode::Text | OpCode::Binary if self.partial.is_some() => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            _ if opcode.is_control() && !fin => return Err(ProtocolError::FragmentedControl),
            _ => {}
        }

        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        match (self.server_frames, masked) {
            (false, false) => return Err(ProtocolError::UnmaskedFrame),
            (true, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlFrameTooLong);
        }
        let (len, mask_at) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(&[a, b, c, d, e, f, g, h]) => {
                    let len = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::InvalidFrameLength);
                    }
                    (len, 10)
                }
                _ => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if !opcode.is_control() {
            // Checked against the announced length, so a huge frame fails before any of its
            // payload is buffered.
            let used = self.partial.as_ref().map_or(0, |p| p.data.len());
            let room = self.max_message_size.saturating_sub(used);
            if len > u64::try_from(room).unwrap_or(u64::MAX) {
                return Err(ProtocolError::MessageTooBig);
            }
        }
        // Cannot fail after the checks above; mapped anyway rather than unwrapped.
        let payload_len = usize::try_from(len).map_err(|_| ProtocolError::MessageTooBig)?;

        if self.server_frames {
            // Unmasking with a zero key is a no-op.
            return Ok(Some(Header {
                fin,
                opcode,
                mask: [0; 4],
                header_len: mask_at,
                payload_len,
            }));
        }
        let mask = match buf.get(mask_at..mask_at + 4) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => return Ok(None),
        };
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            header_len: mask_at + 4,
            payload_len,
        }))
    }

    /// Handles one complete, unmasked frame whose header already passed validation.
    fn on_frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: BytesMut,
    ) -> Result<Option<Message>, ProtocolError> {
        match opcode {
            OpCode::Ping => Ok(Some(Message::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Message::Pong(payload.freeze()))),
            OpCode::Close => parse_close(&payload).map(|close| Some(Message::Close(close))),
            OpCode::Text | OpCode::Binary if fin => finish(opcode, payload).map(Some),
            OpCode::Text | OpCode::Binary => {
                self.partial = Some(Box::new(Partial {
                    opcode,
                    data: payload,
                }));
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                partial.data.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                match self.partial.take() {
                    Some(partial) => {
                        let Partial { opcode, data } = *partial;
                        finish(opcode, data).map(Some)
                    }
                    None => Err(ProtocolError::UnexpectedContinuation),
                }
            }
        }
    }
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max_message_size", &self.max_message_size)
            .field("partial_opcode", &self.partial.as_ref().map(|p| p.opcode))
            .field("partial_len", &self.partial.as_ref().map(|p| p.data.len()))
            .finish()
    }
}

/// Turns a complete text or binary payload into a message.
fn finish(opcode: OpCode, data: BytesMut) -> Result<Message, ProtocolError> {
    if opcode == OpCode::Text {
        // Validated only once reassembled: a fragment may end in the middle of a character.
        std::str::from_utf8(&data).map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok(Message::Text(data.freeze()))
    } else {
        Ok(Message::Binary(data.freeze()))
    }
}

/// Parses a close payload: empty, or a big-endian status code followed by a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidCloseFrame),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(ProtocolError::InvalidCloseFrame);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// XORs `data` with the 4-byte masking key, eight bytes at a time.
pub(super) fn unmask(data: &mut [u8], key: [u8; 4]) {
    let [a, b, c, d] = key;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Chunks are a multiple of 4 long, so the tail starts at key offset 0 again.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}
