//! Event arguments as they travel: JSON values with binary attachments beside them, and
//! [`Arg`], one argument in which binary is bytes.

mod arg;
mod de;
mod ser;

pub use arg::Arg;
pub(crate) use de::decode_value;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sockgate_proto::engine::{Frame, SharedFrame};
use sockgate_proto::socketio::{
    encode_json_into, encode_msgpack, encode_raw_json_into, placeholder, Packet, Parser, RawArgs,
};
use std::sync::{Arc, OnceLock};

/// The arguments of an event or ack: JSON values in which binary data appears as
/// `{"_placeholder":true,"num":i}`, with `attachments[i]` holding the bytes.
///
/// Re-emitting a received `Payload` sends exactly what arrived, binary included. To work on one
/// argument with its binary, take [`Payload::arg`] (an [`Arg`], binary as bytes) or decode it
/// with [`Payload::decode_arg`] (a `Bytes` or `Vec<u8>` reads a binary argument); both send
/// on with their binary.
///
/// # Received arguments stay text until read
///
/// The arguments of an event or ack received with the JSON parser and without binary are kept
/// as the JSON text the client sent (checked when the packet arrived: a malformed packet never
/// reaches a handler). They are parsed into `Value`s only when something reads them
/// ([`args`](Payload::args), [`get`](Payload::get), [`arg`](Payload::arg)...), once;
/// [`decode_arg`](Payload::decode_arg) and [`Data<T>`](crate::extract::Data) deserialize
/// straight from the text. A payload sent on unread (`ack.send(payload)`, `socket.emit(..,
/// payload)`) is written by copying that text: the client's bytes, in its key order.
/// [`args_mut`](Payload::args_mut) parses them for good; what is sent is then the values.
#[derive(Clone, Default)]
pub struct Payload {
    /// The arguments, unless `raw` holds them.
    values: Vec<Value>,
    /// The received text of the arguments while they are that text. Boxed: a `Payload` is
    /// moved several times per message (handler, ack, packet), and 80 more bytes on every
    /// payload cost the binary and msgpack paths more (~330 instructions of `memcpy` per echo)
    /// than the one allocation costs the JSON path.
    raw: Option<Box<Raw>>,
    /// Binary attachments referenced by placeholders in the arguments.
    pub attachments: Vec<Bytes>,
}

/// Received arguments as text, and their values once read.
#[derive(Clone)]
struct Raw {
    args: RawArgs,
    parsed: OnceLock<Vec<Value>>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("args", &self.args())
            .field("attachments", &self.attachments)
            .finish()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.attachments == other.attachments && self.args() == other.args()
    }
}

/// Where a payload sent straight to one socket goes.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// An event of this name, no ack asked.
    Event(&'a str),
    /// The answer to ack id.
    Ack(u64),
}

impl Payload {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// These arguments and attachments (the placeholders in `args` index `attachments`).
    pub fn from_parts(args: Vec<Value>, attachments: Vec<Bytes>) -> Self {
        Payload {
            values: args,
            raw: None,
            attachments,
        }
    }

    /// Received arguments, kept as their JSON text.
    pub(crate) fn from_raw(raw: RawArgs) -> Self {
        Payload {
            values: Vec::new(),
            raw: Some(Box::new(Raw {
                args: raw,
                parsed: OnceLock::new(),
            })),
            attachments: Vec::new(),
        }
    }

    /// One serializable argument.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Payload::from_parts(
            vec![serde_json::to_value(value)?],
            Vec::new(),
        ))
    }

    /// Adds an argument: a JSON value, an [`Arg`] (its binary becomes attachments), bytes...
    pub fn with(mut self, arg: impl Into<Arg>) -> Self {
        let value = arg.into().into_parts(&mut self.attachments);
        self.args_mut().push(value);
        self
    }

    /// Several arguments, binary included (`Payload::from_args([payload.arg(1)?, ..])`).
    pub fn from_args(args: impl IntoIterator<Item = Arg>) -> Self {
        args.into_iter().fold(Payload::new(), Payload::with)
    }

    /// The arguments as JSON values, binary as placeholders (received ones are parsed on the
    /// first call).
    pub fn args(&self) -> &[Value] {
        match &self.raw {
            None => &self.values,
            Some(raw) => raw.parsed.get_or_init(|| parse(&raw.args)),
        }
    }

    /// The arguments, to change: from now on the payload sends these values (received text is
    /// parsed now and dropped).
    pub fn args_mut(&mut self) -> &mut Vec<Value> {
        if let Some(raw) = self.raw.take() {
            let Raw { args, parsed } = *raw;
            self.values = parsed.into_inner().unwrap_or_else(|| parse(&args));
        }
        &mut self.values
    }

    /// The arguments as JSON values, taken out.
    pub fn into_args(self) -> Vec<Value> {
        self.into_parts().0
    }

    /// The arguments and the attachments, taken out.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        let args = match self.raw {
            None => self.values,
            Some(raw) => {
                let Raw { args, parsed } = *raw;
                parsed.into_inner().unwrap_or_else(|| parse(&args))
            }
        };
        (args, self.attachments)
    }

    /// How many arguments (nothing is parsed).
    pub fn len(&self) -> usize {
        match &self.raw {
            None => self.values.len(),
            Some(raw) => raw.args.len(),
        }
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `index` as a JSON value (a binary one as its placeholder).
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.args().get(index)
    }

    /// Adds a JSON argument.
    pub fn push(&mut self, value: impl Into<Value>) {
        self.args_mut().push(value.into());
    }

    /// Whether the arguments are still the JSON text they arrived as (not changed through
    /// [`args_mut`](Payload::args_mut)): sending the payload then copies that text.
    pub fn is_raw(&self) -> bool {
        self.raw.is_some()
    }

    /// Argument `index` with its binary (as [`Arg::Binary`]), or `None` past the last one.
    pub fn arg(&self, index: usize) -> Option<Arg> {
        let value = self.args().get(index)?;
        Some(Arg::from_parts(value, &self.attachments))
    }

    /// Every argument with its binary.
    pub fn to_args(&self) -> Vec<Arg> {
        self.args()
            .iter()
            .map(|value| Arg::from_parts(value, &self.attachments))
            .collect()
    }

    /// Whether argument `index` is binary data itself (a `Buffer` on the client).
    pub fn is_binary(&self, index: usize) -> bool {
        if self.attachments.is_empty() {
            return false;
        }
        self.args()
            .get(index)
            .and_then(|value| de::binary_of(value, &self.attachments))
            .is_some()
    }

    /// Whether any argument is or contains binary data.
    pub fn has_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// The received text, when the arguments are still that text and carry no binary.
    fn raw_text(&self) -> Option<&RawArgs> {
        self.raw
            .as_ref()
            .filter(|_| self.attachments.is_empty())
            .map(|raw| &raw.args)
    }

    /// Argument `index` deserialized as `T` (a missing one reads as `null`). A binary argument
    /// reads as bytes: take it as `Bytes`, `Vec<u8>` or [`Arg`]; a type that cannot hold bytes
    /// (`serde_json::Value`) fails with "invalid type: byte array".
    pub fn decode_arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, serde_json::Error> {
        static NULL: Value = Value::Null;
        if let Some(raw) = self.raw_text() {
            // Straight from the text. Should `T` refuse it, the values decide, so that errors
            // (and the rare text a `Value` reads differently, duplicate keys) are as before.
            match raw.decode(index) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => return T::deserialize(&NULL),
                Err(_) => {}
            }
        }
        decode_value(self.args().get(index).unwrap_or(&NULL), &self.attachments)
    }

    /// Every argument deserialized as `T` (a tuple, a `Vec`...), binary as bytes.
    pub fn decode_args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        if let Some(Ok(value)) = self.raw_text().map(RawArgs::decode_all) {
            return Ok(value);
        }
        let args = Value::Array(self.args().to_vec());
        decode_value(&args, &self.attachments)
    }

    /// The body as NestJS passes it (nothing: `null`, one argument: it, several: an array),
    /// deserialized as `T`, binary as bytes.
    pub fn decode_body<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self.len() {
            0 => T::deserialize(&Value::Null),
            1 => self.decode_arg(0),
            _ => self.decode_args(),
        }
    }

    /// Adds a binary argument.
    pub fn binary(mut self, data: impl Into<Bytes>) -> Self {
        let placeholder = placeholder(self.attachments.len());
        self.args_mut().push(placeholder);
        self.attachments.push(data.into());
        self
    }

    /// Builds an EVENT packet named `event` in namespace `nsp`.
    pub(crate) fn into_event(self, nsp: &str, event: &str) -> Packet {
        let (values, attachments) = self.into_parts();
        let mut args = Vec::with_capacity(values.len() + 1);
        args.push(Value::String(event.to_owned()));
        args.extend(values);
        let mut packet = Packet::event(nsp, args);
        packet.attachments = attachments;
        packet
    }

    /// Builds an ACK packet.
    pub(crate) fn into_ack(self, nsp: &str, id: u64) -> Packet {
        let (values, attachments) = self.into_parts();
        let mut packet = Packet::ack(nsp, id, values);
        packet.attachments = attachments;
        packet
    }

    /// The frames of this payload sent as `to` in `nsp` by copying the received text, when
    /// it still is that text and the parser is JSON; `None` otherwise (the caller builds a
    /// packet).
    pub(crate) fn encode_raw(&self, parser: Parser, nsp: &str, to: Outgoing<'_>) -> Option<Frames> {
        let raw = self.raw_text().filter(|_| parser == Parser::Json)?;
        let (id, event) = match to {
            Outgoing::Event(event) => (None, Some(event)),
            Outgoing::Ack(id) => (Some(id), None),
        };
        let text = encode_text_with(|out| encode_raw_json_into(nsp, id, event, raw, out));
        Some(Frames {
            first: Arc::new(Frame::text_packet(text)),
            attachments: Vec::new(),
        })
    }
}

/// The values of checked text (which parses; an empty list should it ever not).
fn parse(raw: &RawArgs) -> Vec<Value> {
    raw.to_values().unwrap_or_default()
}

/// Converts a value into event arguments: tuples become several arguments, [`Payload`] is
/// taken as is, anything else serializable is one argument.
pub trait IntoPayload {
    /// The arguments.
    fn into_payload(self) -> Result<Payload, serde_json::Error>;
}

impl IntoPayload for Payload {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(self)
    }
}

impl<T: Serialize + ?Sized> IntoPayload for &T {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Payload::from_value(self)
    }
}

impl IntoPayload for String {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload::from_parts(vec![Value::String(self)], Vec::new()))
    }
}

impl IntoPayload for Value {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload::from_parts(vec![self], Vec::new()))
    }
}

impl IntoPayload for Bytes {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload::new().binary(self))
    }
}

/// One argument, its binary as attachments.
impl IntoPayload for Arg {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload::new().with(self))
    }
}

impl IntoPayload for () {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload::new())
    }
}

macro_rules! tuple_payload {
    ($($name:ident),+) => {
        impl<$($name: Serialize),+> IntoPayload for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_payload(self) -> Result<Payload, serde_json::Error> {
                let ($($name,)+) = self;
                Ok(Payload::from_parts(vec![$(serde_json::to_value($name)?),+], Vec::new()))
            }
        }
    };
}
tuple_payload!(A);
tuple_payload!(A, B);
tuple_payload!(A, B, C);
tuple_payload!(A, B, C, D);
tuple_payload!(A, B, C, D, E);

/// The frames of one encoded packet, in order: its text (or msgpack) frame, then one binary
/// frame per attachment. A packet without attachments, the common case, needs no list.
pub(crate) struct Frames {
    first: SharedFrame,
    attachments: Vec<SharedFrame>,
}

impl Frames {
    /// Every frame, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SharedFrame> + Clone {
        std::iter::once(&self.first).chain(self.attachments.iter())
    }
}

impl IntoIterator for Frames {
    type Item = SharedFrame;
    type IntoIter = std::iter::Chain<std::iter::Once<SharedFrame>, std::vec::IntoIter<SharedFrame>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.first).chain(self.attachments)
    }
}

/// Encoded texts up to this length are copied out of the thread's scratch buffer into an
/// allocation of their exact size; longer ones take the scratch buffer itself (no copy), so
/// the buffer a thread keeps stays small.
const SCRATCH_COPY_MAX: usize = 4096;

thread_local! {
    /// The buffer JSON packets are encoded into, one per thread: encoding into a fresh `Vec`
    /// grew it once or twice per packet, and `Bytes::from` a `Vec` with spare capacity costs
    /// one more allocation. The copy into an exact allocation is cheaper than both.
    static TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The Engine.IO text packet `4<Socket.IO packet>` of `packet`.
fn encode_text(packet: &Packet) -> Bytes {
    encode_text_with(|text| encode_json_into(packet, text))
}

/// The Engine.IO text packet `4<what write appends>`, written in the thread's scratch buffer.
fn encode_text_with(write: impl Fn(&mut Vec<u8>)) -> Bytes {
    let encode = |text: &mut Vec<u8>| {
        text.clear();
        text.push(b'4');
        write(text);
        if text.len() <= SCRATCH_COPY_MAX {
            Bytes::copy_from_slice(text)
        } else {
            Bytes::from(std::mem::take(text))
        }
    };
    TEXT.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut text) => encode(&mut text),
        // Not reentrant (serializing a `Value` runs no user code), but never panic over it.
        Err(_) => encode(&mut Vec::new()),
    })
}

/// Serializes a packet once into the Engine.IO frames every recipient shares.
pub(crate) fn encode_frames(parser: Parser, packet: &Packet) -> Frames {
    match parser {
        Parser::Json => Frames {
            first: Arc::new(Frame::text_packet(encode_text(packet))),
            attachments: packet
                .attachments
                .iter()
                .map(|a| Arc::new(Frame::binary(a.clone())))
                .collect(),
        },
        Parser::Msgpack => Frames {
            first: Arc::new(Frame::binary(encode_msgpack(packet))),
            attachments: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use sockgate_proto::socketio::{Decoded, EioMessage, JsonDecoder};

    /// The payload of a received text event, as the client dispatches it.
    fn received(text: &'static str) -> Payload {
        let message = EioMessage::Text(Bytes::from_static(text.as_bytes()));
        match JsonDecoder::new().feed_lazy(message) {
            Ok(Some(Decoded::Raw(raw))) => Payload::from_raw(raw.args),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn text_frame(text: &str) -> SharedFrame {
        Arc::new(Frame::text_packet(Bytes::copy_from_slice(text.as_bytes())))
    }

    fn sent_as(payload: &Payload, to: Outgoing<'_>) -> Option<SharedFrame> {
        let frames = payload.encode_raw(Parser::Json, "/", to)?;
        let mut frames: Vec<SharedFrame> = frames.into_iter().collect();
        assert_eq!(frames.len(), 1);
        frames.pop()
    }

    #[test]
    fn received_arguments_are_parsed_only_when_read() {
        let payload = received(r#"2["e",{"b":1,"a":[1,2]},"x"]"#);
        assert!(payload.is_raw());
        assert_eq!(payload.len(), 2);
        assert!(
            payload.raw.as_ref().unwrap().parsed.get().is_none(),
            "len() parses nothing"
        );
        assert_eq!(payload.get(1), Some(&json!("x")));
        assert!(payload.raw.as_ref().unwrap().parsed.get().is_some());
        assert_eq!(payload.args(), [json!({"b":1,"a":[1,2]}), json!("x")]);
        // Still the text: reading changes nothing that is sent.
        assert!(payload.is_raw());
        assert_eq!(
            payload,
            Payload::from_parts(vec![json!({"b":1,"a":[1,2]}), json!("x")], Vec::new())
        );
        assert_eq!(payload.clone().into_args().len(), 2);
    }

    #[test]
    fn a_payload_passed_through_is_the_clients_text() {
        // Key order, spacing and number spelling as the client wrote them.
        let payload = received(r#"2["echo", {"t":1e3,"p":"x\u0078", "a":[ 1 ]} ,2.50]"#);
        assert_eq!(
            sent_as(&payload, Outgoing::Ack(7)),
            Some(text_frame(
                r#"437[ {"t":1e3,"p":"x\u0078", "a":[ 1 ]} ,2.50]"#
            ))
        );
        assert_eq!(
            sent_as(&payload, Outgoing::Event("back")),
            Some(text_frame(
                r#"42["back", {"t":1e3,"p":"x\u0078", "a":[ 1 ]} ,2.50]"#
            ))
        );
        // Read first: still the text that is sent.
        let _ = payload.args();
        assert!(sent_as(&payload, Outgoing::Ack(1)).is_some());
        // The same arguments as values encode to the same JSON values.
        let frames = encode_frames(Parser::Json, &payload.clone().into_ack("/", 7));
        let first = frames.into_iter().next().unwrap();
        assert_eq!(
            first,
            text_frame(r#"437[{"t":1000.0,"p":"xx","a":[1]},2.5]"#)
        );
        // No arguments.
        let empty = received(r#"2["e"]"#);
        assert_eq!(sent_as(&empty, Outgoing::Ack(3)), Some(text_frame("433[]")));
    }

    #[test]
    fn changed_arguments_are_sent_as_changed() {
        let mut payload = received(r#"2["e",{"b":1,"a":2}]"#);
        let _ = payload.args();
        payload.args_mut()[0]["c"] = json!(3);
        payload.push("more");
        assert!(!payload.is_raw());
        assert!(sent_as(&payload, Outgoing::Ack(1)).is_none());
        let packet = payload.into_ack("/", 1);
        assert_eq!(packet.data, Some(json!([{"b":1,"a":2,"c":3}, "more"])));
        // Without a read first, too; and `with` adds to the parsed arguments.
        let payload = received(r#"2["e",1]"#).with(json!(2));
        assert_eq!(payload.args(), [json!(1), json!(2)]);
        assert!(!payload.is_raw());
    }

    #[test]
    fn data_is_deserialized_from_the_text() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Msg {
            t: u64,
            p: String,
        }
        let payload = received(r#"2["e",{"t":5,"p":"x"},[1,2]]"#);
        let msg: Msg = payload.decode_arg(0).unwrap();
        assert_eq!(
            msg,
            Msg {
                t: 5,
                p: "x".into()
            }
        );
        assert!(
            payload.raw.as_ref().unwrap().parsed.get().is_none(),
            "no Value was built"
        );
        let missing: Option<Msg> = payload.decode_arg(5).unwrap();
        assert_eq!(missing, None);
        let (first, second): (Msg, Vec<u8>) = payload.decode_args().unwrap();
        assert_eq!((first.t, second), (5, vec![1, 2]));
        assert!(payload.raw.as_ref().unwrap().parsed.get().is_none());
        // Refusals are the `Value` path's, word for word.
        let values = Payload::from_parts(payload.args().to_vec(), Vec::new());
        let raw_error = payload.decode_arg::<String>(0).unwrap_err().to_string();
        let value_error = values.decode_arg::<String>(0).unwrap_err().to_string();
        assert_eq!(raw_error, value_error);
        let raw_error = payload.decode_args::<(Msg,)>().unwrap_err().to_string();
        let value_error = values.decode_args::<(Msg,)>().unwrap_err().to_string();
        assert_eq!(raw_error, value_error);
        // Duplicate keys read as a `Value` reads them (the last one wins).
        let dup = received(r#"2["e",{"t":1,"p":"a","t":2}]"#);
        assert_eq!(dup.decode_arg::<Msg>(0).unwrap().t, 2);
        let body: Msg = received(r#"2["e",{"t":1,"p":"a"}]"#).decode_body().unwrap();
        assert_eq!(body.t, 1);
    }

    #[test]
    fn binary_and_msgpack_go_the_value_path() {
        let mut payload = received(r#"2["e",{"_placeholder":true,"num":0}]"#);
        payload.attachments.push(Bytes::from_static(b"\x01"));
        assert!(sent_as(&payload, Outgoing::Ack(1)).is_none());
        assert!(payload.is_binary(0));
        let plain = received(r#"2["e",1]"#);
        assert!(plain
            .encode_raw(Parser::Msgpack, "/", Outgoing::Ack(1))
            .is_none());
        let built = Payload::new().with(json!(1));
        assert!(sent_as(&built, Outgoing::Ack(1)).is_none());
        assert!(!built.is_raw());
    }
}
