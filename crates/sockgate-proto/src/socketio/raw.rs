//! Event and ack arguments kept as the JSON text they arrived in.
//!
//! Most handlers pass their arguments on (`ack.send(payload)`) or read one of them into their
//! own type. Building a `serde_json::Value` tree for that (an allocation per array, object, key
//! and string) and dropping it again was ~40 % of an echo round trip. [`Decoder::feed_lazy`]
//! therefore keeps a text EVENT or ACK without attachments as [`RawArgs`]: ranges into the
//! message's own `Bytes` (no copy), after checking the whole payload exactly as the `Value`
//! path does (serde_json's parser runs over every value, it just builds nothing). Anything
//! else, and any payload the check does not accept, goes the `Value` path, so errors are the
//! same errors.
//!
//! [`Decoder::feed_lazy`]: super::Decoder::feed_lazy

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::Value;

use super::json::{check_shape, encode_header_into, Header};
use super::packet::{is_reserved_event, Packet, PacketType};

/// The arguments of a received event or ack, as the client's JSON text.
///
/// Holds the packet's data array (`[` to `]`, a slice of the received message, not a copy)
/// and where the arguments lie in it. The text was checked when the packet was decoded: it
/// parses into `Value`s exactly as the `Value` path would have parsed it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawArgs {
    /// The whole data array of the packet, as received.
    array: Bytes,
    /// The arguments' text in `array`: after the event name's comma (events) or after the `[`
    /// (acks), up to the closing `]`.
    start: usize,
    end: usize,
    /// How many arguments.
    len: usize,
    /// Elements of `array` before the first argument: 1 (the event name) or 0 (acks).
    skip: usize,
}

impl fmt::Debug for RawArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArgs")
            .field("len", &self.len)
            .field("text", &String::from_utf8_lossy(self.text()))
            .finish()
    }
}

impl RawArgs {
    /// How many arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The arguments' JSON text, comma-separated, as the client wrote it (empty without
    /// arguments; may hold the client's whitespace).
    pub fn text(&self) -> &[u8] {
        self.array.get(self.start..self.end).unwrap_or_default()
    }

    /// Parses the arguments into `Value`s.
    ///
    /// # Errors
    ///
    /// None in practice: the text was checked at decode time.
    pub fn to_values(&self) -> Result<Vec<Value>, serde_json::Error> {
        let mut values: Vec<Value> = serde_json::from_slice(&self.array)?;
        values.drain(..self.skip.min(values.len()));
        Ok(values)
    }

    /// Argument `index` deserialized as `T` straight from the text (no `Value` in between);
    /// `Ok(None)` past the last argument.
    ///
    /// # Errors
    ///
    /// `T`'s deserialization error.
    pub fn decode<T: DeserializeOwned>(
        &self,
        index: usize,
    ) -> Result<Option<T>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(&self.array);
        let value = Nth::<T> {
            skip: self.skip.saturating_add(index),
            kind: PhantomData,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    /// Every argument deserialized as one sequence `T` (a tuple, a `Vec`...) straight from
    /// the text.
    ///
    /// # Errors
    ///
    /// `T`'s deserialization error (also when `T` takes fewer elements than there are).
    pub fn decode_all<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(&self.array);
        let value = Tail::<T> {
            skip: self.skip,
            kind: PhantomData,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

/// A text EVENT or ACK without attachments, its arguments kept as text (see [`RawArgs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawPacket {
    /// [`PacketType::Event`] or [`PacketType::Ack`].
    pub kind: PacketType,
    /// The namespace (`/` is the main namespace, borrowed, not allocated).
    pub nsp: Cow<'static, str>,
    /// The ack id.
    pub id: Option<u64>,
    /// The event name (events only).
    pub event: Option<String>,
    /// The arguments, after the event name.
    pub args: RawArgs,
}

impl RawPacket {
    /// The same packet with its data parsed into a `Value` array, as [`super::Decoder::feed`]
    /// returns it.
    pub fn to_packet(&self) -> Packet {
        let mut data = Vec::with_capacity(self.args.len() + 1);
        if let Some(event) = &self.event {
            data.push(Value::String(event.clone()));
        }
        data.extend(self.args.to_values().unwrap_or_default());
        Packet {
            kind: self.kind,
            nsp: self.nsp.clone().into_owned(),
            id: self.id,
            data: Some(Value::Array(data)),
            attachments: Vec::new(),
        }
    }
}

/// A packet from [`super::Decoder::feed_lazy`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Any packet, its data parsed into `Value`s.
    Packet(Packet),
    /// A text event or ack without binary, its arguments kept as text.
    Raw(RawPacket),
}

impl Decoded {
    /// The packet as [`super::Decoder::feed`] returns it (a raw one is parsed now).
    pub fn into_packet(self) -> Packet {
        match self {
            Self::Packet(packet) => packet,
            Self::Raw(raw) => raw.to_packet(),
        }
    }
}

/// Appends the text of an EVENT named `event` (`Some`) or an ACK (`None`) whose arguments are
/// `args`' text, copied as is: `2["event",<args>]` / `3<id>[<args>]` with namespace and id
/// as [`super::encode_json_into`] writes them.
pub fn encode_raw_json_into(
    nsp: &str,
    id: Option<u64>,
    event: Option<&str>,
    args: &RawArgs,
    out: &mut Vec<u8>,
) {
    let wire = match event {
        Some(_) => PacketType::Event,
        None => PacketType::Ack,
    };
    encode_header_into(wire, 0, nsp, id, out);
    out.push(b'[');
    if let Some(event) = event {
        serde_json::to_writer(&mut *out, event).expect("serializing a str into a Vec cannot fail");
        if !args.is_empty() {
            out.push(b',');
        }
    }
    if !args.is_empty() {
        out.extend_from_slice(args.text());
    }
    out.push(b']');
}

/// The raw form of the text packet `s` (the whole message `text`) whose header is `header`,
/// or `Ok(None)` when it must go the `Value` path: not a plain event or ack, a numeric event
/// name, or anything the check refuses (the `Value` path then reports the error as before).
pub(crate) fn decode_raw(
    text: &Bytes,
    s: &str,
    header: &Header<'_>,
    max_decoded: usize,
) -> Result<Option<RawPacket>, ParseError> {
    let is_event = match header.wire {
        PacketType::Event => true,
        PacketType::Ack => false,
        _ => return Ok(None),
    };
    let Some(payload) = s.get(header.payload..).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    // The same limits, checked first, as the `Value` path does.
    check_shape(payload.as_bytes(), max_decoded)?;
    let mut de = serde_json::Deserializer::from_str(payload);
    let checked = Top { is_event }.deserialize(&mut de).and_then(|top| {
        de.end()?;
        Ok(top)
    });
    let Ok((event, len)) = checked else {
        return Ok(None);
    };
    if event.as_deref().is_some_and(is_reserved_event) {
        return Ok(None);
    }
    let Some((open, close, start)) = extents(payload.as_bytes(), is_event) else {
        return Ok(None);
    };
    let base = header.payload;
    Ok(Some(RawPacket {
        kind: header.wire,
        nsp: match header.nsp {
            "/" => Cow::Borrowed("/"),
            nsp => Cow::Owned(nsp.to_owned()),
        },
        id: header.id,
        event: event.map(Cow::into_owned),
        args: RawArgs {
            array: text.slice(base + open..base + close + 1),
            start: start - open,
            end: close - open,
            len,
            skip: usize::from(is_event),
        },
    }))
}

use super::error::ParseError;

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// In a checked payload `[ "name" , args ]` (or `[ args ]`): the offsets of `[`, of the closing
/// `]`, and where the arguments start (`]`'s offset when there are none).
fn extents(b: &[u8], is_event: bool) -> Option<(usize, usize, usize)> {
    let open = b.iter().position(|&c| !is_ws(c))?;
    let close = b.iter().rposition(|&c| !is_ws(c))?;
    if b.get(open) != Some(&b'[') || b.get(close) != Some(&b']') || close <= open {
        return None;
    }
    if !is_event {
        return Some((open, close, open + 1));
    }
    let mut i = open + 1;
    while is_ws(*b.get(i)?) {
        i += 1;
    }
    if b.get(i) != Some(&b'"') {
        return None;
    }
    // The name's closing quote: the first `"` not escaped (an escape is `\` and one more byte;
    // `\uXXXX`'s digits hold no quote).
    i += 1;
    loop {
        match *b.get(i)? {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    i += 1;
    while is_ws(*b.get(i)?) {
        i += 1;
    }
    match b.get(i)? {
        b',' => Some((open, close, i + 1)),
        b']' if i == close => Some((open, close, close)),
        _ => None,
    }
}

/// The data array: for events, the name (a string) and the count of what follows; for acks,
/// the count. Every element is checked.
struct Top {
    is_event: bool,
}

impl<'de> DeserializeSeed<'de> for Top {
    type Value = (Option<Cow<'de, str>>, usize);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = (Option<Cow<'de, str>>, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let name = match self.is_event {
            true => match seq.next_element::<Name<'de>>()? {
                Some(Name(name)) => Some(name),
                None => return Err(de::Error::custom("an event without a name")),
            },
            false => None,
        };
        let mut len = 0;
        while seq.next_element::<Check>()?.is_some() {
            len += 1;
        }
        Ok((name, len))
    }
}

/// An event name: a string only (a number goes the `Value` path).
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        d.deserialize_any(NameVisitor)
    }
}

/// Any JSON value, read by serde_json's parser as a `Value` would be (numbers in range,
/// strings with valid escapes) but kept nowhere. `IgnoredAny` would not do: serde_json skips
/// it with a laxer scan.
struct Check;

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_str<E>(self, _: &str) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_unit<E>(self) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_none<E>(self) -> Result<Check, E> {
        Ok(Check)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Check, A::Error> {
        while seq.next_element::<Check>()?.is_some() {}
        Ok(Check)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        while map.next_key::<Check>()?.is_some() {
            map.next_value::<Check>()?;
        }
        Ok(Check)
    }
}

/// Element `skip` of an array as `T` (`None` past its end), the others skipped.
struct Nth<T> {
    skip: usize,
    kind: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Nth<T> {
    type Value = Option<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Nth<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        for _ in 0..self.skip {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(None);
            }
        }
        let value = seq.next_element::<T>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(value)
    }
}

/// An array without its first `skip` elements, as `T`.
struct Tail<T> {
    skip: usize,
    kind: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Tail<T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Tail<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        for _ in 0..self.skip {
            seq.next_element::<IgnoredAny>()?;
        }
        T::deserialize(de::value::SeqAccessDeserializer::new(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::{EioMessage, JsonDecoder};

    fn both(
        text: &str,
    ) -> (
        Result<Option<Packet>, ParseError>,
        Result<Option<Decoded>, ParseError>,
    ) {
        let msg = || EioMessage::Text(Bytes::copy_from_slice(text.as_bytes()));
        let limit = 1 << 16;
        let strict = JsonDecoder::new().with_max_decoded_bytes(limit).feed(msg());
        let lazy = JsonDecoder::new()
            .with_max_decoded_bytes(limit)
            .feed_lazy(msg());
        (strict, lazy)
    }

    /// Every text decodes lazily to what `feed` returns, or fails with the same error.
    #[test]
    fn the_lazy_decode_accepts_and_refuses_what_feed_does() {
        let texts = [
            r#"2["echo",{"t":1,"p":"xx"}]"#,
            r#"2["echo"]"#,
            r#"2[ "echo" , 1 , [2,{"a":[null,true]}] ]  "#,
            r#"2/chat,7["e\"v\u0065nt",1.5,-3,"\u00e9\ud83d\ude00"]"#,
            r#"3[]"#,
            r#"312[ ]"#,
            r#"3/admin,4[1,"two",{"3":4}]"#,
            r#"2[]"#,
            r#"2[1,2]"#,
            r#"2["connect"]"#,
            r#"2["newListener",1]"#,
            r#"2["a",1e400]"#,
            r#"2["a","\ud800"]"#,
            r#"2["a","\x"]"#,
            r#"2["a",]"#,
            r#"2["a" 1]"#,
            r#"2["a"],"#,
            r#"2["a"]x"#,
            r#"2{"a":1}"#,
            r#"2"a""#,
            r#"3{}"#,
            r#"3"#,
            r#"2["a",{"k":1,"k":2}]"#,
            r#"2[{"a":1}]"#,
            r#"2[["a"]]"#,
            r#"2[null]"#,
            "2[\"a\",\"\u{1}\"]",
            r#"2["a",01]"#,
            r#"2["a",18446744073709551616]"#,
            r#"2["a",-9223372036854775809]"#,
            r#"2["a",{"x":[[[[[[1]]]]]]}]"#,
        ];
        for text in texts {
            let (strict, lazy) = both(text);
            let lazy = lazy.map(|d| d.map(Decoded::into_packet));
            assert_eq!(strict, lazy, "{text}");
        }
        let deep = format!("2[\"a\",{}{}]", "[".repeat(70), "]".repeat(70));
        let (strict, lazy) = both(&deep);
        assert!(strict.is_err());
        assert_eq!(strict, lazy.map(|d| d.map(Decoded::into_packet)));
    }

    fn raw(text: &str) -> RawPacket {
        match both(text).1 {
            Ok(Some(Decoded::Raw(raw))) => raw,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn plain_events_and_acks_stay_text_binary_and_numeric_names_do_not() {
        let event = raw(r#"2/chat,7["echo",{"t":1},[2]]"#);
        assert_eq!(event.event.as_deref(), Some("echo"));
        assert_eq!((event.nsp.as_ref(), event.id), ("/chat", Some(7)));
        assert_eq!(event.args.len(), 2);
        assert_eq!(event.args.text(), br#"{"t":1},[2]"#);
        let ack = raw(r#"35[1,"x"]"#);
        assert_eq!(
            (ack.kind, ack.id, ack.event),
            (PacketType::Ack, Some(5), None)
        );
        assert!(matches!(ack.nsp, Cow::Borrowed("/")));
        assert_eq!(ack.args.text(), br#"1,"x""#);
        assert!(raw(r#"2["e"]"#).args.is_empty());
        for text in [r#"2[1,2]"#, r#"0{"a":1}"#, r#"1"#] {
            assert!(
                matches!(both(text).1, Ok(Some(Decoded::Packet(_)))),
                "{text}"
            );
        }
        // A binary event waits for its attachment, then comes as a packet.
        let mut decoder = JsonDecoder::new();
        let head = r#"51-["up",{"_placeholder":true,"num":0}]"#;
        let text = EioMessage::Text(Bytes::from_static(head.as_bytes()));
        assert_eq!(decoder.feed_lazy(text), Ok(None));
        let bin = EioMessage::Binary(Bytes::from_static(b"\x01\x02"));
        assert!(
            matches!(decoder.feed_lazy(bin), Ok(Some(Decoded::Packet(p))) if p.attachments.len() == 1)
        );
    }

    #[test]
    fn arguments_decode_from_the_text() {
        let event = raw(r#"2["e", {"a":[1,2]} ,"s",3]"#);
        assert_eq!(
            event.args.to_values().unwrap(),
            vec![serde_json::json!({"a":[1,2]}), "s".into(), 3.into()]
        );
        assert_eq!(
            event.args.decode::<String>(1).unwrap().as_deref(),
            Some("s")
        );
        assert_eq!(event.args.decode::<u8>(2).unwrap(), Some(3));
        assert_eq!(event.args.decode::<u8>(3).unwrap(), None);
        assert!(event.args.decode::<u8>(0).is_err());
        let all: (Value, String, u8) = event.args.decode_all().unwrap();
        assert_eq!(all.2, 3);
        assert!(event.args.decode_all::<(Value, String)>().is_err());
        let ack = raw(r#"31[true]"#);
        assert_eq!(ack.args.decode::<bool>(0).unwrap(), Some(true));
        assert_eq!(ack.args.decode_all::<Vec<bool>>().unwrap(), vec![true]);
    }

    #[test]
    fn raw_arguments_are_written_back_as_received() {
        let event = raw(r#"2/x,3["in", {"b":2,"a":[1, 2.50]} ,"\u00e9"]"#);
        let mut out = Vec::new();
        encode_raw_json_into("/x", Some(9), None, &event.args, &mut out);
        assert_eq!(out, br#"3/x,9[ {"b":2,"a":[1, 2.50]} ,"\u00e9"]"#);
        out.clear();
        encode_raw_json_into("/", None, Some("out\""), &event.args, &mut out);
        assert_eq!(out, br#"2["out\"", {"b":2,"a":[1, 2.50]} ,"\u00e9"]"#);
        let empty = raw(r#"2["e"]"#);
        out.clear();
        encode_raw_json_into("/", Some(1), None, &empty.args, &mut out);
        assert_eq!(out, b"31[]");
        out.clear();
        encode_raw_json_into("/", None, Some("e"), &empty.args, &mut out);
        assert_eq!(out, br#"2["e"]"#);
    }
}
