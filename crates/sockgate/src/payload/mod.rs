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
use sockgate_proto::socketio::{encode_json_into, encode_msgpack, placeholder, Packet, Parser};
use std::sync::Arc;

/// The arguments of an event or ack: JSON values in which binary data appears as
/// `{"_placeholder":true,"num":i}`, with `attachments[i]` holding the bytes.
///
/// Re-emitting a received `Payload` sends exactly what arrived, binary included. To work on one
/// argument with its binary, take [`Payload::arg`] (an [`Arg`], binary as bytes) or decode it
/// with [`Payload::decode_arg`] (a `Bytes` or `Vec<u8>` reads a binary argument); both send
/// on with their binary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The arguments.
    pub args: Vec<Value>,
    /// Binary attachments referenced by placeholders in `args`.
    pub attachments: Vec<Bytes>,
}

impl Payload {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// One serializable argument.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Payload {
            args: vec![serde_json::to_value(value)?],
            attachments: Vec::new(),
        })
    }

    /// Adds an argument: a JSON value, an [`Arg`] (its binary becomes attachments), bytes...
    pub fn with(mut self, arg: impl Into<Arg>) -> Self {
        let value = arg.into().into_parts(&mut self.attachments);
        self.args.push(value);
        self
    }

    /// Several arguments, binary included (`Payload::from_args([payload.arg(1)?, ..])`).
    pub fn from_args(args: impl IntoIterator<Item = Arg>) -> Self {
        args.into_iter().fold(Payload::new(), Payload::with)
    }

    /// Argument `index` with its binary (as [`Arg::Binary`]), or `None` past the last one.
    pub fn arg(&self, index: usize) -> Option<Arg> {
        let value = self.args.get(index)?;
        Some(Arg::from_parts(value, &self.attachments))
    }

    /// Every argument with its binary.
    pub fn to_args(&self) -> Vec<Arg> {
        self.args
            .iter()
            .map(|value| Arg::from_parts(value, &self.attachments))
            .collect()
    }

    /// Whether argument `index` is binary data itself (a `Buffer` on the client).
    pub fn is_binary(&self, index: usize) -> bool {
        self.args
            .get(index)
            .and_then(|value| de::binary_of(value, &self.attachments))
            .is_some()
    }

    /// Whether any argument is or contains binary data.
    pub fn has_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// Argument `index` deserialized as `T` (a missing one reads as `null`). A binary argument
    /// reads as bytes: take it as `Bytes`, `Vec<u8>` or [`Arg`]; a type that cannot hold bytes
    /// (`serde_json::Value`) fails with "invalid type: byte array".
    pub fn decode_arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, serde_json::Error> {
        static NULL: Value = Value::Null;
        decode_value(self.args.get(index).unwrap_or(&NULL), &self.attachments)
    }

    /// Every argument deserialized as `T` (a tuple, a `Vec`...), binary as bytes.
    pub fn decode_args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let args = Value::Array(self.args.clone());
        decode_value(&args, &self.attachments)
    }

    /// The body as NestJS passes it (nothing: `null`, one argument: it, several: an array),
    /// deserialized as `T`, binary as bytes.
    pub fn decode_body<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self.args.as_slice() {
            [] => T::deserialize(&Value::Null),
            [one] => decode_value(one, &self.attachments),
            _ => self.decode_args(),
        }
    }

    /// Adds a binary argument.
    pub fn binary(mut self, data: impl Into<Bytes>) -> Self {
        self.args.push(placeholder(self.attachments.len()));
        self.attachments.push(data.into());
        self
    }

    /// Builds an EVENT packet named `event` in namespace `nsp`.
    pub(crate) fn into_event(self, nsp: &str, event: &str) -> Packet {
        let mut args = Vec::with_capacity(self.args.len() + 1);
        args.push(Value::String(event.to_owned()));
        args.extend(self.args);
        let mut packet = Packet::event(nsp, args);
        packet.attachments = self.attachments;
        packet
    }

    /// Builds an ACK packet.
    pub(crate) fn into_ack(self, nsp: &str, id: u64) -> Packet {
        let mut packet = Packet::ack(nsp, id, self.args);
        packet.attachments = self.attachments;
        packet
    }
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
        Ok(Payload {
            args: vec![Value::String(self)],
            attachments: Vec::new(),
        })
    }
}

impl IntoPayload for Value {
    fn into_payload(self) -> Result<Payload, serde_json::Error> {
        Ok(Payload {
            args: vec![self],
            attachments: Vec::new(),
        })
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
                Ok(Payload { args: vec![$(serde_json::to_value($name)?),+], attachments: Vec::new() })
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
    let encode = |text: &mut Vec<u8>| {
        text.clear();
        text.push(b'4');
        encode_json_into(packet, text);
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
