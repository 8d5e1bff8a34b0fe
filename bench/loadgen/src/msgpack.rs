//! The msgpack side of the `msgpack-50` scenario: a small msgpack value type over the `rmp`
//! crate's marker-level codec, and the Socket.IO packets of npm `socket.io-msgpack-parser` (one
//! binary WebSocket frame per packet: the packet object `{type, data, nsp, id}` as a msgpack map).
//!
//! The generator has its own codec (not `sockgate-proto`'s) so that it checks the servers against
//! an independent implementation of the wire format.

use rmp::Marker;

/// A msgpack value (the subset Socket.IO packets use; extension values decode as [`Val::Nil`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Nil,
    Bool(bool),
    /// Any integer; negative ones too (`u64` only when above `i64::MAX`, see [`Val::UInt`]).
    Int(i64),
    UInt(u64),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Val>),
    Map(Vec<(Val, Val)>),
}

impl Val {
    /// The value under string key `k` of a map.
    pub(crate) fn get(&self, k: &str) -> Option<&Val> {
        match self {
            Val::Map(kv) => kv
                .iter()
                .find(|(key, _)| matches!(key, Val::Str(s) if s == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as an unsigned integer (a float with an integral value counts: JavaScript's
    /// encoders write large numbers as float64).
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match *self {
            Val::Int(i) => u64::try_from(i).ok(),
            Val::UInt(u) => Some(u),
            Val::F64(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Some(f as u64),
            _ => None,
        }
    }
}

/// Appends the msgpack encoding of `v` to `out` (smallest representation of each value).
pub(crate) fn encode(v: &Val, out: &mut Vec<u8>) {
    encode_inner(v, out);
}

fn encode_inner(v: &Val, out: &mut Vec<u8>) {
    use rmp::encode as e;
    // Writes into a Vec cannot fail: the results are dropped.
    match v {
        Val::Nil => {
            let _ = e::write_nil(out);
        }
        Val::Bool(b) => {
            let _ = e::write_bool(out, *b);
        }
        Val::Int(i) => {
            let _ = e::write_sint(out, *i);
        }
        Val::UInt(u) => {
            let _ = e::write_uint(out, *u);
        }
        Val::F64(f) => {
            let _ = e::write_f64(out, *f);
        }
        Val::Str(s) => {
            let _ = e::write_str(out, s);
        }
        Val::Bin(b) => {
            let _ = e::write_bin(out, b);
        }
        Val::Array(items) => {
            let _ = e::write_array_len(out, items.len() as u32);
            for item in items {
                encode_inner(item, out);
            }
        }
        Val::Map(kv) => {
            let _ = e::write_map_len(out, kv.len() as u32);
            for (k, v) in kv {
                encode_inner(k, out);
                encode_inner(v, out);
            }
        }
    }
}

/// Nesting deeper than this is refused (packets of the scenarios nest 3 deep).
const MAX_DEPTH: usize = 32;

/// Decodes one msgpack value that fills `buf` exactly.
pub(crate) fn decode(buf: &[u8]) -> Result<Val, String> {
    let mut rest = buf;
    let v = decode_one(&mut rest, 0)?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(v)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err("truncated msgpack".into());
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// A big-endian unsigned integer of `n` bytes (1, 2, 4 or 8).
fn be(buf: &mut &[u8], n: usize) -> Result<u64, String> {
    Ok(take(buf, n)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn decode_one(buf: &mut &[u8], depth: usize) -> Result<Val, String> {
    if depth > MAX_DEPTH {
        return Err("msgpack nested too deep".into());
    }
    let marker = Marker::from_u8(take(buf, 1)?[0]);
    let string = |buf: &mut &[u8], n: usize| -> Result<Val, String> {
        let b = take(buf, n)?;
        String::from_utf8(b.to_vec())
            .map(Val::Str)
            .map_err(|_| "msgpack string is not UTF-8".to_string())
    };
    let array = |buf: &mut &[u8], n: usize| -> Result<Val, String> {
        // Every element takes at least one byte: a length beyond the buffer is a lie.
        if n > buf.len() {
            return Err("truncated msgpack array".into());
        }
        (0..n)
            .map(|_| decode_one(buf, depth + 1))
            .collect::<Result<_, _>>()
            .map(Val::Array)
    };
    let map = |buf: &mut &[u8], n: usize| -> Result<Val, String> {
        if n.saturating_mul(2) > buf.len() {
            return Err("truncated msgpack map".into());
        }
        (0..n)
            .map(|_| Ok((decode_one(buf, depth + 1)?, decode_one(buf, depth + 1)?)))
            .collect::<Result<_, String>>()
            .map(Val::Map)
    };
    Ok(match marker {
        Marker::FixPos(n) => Val::Int(i64::from(n)),
        Marker::FixNeg(n) => Val::Int(i64::from(n)),
        Marker::Null => Val::Nil,
        Marker::True => Val::Bool(true),
        Marker::False => Val::Bool(false),
        Marker::U8 => Val::Int(be(buf, 1)? as i64),
        Marker::U16 => Val::Int(be(buf, 2)? as i64),
        Marker::U32 => Val::Int(be(buf, 4)? as i64),
        Marker::U64 => {
            let u = be(buf, 8)?;
            i64::try_from(u).map_or(Val::UInt(u), Val::Int)
        }
        Marker::I8 => Val::Int(i64::from(be(buf, 1)? as u8 as i8)),
        Marker::I16 => Val::Int(i64::from(be(buf, 2)? as u16 as i16)),
        Marker::I32 => Val::Int(i64::from(be(buf, 4)? as u32 as i32)),
        Marker::I64 => Val::Int(be(buf, 8)? as i64),
        Marker::F32 => Val::F64(f64::from(f32::from_bits(be(buf, 4)? as u32))),
        Marker::F64 => Val::F64(f64::from_bits(be(buf, 8)?)),
        Marker::FixStr(n) => string(buf, usize::from(n))?,
        Marker::Str8 => {
            let n = be(buf, 1)? as usize;
            string(buf, n)?
        }
        Marker::Str16 => {
            let n = be(buf, 2)? as usize;
            string(buf, n)?
        }
        Marker::Str32 => {
            let n = be(buf, 4)? as usize;
            string(buf, n)?
        }
        Marker::Bin8 => {
            let n = be(buf, 1)? as usize;
            Val::Bin(take(buf, n)?.to_vec())
        }
        Marker::Bin16 => {
            let n = be(buf, 2)? as usize;
            Val::Bin(take(buf, n)?.to_vec())
        }
        Marker::Bin32 => {
            let n = be(buf, 4)? as usize;
            Val::Bin(take(buf, n)?.to_vec())
        }
        Marker::FixArray(n) => array(buf, usize::from(n))?,
        Marker::Array16 => {
            let n = be(buf, 2)? as usize;
            array(buf, n)?
        }
        Marker::Array32 => {
            let n = be(buf, 4)? as usize;
            array(buf, n)?
        }
        Marker::FixMap(n) => map(buf, usize::from(n))?,
        Marker::Map16 => {
            let n = be(buf, 2)? as usize;
            map(buf, n)?
        }
        Marker::Map32 => {
            let n = be(buf, 4)? as usize;
            map(buf, n)?
        }
        // Extension types: notepack.io (Node's socket.io-msgpack-parser) writes JavaScript's
        // `undefined` as fixext 1 of type 0 (`d4 00 00`), e.g. for a packet's absent `id`.
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16 => {
            let n = match marker {
                Marker::FixExt1 => 1,
                Marker::FixExt2 => 2,
                Marker::FixExt4 => 4,
                Marker::FixExt8 => 8,
                _ => 16,
            };
            take(buf, 1 + n)?;
            Val::Nil
        }
        Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
            let n = match marker {
                Marker::Ext8 => be(buf, 1)?,
                Marker::Ext16 => be(buf, 2)?,
                _ => be(buf, 4)?,
            } as usize;
            take(buf, 1 + n)?;
            Val::Nil
        }
        Marker::Reserved => return Err("reserved msgpack marker 0xc1".into()),
    })
}

fn s(v: &str) -> Val {
    Val::Str(v.to_string())
}

/// Socket.IO packet types used by the scenario.
pub(crate) const CONNECT: i64 = 0;
pub(crate) const CONNECT_ERROR: i64 = 4;
pub(crate) const EVENT: i64 = 2;
pub(crate) const ACK: i64 = 3;

/// A Socket.IO packet on namespace `/` in `socket.io-msgpack-parser`'s encoding.
pub(crate) fn packet(kind: i64, id: Option<u64>, data: Option<Val>) -> Vec<u8> {
    let mut kv = vec![(s("type"), Val::Int(kind))];
    if let Some(data) = data {
        kv.push((s("data"), data));
    }
    kv.push((s("nsp"), s("/")));
    if let Some(id) = id {
        kv.push((s("id"), Val::UInt(id)));
    }
    let mut out = Vec::with_capacity(64);
    encode(&Val::Map(kv), &mut out);
    out
}

/// The `echo` event with ack `id`: `["echo", {"t": t, "p": "xxx..."}]`.
pub(crate) fn echo(id: u64, t: u64, padding: usize) -> Vec<u8> {
    let arg = Val::Map(vec![
        (s("t"), Val::UInt(t)),
        (s("p"), Val::Str("x".repeat(padding))),
    ]);
    packet(EVENT, Some(id), Some(Val::Array(vec![s("echo"), arg])))
}

/// What an incoming packet is to the echo client.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    Connect,
    ConnectError(String),
    /// An ack: its id and the `t` of its first argument, if it has one.
    Ack(u64, Option<u64>),
    Other,
}

/// Classifies one decoded msgpack packet (only namespace `/` matters to the scenario).
pub(crate) fn incoming(buf: &[u8]) -> Result<Incoming, String> {
    let v = decode(buf)?;
    let kind = v
        .get("type")
        .and_then(Val::as_u64)
        .ok_or("packet without type")?;
    if v.get("nsp").is_some_and(|n| *n != s("/")) {
        return Ok(Incoming::Other);
    }
    Ok(match kind as i64 {
        CONNECT => Incoming::Connect,
        CONNECT_ERROR => Incoming::ConnectError(format!("{:?}", v.get("data"))),
        ACK => {
            let id = v.get("id").and_then(Val::as_u64).ok_or("ack without id")?;
            let t = match v.get("data") {
                Some(Val::Array(args)) => {
                    args.first().and_then(|a| a.get("t")).and_then(Val::as_u64)
                }
                _ => None,
            };
            Incoming::Ack(id, t)
        }
        _ => Incoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_every_size_class() {
        let big = "y".repeat(70_000);
        let v = Val::Map(vec![
            (s("nil"), Val::Nil),
            (s("b"), Val::Array(vec![Val::Bool(true), Val::Bool(false)])),
            (
                s("ints"),
                Val::Array(
                    [
                        0,
                        127,
                        128,
                        255,
                        256,
                        65_535,
                        65_536,
                        -1,
                        -32,
                        -33,
                        -129,
                        -40_000,
                        i64::MIN,
                        i64::MAX,
                    ]
                    .into_iter()
                    .map(Val::Int)
                    .collect(),
                ),
            ),
            (s("u"), Val::UInt(u64::MAX)),
            (s("f"), Val::F64(1.5)),
            (s("short"), s("héllo")),
            (s("s16"), s(&big[..300])),
            (s("s32"), Val::Str(big.clone())),
            (s("bin"), Val::Bin(vec![0, 1, 2, 255])),
            (s("bin16"), Val::Bin(vec![7; 4096])),
            (s("arr16"), Val::Array(vec![Val::Nil; 20])),
        ]);
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(decode(&out), Ok(v));
    }

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        encode(
            &Val::Map(vec![(s("type"), Val::Int(0)), (s("nsp"), s("/"))]),
            &mut out,
        );
        // What socket.io-msgpack-parser (notepack.io) writes for `{type: 0, nsp: "/"}`.
        assert_eq!(out, b"\x82\xa4type\x00\xa3nsp\xa1/");
        assert_eq!(decode(b"\xcb\x3f\xf8\0\0\0\0\0\0"), Ok(Val::F64(1.5)));
        assert_eq!(decode(b"\xcf\0\0\0\0\0\0\x01\0"), Ok(Val::Int(256)));
        // notepack.io's `undefined` (fixext 1, type 0), as in Node's CONNECT answer.
        let connect = b"\x83\xa4type\x00\xa4data\x81\xa3sid\xa2ab\xa2id\xd4\x00\x00";
        assert_eq!(
            decode(connect).map(|v| v.get("id").cloned()),
            Ok(Some(Val::Nil))
        );
        assert_eq!(incoming(connect), Ok(Incoming::Connect));
        assert!(decode(b"\xd4\x00").is_err(), "truncated ext");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x92\x01",             // array of 2 with 1 element
            b"\xdd\xff\xff\xff\xff", // array32 of 4 billion
            b"\xa5abc",              // truncated string
            b"\xc1",                 // reserved
            b"\x01\x02",             // trailing byte
            b"\xa2\xff\xfe",         // not UTF-8
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep = [vec![0x91u8; 100], vec![0]].concat();
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn echo_and_its_ack_are_socket_io_packets() {
        let p = decode(&echo(7, 1_700_000_000_123_456, 3)).unwrap_or(Val::Nil);
        assert_eq!(p.get("type"), Some(&Val::Int(EVENT)));
        assert_eq!(p.get("id").and_then(Val::as_u64), Some(7));
        assert_eq!(p.get("nsp"), Some(&s("/")));
        let Some(Val::Array(data)) = p.get("data") else {
            panic!("no data array: {p:?}")
        };
        assert_eq!(data[0], s("echo"));
        assert_eq!(data[1].get("p"), Some(&s("xxx")));
        // The server's ack carries the argument back; integers may come back as float64 (Node).
        let ack = Val::Map(vec![
            (s("type"), Val::Int(ACK)),
            (s("nsp"), s("/")),
            (s("id"), Val::Int(7)),
            (
                s("data"),
                Val::Array(vec![Val::Map(vec![
                    (s("t"), Val::F64(1.7e15)),
                    (s("p"), s("xxx")),
                ])]),
            ),
        ]);
        let mut out = Vec::new();
        encode(&ack, &mut out);
        assert_eq!(
            incoming(&out),
            Ok(Incoming::Ack(7, Some(1_700_000_000_000_000)))
        );
        assert_eq!(
            incoming(&packet(CONNECT, None, None)),
            Ok(Incoming::Connect)
        );
        assert!(matches!(
            incoming(&packet(CONNECT_ERROR, None, Some(s("no")))),
            Ok(Incoming::ConnectError(_))
        ));
    }
}
