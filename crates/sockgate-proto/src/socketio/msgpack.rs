//! The msgpack parser (npm `socket.io-msgpack-parser` 3.0.2 with `notepack.io` 2.2): each packet is
//! one Engine.IO binary message holding a msgpack map `{type, data, nsp, id?}`, with binary data
//! inline as msgpack `bin`.
//!
//! The encoder writes exactly what notepack writes for the same JS value: the smallest integer
//! format, float64 for non-integral numbers, the smallest str/bin/array/map header, keys in the
//! order `type`, `data`, `nsp`, `id`. The decoder accepts everything notepack 2.2 produces (including
//! `undefined` as `fixext 1` type 0, `ArrayBuffer` as `ext` type 0 and `Date` as `fixext 8` type 0)
//! and turns inline binary into placeholders plus attachments.
//!
//! Over 400 lines on purpose: the writer is short (`rmp`'s encoders), and the decoder, which is
//! most of the file, is one bounded recursive reader whose limits (depth, binary count, decoded
//! cost) only make sense read together.

use bytes::Bytes;
use rmp::encode;
use serde_json::{Map, Number, Value};

use super::error::ParseError;
use super::json::{validate, DEFAULT_MAX_ATTACHMENTS, ENTRY_COST, MAX_NESTING_DEPTH, VALUE_COST};

/// Estimated heap bytes of the placeholder object one binary becomes.
const PLACEHOLDER_COST: usize = 320;
use super::packet::{placeholder, placeholder_num, EioMessage, Packet, PacketType};

/// Encodes `packet` as one msgpack binary message.
///
/// Placeholders in `data` whose `num` refers to an attachment are written as msgpack `bin` holding
/// that attachment; other placeholder-like objects are written as plain maps. The type is written
/// as `2`/`3` for events/acks whatever their binary content (the msgpack parser has no binary
/// types).
pub fn encode_msgpack(packet: &Packet) -> Bytes {
    let mut out = Vec::with_capacity(
        32 + packet.nsp.len() + packet.attachments.iter().map(Bytes::len).sum::<usize>(),
    );
    encode_msgpack_into(packet, &mut out);
    Bytes::from(out)
}

/// Appends the msgpack encoding of `packet` (as produced by [`encode_msgpack`]) to `out`.
pub fn encode_msgpack_into(packet: &Packet, out: &mut Vec<u8>) {
    let data = packet.data.as_ref();
    let entries = 2 + usize::from(data.is_some()) + usize::from(packet.id.is_some());
    write_map_len(out, entries);
    write_str(out, "type");
    write_uint(out, u64::from(packet.kind.without_binary().as_u8()));
    if let Some(d) = data {
        write_str(out, "data");
        write_value(out, d, &packet.attachments);
    }
    write_str(out, "nsp");
    write_str(out, &packet.nsp);
    if let Some(id) = packet.id {
        write_str(out, "id");
        write_uint(out, id);
    }
}

// The writers below use `rmp`'s encoders, which pick the smallest format for each integer and
// length exactly as notepack does (fixint/fixstr/fixarray/fixmap, then 8-, 16- and 32-bit forms;
// `str 8` included). Writing into a `Vec` cannot fail, so their `Result`s carry no information
// and are dropped.

fn write_uint(out: &mut Vec<u8>, n: u64) {
    let _ = encode::write_uint(out, n);
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        // notepack writes every non-negative integer in the unsigned formats.
        write_uint(out, n.unsigned_abs());
    } else {
        let _ = encode::write_sint(out, n);
    }
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    // notepack writes any integral finite number as an integer (JS has one number type).
    if f.is_finite() && f.fract() == 0.0 {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return write_uint(out, f as u64);
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return write_int(out, f as i64);
        }
    }
    let _ = encode::write_f64(out, f);
}

/// A length as msgpack stores it. Lengths past `u32::MAX` cannot be encoded; they are cut as
/// before (such a message is far past any payload limit and never built).
fn len32(len: usize) -> u32 {
    len as u32
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = encode::write_str_len(out, len32(s.len()));
    out.extend_from_slice(s.as_bytes());
}

fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    let _ = encode::write_bin_len(out, len32(b.len()));
    out.extend_from_slice(b);
}

fn write_map_len(out: &mut Vec<u8>, len: usize) {
    let _ = encode::write_map_len(out, len32(len));
}

fn write_value(out: &mut Vec<u8>, v: &Value, attachments: &[Bytes]) {
    match v {
        Value::Null => {
            let _ = encode::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = encode::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                write_int(out, i);
            } else {
                write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            let _ = encode::write_array_len(out, len32(a.len()));
            for x in a {
                write_value(out, x, attachments);
            }
        }
        Value::Object(m) => {
            if let Some(Some(num)) = placeholder_num(v) {
                if let Some(b) = usize::try_from(num).ok().and_then(|n| attachments.get(n)) {
                    return write_bin(out, b);
                }
            }
            write_map_len(out, m.len());
            for (k, x) in m {
                write_str(out, k);
                write_value(out, x, attachments);
            }
        }
    }
}

/// A decoded msgpack value, where `Undefined` is notepack's `fixext 1` type 0.
enum Decoded {
    Value(Value),
    Undefined,
}

struct Reader<'a> {
    msg: &'a Bytes,
    pos: usize,
    /// Binary values (`bin` and `ext`) read so far, anywhere in the message.
    bins: usize,
    max_bins: usize,
    /// Array elements that may still be reserved ahead. Every element takes at least one byte,
    /// so all the arrays of an honest message hold at most `msg.len()` elements: reserving from
    /// this shared allowance gives honest arrays their exact capacity (no doubling while they
    /// fill) while lying headers, even nested, reserve at most one `Value` per message byte.
    reserve_left: usize,
    /// Estimated heap bytes of what was decoded so far, and the bound on it.
    cost: usize,
    max_cost: usize,
}

type Res<T> = Result<T, ParseError>;

const TRUNCATED: ParseError = ParseError::InvalidMsgpack("truncated");

impl Reader<'_> {
    /// Accounts for `bytes` more of decoded memory, before they are allocated.
    fn charge(&mut self, bytes: usize) -> Res<()> {
        self.cost = self.cost.saturating_add(bytes);
        if self.cost > self.max_cost {
            return Err(ParseError::DecodedTooLarge { max: self.max_cost });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Res<&[u8]> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let s = self.msg.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Res<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self, bytes: usize) -> Res<usize> {
        Ok(match bytes {
            1 => usize::from(self.u8()?),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn bin(&mut self, n: usize, attachments: &mut Vec<Bytes>) -> Res<Value> {
        // Each binary becomes a placeholder object (hundreds of bytes) for 2 bytes of input:
        // refuse before allocating, as socket.io-parser refuses too many attachments.
        self.bins += 1;
        if self.bins > self.max_bins {
            return Err(ParseError::TooManyAttachments {
                count: self.bins,
                max: self.max_bins,
            });
        }
        self.charge(PLACEHOLDER_COST)?;
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        if end > self.msg.len() {
            return Err(TRUNCATED);
        }
        attachments.push(self.msg.slice(self.pos..end));
        self.pos = end;
        Ok(placeholder(attachments.len() - 1))
    }

    fn str(&mut self, n: usize) -> Res<String> {
        self.charge(n)?;
        let s = self.take(n)?;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|_| ParseError::InvalidMsgpack("string is not valid UTF-8"))
    }

    /// notepack's `[type, Buffer]` for extension types it does not know.
    fn unknown_ext(&mut self, ty: i8, n: usize, att: &mut Vec<Bytes>) -> Res<Decoded> {
        let bin = self.bin(n, att)?;
        Ok(Decoded::Value(Value::Array(vec![Value::from(ty), bin])))
    }

    fn ext(&mut self, n: usize, att: &mut Vec<Bytes>) -> Res<Decoded> {
        let ty = self.u8()? as i8;
        if ty == 0 {
            // ArrayBuffer
            return Ok(Decoded::Value(self.bin(n, att)?));
        }
        self.unknown_ext(ty, n, att)
    }

    fn enter(depth: usize) -> Res<()> {
        // `depth` counts the containers, the packet map being 0 and `data` 1.
        if depth > MAX_NESTING_DEPTH {
            return Err(ParseError::InvalidMsgpack("nesting too deep"));
        }
        Ok(())
    }

    fn array(&mut self, n: usize, depth: usize, att: &mut Vec<Bytes>) -> Res<Value> {
        Self::enter(depth)?;
        if n > self.msg.len() - self.pos {
            // Not even one byte per announced element is left.
            return Err(TRUNCATED);
        }
        let reserve = n.min(self.reserve_left);
        self.reserve_left -= reserve;
        let mut a = Vec::with_capacity(reserve);
        for _ in 0..n {
            a.push(match self.value(depth + 1, att)? {
                Decoded::Value(v) => v,
                Decoded::Undefined => Value::Null,
            });
        }
        Ok(Value::Array(a))
    }

    fn key(&mut self, depth: usize) -> Res<String> {
        // Keys are coerced to strings like JS property names; binary or nested keys are refused.
        let mut scratch = Vec::new();
        match self.value(depth + 1, &mut scratch)? {
            Decoded::Undefined => Ok("undefined".to_owned()),
            Decoded::Value(Value::String(s)) => Ok(s),
            Decoded::Value(Value::Null) => Ok("null".to_owned()),
            Decoded::Value(Value::Bool(b)) => Ok(b.to_string()),
            Decoded::Value(Value::Number(n)) => Ok(n.to_string()),
            Decoded::Value(_) => Err(ParseError::InvalidMsgpack("unsupported map key")),
        }
    }

    fn map(&mut self, n: usize, depth: usize, att: &mut Vec<Bytes>) -> Res<Value> {
        Self::enter(depth)?;
        if n > (self.msg.len() - self.pos) / 2 {
            // An entry takes at least two bytes (key and value).
            return Err(TRUNCATED);
        }
        // Exact capacity: a growing map starts at 4 entries of ~100 bytes, 400 bytes for a
        // 4-byte `{"a":1}`. Reserved from the same allowance as arrays.
        let reserve = n.min(self.reserve_left);
        self.reserve_left -= reserve;
        let mut m = Map::with_capacity(reserve);
        for _ in 0..n {
            self.charge(ENTRY_COST)?;
            let k = self.key(depth)?;
            match self.value(depth + 1, att)? {
                Decoded::Value(v) => {
                    m.insert(k, v);
                }
                Decoded::Undefined => {
                    m.remove(&k);
                }
            }
        }
        Ok(Value::Object(m))
    }

    fn value(&mut self, depth: usize, att: &mut Vec<Bytes>) -> Res<Decoded> {
        self.charge(VALUE_COST)?;
        let b = self.u8()?;
        let v = match b {
            0x00..=0x7f => Value::from(b),
            0x80..=0x8f => self.map(usize::from(b & 0x0f), depth, att)?,
            0x90..=0x9f => self.array(usize::from(b & 0x0f), depth, att)?,
            0xa0..=0xbf => Value::String(self.str(usize::from(b & 0x1f))?),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (b - 0xc4))?;
                self.bin(n, att)?
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (b - 0xc7))?;
                return self.ext(n, att);
            }
            0xca => float(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => float(f64::from_be_bytes(self.be()?)),
            0xcc => Value::from(self.u8()?),
            0xcd => Value::from(u16::from_be_bytes(self.be()?)),
            0xce => Value::from(u32::from_be_bytes(self.be()?)),
            0xcf => Value::from(u64::from_be_bytes(self.be()?)),
            0xd0 => Value::from(self.u8()? as i8),
            0xd1 => Value::from(i16::from_be_bytes(self.be()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.be()?)),
            0xd3 => Value::from(i64::from_be_bytes(self.be()?)),
            0xd4 => {
                let ty = self.u8()? as i8;
                if ty == 0 {
                    self.take(1)?;
                    return Ok(Decoded::Undefined);
                }
                return self.unknown_ext(ty, 1, att);
            }
            0xd5 | 0xd6 | 0xd8 => {
                let ty = self.u8()? as i8;
                let n = match b {
                    0xd5 => 2,
                    0xd6 => 4,
                    _ => 16,
                };
                return self.unknown_ext(ty, n, att);
            }
            0xd7 => {
                let ty = self.u8()? as i8;
                if ty == 0 {
                    // Date: milliseconds since the epoch, as JSON.stringify would send it.
                    let ms = i64::from_be_bytes(self.be()?);
                    return Ok(Decoded::Value(date_to_json(ms)));
                }
                return self.unknown_ext(ty, 8, att);
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (b - 0xd9))?;
                Value::String(self.str(n)?)
            }
            0xdc | 0xdd => {
                let n = self.len(if b == 0xdc { 2 } else { 4 })?;
                self.array(n, depth, att)?
            }
            0xde | 0xdf => {
                let n = self.len(if b == 0xde { 2 } else { 4 })?;
                self.map(n, depth, att)?
            }
            0xe0..=0xff => Value::from(b as i8),
            0xc1 => return Err(ParseError::InvalidMsgpack("reserved byte 0xc1")),
        };
        Ok(Decoded::Value(v))
    }
}

/// A JS number as JSON: integral values become integers, NaN and infinities become `null`.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `Date.prototype.toJSON`: an ISO 8601 string, or `null` for an invalid date.
fn date_to_json(ms: i64) -> Value {
    const MAX: i64 = 8_640_000_000_000_000;
    if !(-MAX..=MAX).contains(&ms) {
        return Value::Null;
    }
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    Value::String(format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    ))
}

/// An integer-valued number (JS `Number.isInteger`), as i128 to cover u64 and i64.
fn as_integer(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    let f = n.as_f64()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38).then_some(f as i128)
}

/// Decodes one msgpack message into a packet, validating it like the JSON parser does. More than
/// `max_bins` binary values anywhere in the message, or more than `max_cost` estimated bytes of
/// decoded values, is an error.
pub(crate) fn decode_msgpack(
    msg: &Bytes,
    max_bins: usize,
    max_cost: usize,
) -> Result<Packet, ParseError> {
    let mut r = Reader {
        msg,
        pos: 0,
        bins: 0,
        max_bins,
        reserve_left: msg.len(),
        cost: 0,
        max_cost,
    };
    let b = r.u8()?;
    let n = match b {
        0x80..=0x8f => usize::from(b & 0x0f),
        0xde => r.len(2)?,
        0xdf => r.len(4)?,
        _ => {
            // Not a map: decode it anyway to report malformed msgpack first, like notepack.
            r.pos = 0;
            r.value(0, &mut Vec::new())?;
            if r.pos != msg.len() {
                return Err(ParseError::InvalidMsgpack("trailing bytes"));
            }
            return Err(ParseError::InvalidType);
        }
    };
    let (mut ty, mut nsp, mut id, mut data) = (None, None, None, None);
    let mut attachments = Vec::new();
    let mut scratch = Vec::new();
    for _ in 0..n {
        let key = r.key(0)?;
        let slot = match key.as_str() {
            "type" => &mut ty,
            "nsp" => &mut nsp,
            "id" => &mut id,
            "data" => {
                attachments.clear();
                &mut data
            }
            _ => {
                r.value(1, &mut scratch)?;
                scratch.clear();
                continue;
            }
        };
        let att = if key == "data" {
            &mut attachments
        } else {
            &mut scratch
        };
        *slot = match r.value(1, att)? {
            Decoded::Value(v) => Some(v),
            Decoded::Undefined => None,
        };
        scratch.clear();
    }
    if r.pos != msg.len() {
        return Err(ParseError::InvalidMsgpack("trailing bytes"));
    }
    let kind = ty
        .as_ref()
        .and_then(as_integer)
        .filter(|t| (0..=4).contains(t))
        .and_then(|t| PacketType::from_u8(t as u8))
        .ok_or(ParseError::InvalidType)?;
    let Some(Value::String(nsp)) = nsp else {
        return Err(ParseError::InvalidNamespace);
    };
    validate(kind, data.as_ref())?;
    let id = match id {
        None => None,
        Some(v) => Some(
            as_integer(&v)
                .and_then(|i| u64::try_from(i).ok())
                .ok_or(ParseError::InvalidAckId)?,
        ),
    };
    Ok(Packet {
        kind,
        nsp,
        id,
        data,
        attachments,
    })
}

/// The msgpack parser's decoder: every packet is exactly one binary Engine.IO message.
#[derive(Debug, Clone)]
pub struct MsgpackDecoder {
    max_attachments: usize,
    max_decoded_bytes: usize,
}

impl Default for MsgpackDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgpackDecoder {
    /// A decoder with the JSON parser's default limit of
    /// [`DEFAULT_MAX_ATTACHMENTS`](super::DEFAULT_MAX_ATTACHMENTS) binary values per packet.
    pub fn new() -> Self {
        Self::with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder that refuses packets holding more than `max` binary values (`bin` or `ext`,
    /// anywhere in the message) with [`ParseError::TooManyAttachments`].
    pub fn with_max_attachments(max: usize) -> Self {
        Self {
            max_attachments: max,
            max_decoded_bytes: usize::MAX,
        }
    }

    /// Refuses, with [`ParseError::DecodedTooLarge`], a packet whose decoded values would take
    /// more than `max` bytes (estimated while decoding, before allocating; unbounded by default).
    /// A `nil` is one byte of msgpack and a 72-byte `Value`.
    pub fn with_max_decoded_bytes(mut self, max: usize) -> Self {
        self.max_decoded_bytes = max;
        self
    }

    /// The configured maximum number of binary values per packet.
    pub fn max_attachments(&self) -> usize {
        self.max_attachments
    }

    /// Feeds one Engine.IO message and returns the packet it holds (always `Some` on success; the
    /// `Option` keeps the signature of [`JsonDecoder::feed`](super::JsonDecoder::feed)).
    ///
    /// # Errors
    ///
    /// [`ParseError::UnexpectedText`] for a text message (the msgpack parser never sends any), and
    /// the msgpack variants of [`ParseError`] for malformed or invalid packets. The caller should
    /// then close the Engine.IO connection.
    pub fn feed(&mut self, msg: EioMessage) -> Result<Option<Packet>, ParseError> {
        match msg {
            EioMessage::Text(_) => Err(ParseError::UnexpectedText),
            EioMessage::Binary(b) => {
                decode_msgpack(&b, self.max_attachments, self.max_decoded_bytes).map(Some)
            }
        }
    }
}
