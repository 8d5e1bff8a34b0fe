//! The default JSON parser (npm `socket.io-parser` 4.x): `<type>[<n>-][<nsp>,][<ackId>][<json>]`,
//! followed by one Engine.IO binary message per attachment.

use bytes::Bytes;
use serde_json::Value;

use super::error::ParseError;
use super::packet::{is_payload_valid, placeholders_valid, EioMessage, Packet, PacketType};
use super::raw::{decode_raw, Decoded};

/// Node's default limit on the number of attachments of one binary packet (socket.io-parser
/// 4.2.6's `maxAttachments`); the msgpack decoder applies it to inline binaries too.
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// The deepest nesting of arrays and objects accepted in a packet's payload, by both parsers
/// (`42["a",[[1]]]` has depth 3). Deeper payloads are refused as malformed: every layer above the
/// decoders (validation, drop, user deserialization) recurses, and a worker thread's stack is small.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Estimated heap bytes of one decoded `serde_json::Value` in its container.
pub(crate) const VALUE_COST: usize = 72;
/// Estimated extra heap bytes of one map entry (key, hash, index slot) beyond its value.
pub(crate) const ENTRY_COST: usize = 48;
/// Estimated heap bytes of an object as serde_json builds it: its entries grow from a capacity
/// of 4 (~450 bytes even for `{"a":1}`).
const OBJECT_COST: usize = 448;
/// Estimated allocator overhead of one string (the smallest heap chunk).
const STRING_COST: usize = 24;
// `scan`'s fast path bounds every byte's cost by OBJECT_COST.
const _: () =
    assert!(OBJECT_COST >= VALUE_COST && OBJECT_COST >= ENTRY_COST && OBJECT_COST >= STRING_COST);

/// Why [`scan`] refused a JSON text.
enum Shape {
    TooDeep,
    TooLarge,
}

/// A linear scan of the JSON text `s` that runs before `serde_json` allocates anything: refuses
/// nesting deeper than `max_depth` (serde_json's own limit, 128, is fixed and too deep for us)
/// and texts whose decoded `Value` tree would take more than `max_cost` bytes (every value
/// costs [`VALUE_COST`], every object [`OBJECT_COST`] and entry [`ENTRY_COST`] more, strings
/// their length plus [`STRING_COST`]). Measured against the real allocation in the e2e suite.
fn scan(s: &[u8], max_depth: usize, max_cost: usize) -> Result<(), Shape> {
    // A text that cannot break either limit whatever its shape needs no walk: the depth never
    // passes the number of `[` and `{` bytes (a vectorised count), and no byte adds more than
    // OBJECT_COST. Most packets are short and pass here.
    let opens = count_opening_brackets(s);
    let worst = VALUE_COST.saturating_add(s.len().saturating_mul(OBJECT_COST));
    if opens <= max_depth && worst <= max_cost {
        return Ok(());
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut cost = VALUE_COST;
    for &c in s {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => cost += 1,
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                cost += STRING_COST;
            }
            b'[' | b'{' => {
                if c == b'{' {
                    cost += OBJECT_COST;
                }
                depth += 1;
                if depth > max_depth {
                    return Err(Shape::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => cost += VALUE_COST,
            b':' => cost += ENTRY_COST,
            _ => {}
        }
        if cost > max_cost {
            return Err(Shape::TooLarge);
        }
    }
    Ok(())
}

/// How many bytes of `s` are `[` or `{` (inside strings too). `c | 0x20` maps `[` (0x5B) to `{`
/// (0x7B) and no other byte to it; counting per chunk in `u8` lets the compiler vectorise the
/// loop (a `filter().count()` ran byte by byte, five instructions each).
fn count_opening_brackets(s: &[u8]) -> usize {
    s.chunks(255)
        .map(|chunk| {
            let in_chunk = chunk
                .iter()
                .fold(0u8, |n, &c| n.wrapping_add(u8::from(c | 0x20 == b'{')));
            usize::from(in_chunk)
        })
        .sum()
}

/// A packet encoded by the JSON parser: one text message followed by one binary message per
/// attachment, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPacket {
    /// The text message (valid UTF-8), without the Engine.IO `4` prefix.
    pub text: Bytes,
    /// The attachments, each to be sent as its own Engine.IO binary message after `text`.
    pub attachments: Vec<Bytes>,
}

impl EncodedPacket {
    /// The Engine.IO messages to send, in order: the text, then one binary message per attachment.
    pub fn into_messages(self) -> Vec<EioMessage> {
        self.into_iter().collect()
    }

    /// The number of Engine.IO messages this packet takes (1 + the number of attachments).
    pub fn message_count(&self) -> usize {
        1 + self.attachments.len()
    }
}

impl IntoIterator for EncodedPacket {
    type Item = EioMessage;
    type IntoIter = std::iter::Chain<
        std::iter::Once<EioMessage>,
        std::iter::Map<std::vec::IntoIter<Bytes>, fn(Bytes) -> EioMessage>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(EioMessage::Text(self.text)).chain(
            self.attachments
                .into_iter()
                .map(EioMessage::Binary as fn(_) -> _),
        )
    }
}

/// Encodes `packet` with the JSON parser.
///
/// Events and acks with attachments are sent as wire type `5`/`6` with the attachment count;
/// attachments on other packet types are ignored. `data` of `None` or `Some(Value::Null)` is
/// omitted, like Node does for `undefined`/`null`.
pub fn encode_json(packet: &Packet) -> EncodedPacket {
    let mut out = Vec::with_capacity(estimate_len(packet));
    encode_json_into(packet, &mut out);
    let attachments = if packet.is_event() || packet.is_ack() {
        packet.attachments.clone()
    } else {
        Vec::new()
    };
    EncodedPacket {
        text: Bytes::from(out),
        attachments,
    }
}

/// Appends the text message of `packet` (as produced by [`encode_json`]) to `out`, which can be
/// reused between packets. The attachments must be sent separately, after the text message.
pub fn encode_json_into(packet: &Packet, out: &mut Vec<u8>) {
    encode_header_into(
        packet.wire_type(),
        packet.attachments.len(),
        &packet.nsp,
        packet.id,
        out,
    );
    match &packet.data {
        None | Some(Value::Null) => {}
        Some(data) => serde_json::to_writer(&mut *out, data)
            .expect("serializing a serde_json::Value into a Vec cannot fail"),
    }
}

/// Appends the header of a text packet: type, attachment count (binary types only),
/// namespace (unless `/`) and ack id.
pub(crate) fn encode_header_into(
    wire: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
    out: &mut Vec<u8>,
) {
    out.push(b'0' + wire.as_u8());
    if matches!(wire, PacketType::BinaryEvent | PacketType::BinaryAck) {
        push_u64(out, attachments as u64);
        out.push(b'-');
    }
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        push_u64(out, id);
    }
}

fn estimate_len(packet: &Packet) -> usize {
    // Cheap guess: header plus a fixed allowance for the payload.
    8 + packet.nsp.len() + if packet.data.is_some() { 64 } else { 0 }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The header of a text packet: everything before its JSON payload.
#[derive(Clone, Copy)]
pub(crate) struct Header<'a> {
    /// The wire type (`5`/`6` for binary packets).
    pub(crate) wire: PacketType,
    /// The number of attachments announced (0 unless binary).
    pub(crate) count: usize,
    /// The namespace (`/` when absent).
    pub(crate) nsp: &'a str,
    /// The ack id.
    pub(crate) id: Option<u64>,
    /// Where the JSON payload starts in the text (its length when there is none).
    pub(crate) payload: usize,
}

/// Decodes the header of one text message: type, attachment count, namespace and ack id.
pub(crate) fn decode_header(s: &str, max_attachments: usize) -> Result<Header<'_>, ParseError> {
    let b = s.as_bytes();
    let first = *b.first().ok_or(ParseError::Empty)?;
    let wire = match first {
        b'0'..=b'6' => PacketType::from_u8(first - b'0').ok_or(ParseError::InvalidType)?,
        _ => return Err(ParseError::UnknownType(s.chars().next().unwrap_or('\0'))),
    };
    let mut i = 1;

    // attachment count
    let mut count = 0usize;
    let binary = matches!(wire, PacketType::BinaryEvent | PacketType::BinaryAck);
    if binary {
        let dash = b[i..]
            .iter()
            .position(|&c| c == b'-')
            .ok_or(ParseError::IllegalAttachments)?
            + i;
        let digits = &b[i..dash];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::IllegalAttachments);
        }
        count = digits
            .iter()
            .try_fold(0usize, |acc, &d| {
                acc.checked_mul(10)?.checked_add(usize::from(d - b'0'))
            })
            .unwrap_or(usize::MAX);
        // socket.io-parser 4.2.7: a binary packet without attachments is illegal (it would
        // otherwise be complete at once, as a plain packet wearing a binary type).
        if count == 0 {
            return Err(ParseError::IllegalAttachments);
        }
        if count > max_attachments {
            return Err(ParseError::TooManyAttachments {
                count,
                max: max_attachments,
            });
        }
        i = dash + 1;
    }

    // namespace: from '/' to ',' or to the end of the string
    let nsp = if b.get(i) == Some(&b'/') {
        match b[i..].iter().position(|&c| c == b',') {
            Some(p) => {
                let nsp = &s[i..i + p];
                i += p + 1;
                nsp
            }
            None => {
                let nsp = &s[i..];
                i = b.len();
                nsp
            }
        }
    } else {
        "/"
    };

    // ack id
    let digits_end = b[i..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |p| p + i);
    let id = if digits_end > i {
        let id = s[i..digits_end]
            .parse::<u64>()
            .map_err(|_| ParseError::InvalidAckId)?;
        i = digits_end;
        Some(id)
    } else {
        None
    };
    Ok(Header {
        wire,
        count,
        nsp,
        id,
        payload: i,
    })
}

/// Refuses a payload deeper than [`MAX_NESTING_DEPTH`] or larger than `max_decoded` once
/// decoded, before anything parses it.
pub(crate) fn check_shape(payload: &[u8], max_decoded: usize) -> Result<(), ParseError> {
    match scan(payload, MAX_NESTING_DEPTH, max_decoded) {
        Ok(()) => Ok(()),
        Err(Shape::TooDeep) => Err(ParseError::InvalidJson("nesting too deep".to_owned())),
        Err(Shape::TooLarge) => Err(ParseError::DecodedTooLarge { max: max_decoded }),
    }
}

/// The packet of a text message whose header is decoded, its payload parsed into a `Value`.
pub(crate) fn decode_rest(
    s: &str,
    header: &Header<'_>,
    max_decoded: usize,
) -> Result<(Packet, usize), ParseError> {
    let Header {
        wire,
        count,
        nsp,
        id,
        payload: i,
    } = *header;
    let binary = matches!(wire, PacketType::BinaryEvent | PacketType::BinaryAck);
    let data = if i < s.len() {
        check_shape(&s.as_bytes()[i..], max_decoded)?;
        let v: Value =
            serde_json::from_str(&s[i..]).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        Some(v)
    } else {
        None
    };
    validate(wire, data.as_ref())?;
    if binary {
        if let Some(d) = &data {
            if !placeholders_valid(d, count) {
                return Err(ParseError::IllegalPlaceholder);
            }
        }
    }
    let packet = Packet {
        kind: wire.without_binary(),
        nsp: nsp.to_owned(),
        id,
        data,
        attachments: Vec::with_capacity(count),
    };
    Ok((packet, count))
}

/// `isPayloadValid` when data is present; events and acks additionally require data.
pub(crate) fn validate(kind: PacketType, data: Option<&Value>) -> Result<(), ParseError> {
    let needs_data = matches!(
        kind,
        PacketType::Event | PacketType::Ack | PacketType::BinaryEvent | PacketType::BinaryAck
    );
    if (data.is_none() && needs_data) || (data.is_some() && !is_payload_valid(kind, data)) {
        return Err(ParseError::InvalidPayload);
    }
    Ok(())
}

/// The JSON parser's decoder: a state machine fed with Engine.IO messages.
///
/// A text message decodes to a packet immediately unless it announces attachments; the decoder then
/// collects that many binary messages and returns the packet with the last one.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    max_attachments: usize,
    max_pending_bytes: usize,
    max_decoded_bytes: usize,
    pending: Option<(Packet, usize)>,
    /// Bytes of the attachments in `pending`.
    pending_bytes: usize,
}

impl Default for JsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonDecoder {
    /// A decoder with Node's default limit of [`DEFAULT_MAX_ATTACHMENTS`] attachments per packet.
    pub fn new() -> Self {
        Self::with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder that rejects binary packets announcing more than `max` attachments.
    pub fn with_max_attachments(max: usize) -> Self {
        Self {
            max_attachments: max,
            max_pending_bytes: usize::MAX,
            max_decoded_bytes: usize::MAX,
            pending: None,
            pending_bytes: 0,
        }
    }

    /// Refuses, with [`ParseError::PendingTooLarge`], an incomplete binary packet whose
    /// attachments received so far pass `max` bytes (unbounded by default). Without a bound a
    /// peer holds `max_attachments` times the largest message in server memory by never sending
    /// its last attachment.
    pub fn with_max_pending_bytes(mut self, max: usize) -> Self {
        self.max_pending_bytes = max;
        self
    }

    /// Refuses, with [`ParseError::DecodedTooLarge`], a text packet whose payload would take
    /// more than `max` bytes once decoded (estimated by a scan before parsing; unbounded by
    /// default). A `Value` takes 72 bytes for as little as 2 bytes of JSON (`0,`).
    pub fn with_max_decoded_bytes(mut self, max: usize) -> Self {
        self.max_decoded_bytes = max;
        self
    }

    /// The configured bound on the attachment bytes of an incomplete packet.
    pub fn max_pending_bytes(&self) -> usize {
        self.max_pending_bytes
    }

    /// Bytes held by the incomplete binary packet's attachments (0 when none is pending).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// The configured maximum number of attachments per packet.
    pub fn max_attachments(&self) -> usize {
        self.max_attachments
    }

    /// `true` while a binary packet is waiting for more attachments.
    pub fn is_reconstructing(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops any partially reconstructed binary packet.
    pub fn reset(&mut self) {
        self.pending = None;
        self.pending_bytes = 0;
    }

    /// Feeds one Engine.IO message. Returns `Ok(Some(packet))` when a packet is complete and
    /// `Ok(None)` when more binary messages are needed.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] when the message breaks the protocol (see its variants). The caller
    /// should then close the Engine.IO connection; the decoder has dropped its pending state.
    pub fn feed(&mut self, msg: EioMessage) -> Result<Option<Packet>, ParseError> {
        self.feed_with(msg, false)
            .map(|decoded| decoded.map(Decoded::into_packet))
    }

    /// As [`feed`](Self::feed), but a text EVENT or ACK without attachments comes back as
    /// [`Decoded::Raw`], its arguments kept as the checked JSON text (see [`RawArgs`]); every
    /// other packet as [`Decoded::Packet`]. Accepts and refuses exactly what `feed` does, with
    /// the same errors.
    ///
    /// # Errors
    ///
    /// As [`feed`](Self::feed).
    ///
    /// [`RawArgs`]: super::RawArgs
    pub fn feed_lazy(&mut self, msg: EioMessage) -> Result<Option<Decoded>, ParseError> {
        self.feed_with(msg, true)
    }

    fn feed_with(&mut self, msg: EioMessage, lazy: bool) -> Result<Option<Decoded>, ParseError> {
        match msg {
            EioMessage::Text(text) => {
                if self.pending.is_some() {
                    self.reset();
                    return Err(ParseError::UnexpectedText);
                }
                let s = std::str::from_utf8(&text).map_err(|_| ParseError::InvalidUtf8)?;
                let header = decode_header(s, self.max_attachments)?;
                if lazy {
                    if let Some(raw) = decode_raw(&text, s, &header, self.max_decoded_bytes)? {
                        return Ok(Some(Decoded::Raw(raw)));
                    }
                }
                let (packet, count) = decode_rest(s, &header, self.max_decoded_bytes)?;
                if count == 0 {
                    Ok(Some(Decoded::Packet(packet)))
                } else {
                    self.pending = Some((packet, count));
                    Ok(None)
                }
            }
            EioMessage::Binary(bin) => {
                let (packet, count) = self.pending.as_mut().ok_or(ParseError::UnexpectedBinary)?;
                let held = self.pending_bytes.saturating_add(bin.len());
                if held > self.max_pending_bytes {
                    let max = self.max_pending_bytes;
                    self.reset();
                    return Err(ParseError::PendingTooLarge { max });
                }
                packet.attachments.push(bin);
                if packet.attachments.len() == *count {
                    let packet = self.pending.take().map(|(p, _)| Decoded::Packet(p));
                    self.reset();
                    Ok(packet)
                } else {
                    self.pending_bytes = held;
                    Ok(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    #[test]
    fn opening_brackets_are_counted_in_long_and_short_texts() {
        assert_eq!(count_opening_brackets(b""), 0);
        assert_eq!(count_opening_brackets(br#"["a",{"b":[1]}]"#), 3);
        // Past one chunk, and with every other byte value present.
        let every: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let expected = every.iter().filter(|&&c| c == b'[' || c == b'{').count();
        assert_eq!(count_opening_brackets(&every), expected);
        let brackets = vec![b'['; 600];
        assert_eq!(count_opening_brackets(&brackets), 600);
    }

    #[test]
    fn the_fast_path_refuses_nothing_the_walk_would_refuse() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(matches!(
            scan(deep.as_bytes(), 64, usize::MAX),
            Err(Shape::TooDeep)
        ));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(scan(ok.as_bytes(), 64, usize::MAX).is_ok());
        assert!(matches!(scan(b"{}", 64, 100), Err(Shape::TooLarge)));
        // Brackets inside strings count for the fast path only: the walk then decides.
        let quoted = format!("\"{}\"", "[".repeat(100));
        assert!(scan(quoted.as_bytes(), 64, usize::MAX).is_ok());
    }
}
