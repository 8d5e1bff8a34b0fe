//! msgpack as notepack.io 3 writes and reads it, over sockgate's value model.
//!
//! Socket.IO values are JSON plus binary blobs; sockgate represents them as a
//! [`serde_json::Value`] in which each blob is a placeholder object
//! (`{"_placeholder":true,"num":i}`) plus a list of attachments. The Node adapters put the blobs
//! inline as msgpack `bin` instead, so [`encode`] swaps placeholders for `bin` at the same
//! position and [`decode`] swaps them back.
//!
//! To be byte-identical with notepack (the reference's captured vectors), the encoder uses the
//! smallest integer width, never float32 (a non-integral number is always float64), keeps map
//! keys in insertion order (serde_json's `preserve_order` is on in this workspace) and writes
//! an integral float (`1.0`) as an integer, as JavaScript has a single number type.

use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Number, Value};
use sockgate_proto::socketio::{placeholder, placeholder_num};

/// Deepest nesting [`decode`] accepts; deeper input is refused instead of exhausting the stack.
pub const MAX_DEPTH: usize = 128;

/// msgpack input that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends inside a value.
    Truncated,
    /// A byte that starts no msgpack value (`0xc1`).
    InvalidMarker(u8),
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// More than [`MAX_DEPTH`] nested arrays and maps.
    TooDeep,
    /// Bytes left after the value.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "msgpack input ends inside a value"),
            DecodeError::InvalidMarker(b) => write!(f, "byte {b:#04x} starts no msgpack value"),
            DecodeError::InvalidUtf8 => write!(f, "msgpack string is not UTF-8"),
            DecodeError::TooDeep => write!(f, "msgpack nesting deeper than {MAX_DEPTH}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the msgpack value"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `value`, writing the attachment each placeholder stands for as `bin`.
pub fn encode(value: &Value, attachments: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(value, attachments, &mut out);
    out
}

/// [`encode`] appending to `out`.
pub fn encode_into(value: &Value, attachments: &[Bytes], out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Number(n) => encode_number(n, out),
        Value::String(s) => encode_str(s, out),
        Value::Array(items) => {
            encode_len(items.len(), 0x90, 0xdc, 0xdd, out);
            for item in items {
                encode_into(item, attachments, out);
            }
        }
        Value::Object(map) => {
            if let Some(Some(num)) = placeholder_num(value) {
                if let Some(bytes) = usize::try_from(num).ok().and_then(|n| attachments.get(n)) {
                    encode_bin(bytes, out);
                    return;
                }
            }
            encode_len(map.len(), 0x80, 0xde, 0xdf, out);
            for (key, item) in map {
                encode_str(key, out);
                encode_into(item, attachments, out);
            }
        }
    }
}

fn encode_len(len: usize, fix: u8, m16: u8, m32: u8, out: &mut Vec<u8>) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len < 0x1_0000 {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Writes a string with the smallest header.
pub fn encode_str(s: &str, out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len < 0x100 {
        out.push(0xd9);
        out.push(len as u8);
    } else if len < 0x1_0000 {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// Writes binary data as `bin8`/`bin16`/`bin32`.
pub fn encode_bin(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    if len < 0x100 {
        out.push(0xc4);
        out.push(len as u8);
    } else if len < 0x1_0000 {
        out.push(0xc5);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

fn encode_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        encode_uint(u, out);
    } else if let Some(i) = n.as_i64() {
        encode_int(i, out);
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        // JavaScript has one number type: notepack writes an integral value as an integer.
        const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
        if f.is_finite() && f.fract() == 0.0 && f.abs() < LIMIT {
            if f >= 0.0 {
                encode_uint(f as u64, out);
            } else {
                encode_int(f as i64, out);
            }
        } else {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
    }
}

fn encode_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u < 0x100 {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u < 0x1_0000 {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        encode_uint(i as u64, out);
    } else if i >= -0x20 {
        out.push(i as u8);
    } else if i >= -0x80 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// Decodes one msgpack value; each `bin` (and notepack's ArrayBuffer extension) becomes a
/// placeholder and an attachment, timestamps become ISO 8601 strings (what `JSON.stringify`
/// makes of a `Date`), and notepack's legacy `undefined` (`d4 00 00`) becomes `null`.
///
/// # Errors
/// A [`DecodeError`] when the input is not exactly one msgpack value; drop the message.
pub fn decode(input: &[u8]) -> Result<(Value, Vec<Bytes>), DecodeError> {
    let mut reader = Reader {
        input,
        pos: 0,
        attachments: Vec::new(),
    };
    let value = reader.value(0)?;
    if reader.pos != input.len() {
        return Err(DecodeError::TrailingBytes(input.len() - reader.pos));
    }
    Ok((value, reader.attachments))
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    attachments: Vec<Bytes>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let bytes = self
            .input
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth)?,
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f))?,
            0xc0 => Value::Null,
            0xc1 => return Err(DecodeError::InvalidMarker(marker)),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = self.be(1 << (marker - 0xc4))? as usize;
                let bytes = Bytes::copy_from_slice(self.take(len)?);
                self.attach(bytes)
            }
            0xc7..=0xc9 => {
                let len = self.be(1 << (marker - 0xc7))? as usize;
                let kind = self.byte()? as i8;
                self.ext(kind, len)?
            }
            0xca => float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::from(self.be(1 << (marker - 0xcc))?),
            0xd0 => Value::from(self.be(1)? as u8 as i8),
            0xd1 => Value::from(self.be(2)? as u16 as i16),
            0xd2 => Value::from(self.be(4)? as u32 as i32),
            0xd3 => Value::from(self.be(8)? as i64),
            0xd4..=0xd8 => {
                let kind = self.byte()? as i8;
                self.ext(kind, 1 << (marker - 0xd4))?
            }
            0xd9..=0xdb => {
                let len = self.be(1 << (marker - 0xd9))? as usize;
                self.string(len)?
            }
            0xdc | 0xdd => {
                let len = self.be(2 << (marker - 0xdc))? as usize;
                self.array(len, depth)?
            }
            0xde | 0xdf => {
                let len = self.be(2 << (marker - 0xde))? as usize;
                self.map(len, depth)?
            }
            0xe0..=0xff => Value::from(marker as i8),
        })
    }

    fn attach(&mut self, bytes: Bytes) -> Value {
        self.attachments.push(bytes);
        placeholder(self.attachments.len() - 1)
    }

    fn string(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        // Every element takes at least one byte: a bogus length cannot reserve much.
        let mut items = Vec::with_capacity(len.min(self.input.len() - self.pos));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut map = Map::new();
        for _ in 0..len {
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let value = self.value(depth + 1)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    fn ext(&mut self, kind: i8, len: usize) -> Result<Value, DecodeError> {
        let data = self.take(len)?;
        Ok(match (kind, len) {
            // notepack: `d4 00 00` is its legacy `undefined`, ext 0 an ArrayBuffer.
            (0, 1) if data == [0] => Value::Null,
            (0, _) => {
                let bytes = Bytes::copy_from_slice(data);
                self.attach(bytes)
            }
            (-1, 4 | 8 | 12) => timestamp(data).map_or(Value::Null, Value::String),
            _ => Value::Null,
        })
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// The msgpack timestamp extension as `JSON.stringify(new Date(..))` writes it.
fn timestamp(data: &[u8]) -> Option<String> {
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let (secs, nanos): (i64, u64) = match data.len() {
        4 => (be(data) as i64, 0),
        8 => {
            let v = be(data);
            ((v & 0x3_ffff_ffff) as i64, v >> 34)
        }
        12 => (be(&data[4..]) as i64, be(&data[..4])),
        _ => return None,
    };
    let millis = secs
        .checked_mul(1000)?
        .checked_add((nanos / 1_000_000) as i64)?;
    Some(iso8601(millis))
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn iso8601(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn integers_take_the_smallest_width() {
        let cases: &[(Value, &str)] = &[
            (json!(0), "00"),
            (json!(127), "7f"),
            (json!(128), "cc80"),
            (json!(2000), "cd07d0"),
            (json!(70000), "ce00011170"),
            (json!(5_000_000_000u64), "cf000000012a05f200"),
            (json!(-1), "ff"),
            (json!(-32), "e0"),
            (json!(-33), "d0df"),
            (json!(-200), "d1ff38"),
            (json!(-70000), "d2fffeee90"),
            (json!(1.0), "01"),
            (json!(-2.0), "fe"),
            (json!(1.5), "cb3ff8000000000000"),
        ];
        for (value, expected) in cases {
            let bytes = encode(value, &[]);
            assert_eq!(hex(&bytes), *expected, "{value}");
            let (back, _) = decode(&bytes).unwrap();
            assert_eq!(back.as_f64(), value.as_f64(), "{value}");
        }
    }

    #[test]
    fn lengths_switch_headers_at_notepacks_bounds() {
        let s31 = "x".repeat(31);
        let s32 = "x".repeat(32);
        assert_eq!(encode(&json!(s31), &[])[0], 0xbf);
        assert_eq!(&encode(&json!(s32), &[])[..2], &[0xd9, 32]);
        let s256 = "x".repeat(256);
        assert_eq!(&encode(&json!(s256), &[])[..3], &[0xda, 1, 0]);
        let a16: Vec<u8> = vec![0; 16];
        assert_eq!(&encode(&json!(a16), &[])[..3], &[0xdc, 0, 16]);
        assert_eq!(encode(&json!({}), &[]), vec![0x80]);
        let big = Bytes::from(vec![7u8; 300]);
        let bytes = encode(&placeholder(0), std::slice::from_ref(&big));
        assert_eq!(&bytes[..3], &[0xc5, 1, 44]);
        let (value, attachments) = decode(&bytes).unwrap();
        assert_eq!(value, placeholder(0));
        assert_eq!(attachments, vec![big]);
    }

    #[test]
    fn binary_round_trips_through_placeholders() {
        let value = json!(["bin", placeholder(0), {"nested": [placeholder(1)]}]);
        let attachments = vec![Bytes::from_static(&[1, 2, 3]), Bytes::from_static(b"")];
        let bytes = encode(&value, &attachments);
        assert_eq!(hex(&bytes), "93a362696ec40301020381a66e657374656491c400");
        assert_eq!(decode(&bytes).unwrap(), (value, attachments));
    }

    #[test]
    fn notepack_extensions_decode() {
        // Legacy undefined, ArrayBuffer, float32, timestamp 32 and 96.
        assert_eq!(decode(&[0xd4, 0, 0]).unwrap().0, Value::Null);
        let (v, a) = decode(&[0xc7, 2, 0, 9, 8]).unwrap();
        assert_eq!((v, a), (placeholder(0), vec![Bytes::from_static(&[9, 8])]));
        assert_eq!(decode(&[0xca, 0x3f, 0xc0, 0, 0]).unwrap().0, json!(1.5));
        let ts = [0xd6, 0xff, 0x65, 0x53, 0xf1, 0x00]; // 1700000000 s
        assert_eq!(decode(&ts).unwrap().0, json!("2023-11-14T22:13:20.000Z"));
        let mut ts96 = vec![0xc7, 12, 0xff];
        ts96.extend_from_slice(&500_000_000u32.to_be_bytes());
        ts96.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(decode(&ts96).unwrap().0, json!("1969-12-31T23:59:59.500Z"));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(decode(&[0xc1]), Err(DecodeError::InvalidMarker(0xc1)));
        assert_eq!(decode(&[0x92, 1]), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode(&[1, 2]), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(decode(&[0xa1, 0xff]), Err(DecodeError::InvalidUtf8));
        assert_eq!(decode(&[0x91; 200]), Err(DecodeError::TooDeep));
    }
}
