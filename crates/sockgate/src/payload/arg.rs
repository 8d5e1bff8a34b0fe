//! [`Arg`]: one argument as a value in which binary is bytes.
//!
//! Long for a reason: 280 lines of code, the rest its unit tests.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use sockgate_proto::socketio::placeholder;

use super::de::binary_of;

/// One argument of an event or ack, binary included: a JSON-like value in which what the
/// client sent as a `Buffer` (or `ArrayBuffer`, `Blob`...) is [`Arg::Binary`], not a
/// `{"_placeholder":true,"num":n}` object.
///
/// Take one with [`super::Payload::arg`] (or the extractor `Data<Arg>`), test it with
/// [`Arg::is_binary`] / [`Arg::has_binary`], read its bytes with [`Arg::as_bytes`], and send it
/// on as it is (binary included) with [`crate::AckSender::send`], [`crate::Socket::emit`] or
/// [`super::Payload::with`]:
///
/// ```
/// use sockgate::{extract::{AckSender, Payload}, SocketRef};
///
/// // Forwards the client's first argument (a Buffer, or an object holding Buffers) to the
/// // room in the second one, and answers the ack with it: the bytes go out as binary.
/// fn forward(socket: SocketRef, payload: Payload, ack: AckSender) -> sockgate::handler::HandlerResult {
///     let file = payload.arg(0).ok_or("no file")?;
///     let room: String = payload.decode_arg(1)?;
///     if !file.has_binary() {
///         return Err("the file must be binary".into());
///     }
///     socket.to(room).emit("file", file.clone())?;
///     ack.send(file)?;
///     Ok(())
/// }
/// # let _ = forward;
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Arg {
    /// `null`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// Binary data (a `Buffer` on the client).
    Binary(Bytes),
    /// An array.
    Array(Vec<Arg>),
    /// An object, its keys in order.
    Object(Vec<(String, Arg)>),
}

impl Arg {
    /// The argument `value`, whose placeholders index `attachments`, with binary as bytes.
    /// A placeholder that points past the attachments stays an object.
    pub fn from_parts(value: &Value, attachments: &[Bytes]) -> Arg {
        if let Some(bytes) = binary_of(value, attachments) {
            return Arg::Binary(bytes.clone());
        }
        match value {
            Value::Null => Arg::Null,
            Value::Bool(b) => Arg::Bool(*b),
            Value::Number(n) => Arg::Number(n.clone()),
            Value::String(s) => Arg::String(s.clone()),
            Value::Array(items) => Arg::Array(
                items
                    .iter()
                    .map(|item| Arg::from_parts(item, attachments))
                    .collect(),
            ),
            Value::Object(map) => Arg::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Arg::from_parts(v, attachments)))
                    .collect(),
            ),
        }
    }

    /// Serializes `value`, writing what it serializes as bytes (`bytes::Bytes`,
    /// `serde_bytes`) as [`Arg::Binary`], so that it goes out as binary; everything else as
    /// `serde_json::to_value` writes it. (A plain `emit(&value)` writes bytes as an array of
    /// numbers, as JSON does.)
    ///
    /// ```
    /// use sockgate::Arg;
    ///
    /// #[derive(serde::Serialize)]
    /// struct File {
    ///     name: String,
    ///     data: bytes::Bytes,
    /// }
    ///
    /// let file = File { name: "a.bin".into(), data: bytes::Bytes::from_static(b"\x01\x02") };
    /// let arg = Arg::from_serialize(&file).unwrap();
    /// assert!(arg.get("data").is_some_and(Arg::is_binary));
    /// // socket.emit("file", arg) sends `data` as a binary attachment.
    /// ```
    pub fn from_serialize<T: serde::Serialize + ?Sized>(
        value: &T,
    ) -> Result<Arg, serde_json::Error> {
        value.serialize(super::ser::ArgSerializer)
    }

    /// Whether this argument is binary data itself.
    pub fn is_binary(&self) -> bool {
        matches!(self, Arg::Binary(_))
    }

    /// Whether this argument is or contains binary data.
    pub fn has_binary(&self) -> bool {
        match self {
            Arg::Binary(_) => true,
            Arg::Array(items) => items.iter().any(Arg::has_binary),
            Arg::Object(entries) => entries.iter().any(|(_, v)| v.has_binary()),
            _ => false,
        }
    }

    /// The bytes, when this argument is binary.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Arg::Binary(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The value of `key`, when this argument is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Arg> {
        match self {
            Arg::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The JSON form with each binary replaced by a placeholder numbered from
    /// `attachments.len()`, its bytes pushed onto `attachments` (what goes on the wire).
    pub fn into_parts(self, attachments: &mut Vec<Bytes>) -> Value {
        match self {
            Arg::Null => Value::Null,
            Arg::Bool(b) => Value::Bool(b),
            Arg::Number(n) => Value::Number(n),
            Arg::String(s) => Value::String(s),
            Arg::Binary(bytes) => {
                let value = placeholder(attachments.len());
                attachments.push(bytes);
                value
            }
            Arg::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| item.into_parts(attachments))
                    .collect(),
            ),
            Arg::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_parts(attachments)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

impl From<Value> for Arg {
    /// A JSON value (a placeholder object in it is kept as an object).
    fn from(value: Value) -> Self {
        Arg::from_parts(&value, &[])
    }
}

impl From<Bytes> for Arg {
    fn from(bytes: Bytes) -> Self {
        Arg::Binary(bytes)
    }
}

impl From<Vec<u8>> for Arg {
    fn from(bytes: Vec<u8>) -> Self {
        Arg::Binary(Bytes::from(bytes))
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::String(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::String(s)
    }
}

impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}

macro_rules! arg_from_number {
    ($($ty:ty),*) => {
        $(impl From<$ty> for Arg {
            fn from(n: $ty) -> Self {
                Arg::Number(Number::from(n))
            }
        })*
    };
}
arg_from_number!(i32, i64, u32, u64, usize);

/// Reads any value, bytes as [`Arg::Binary`] (the extractor `Data<Arg>`, an ack decoded as
/// `Arg`).
impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ArgVisitor)
    }
}

struct ArgVisitor;

impl<'de> Visitor<'de> for ArgVisitor {
    type Value = Arg;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E>(self) -> Result<Arg, E> {
        Ok(Arg::Null)
    }
    fn visit_none<E>(self) -> Result<Arg, E> {
        Ok(Arg::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Arg, D::Error> {
        Arg::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Arg, E> {
        Ok(Arg::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Arg, E> {
        Ok(Arg::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Arg, E> {
        Ok(Arg::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Arg, E> {
        Number::from_f64(n)
            .map(Arg::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Arg, E> {
        Ok(Arg::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Arg, E> {
        Ok(Arg::String(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<Arg, E> {
        Ok(Arg::Binary(Bytes::copy_from_slice(b)))
    }
    fn visit_byte_buf<E>(self, b: Vec<u8>) -> Result<Arg, E> {
        Ok(Arg::Binary(Bytes::from(b)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arg, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Arg::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arg, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((key, value)) = map.next_entry::<String, Arg>()? {
            entries.push((key, value));
        }
        Ok(Arg::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;
    use serde_json::json;

    /// `["text", {name, file: <1>, parts: [<0>]}, <2>]` with three attachments.
    fn received() -> Payload {
        Payload::from_parts(
            vec![
                json!("text"),
                json!({ "name": "a", "file": placeholder(1), "parts": [placeholder(0), 5] }),
                placeholder(2),
            ],
            vec![
                Bytes::from_static(b"zero"),
                Bytes::from_static(b"one"),
                Bytes::from_static(b"two"),
            ],
        )
    }

    #[test]
    fn an_argument_comes_with_its_own_binary() {
        let payload = received();
        let arg = payload.arg(1).unwrap();
        assert!(arg.has_binary());
        assert!(!arg.is_binary());
        assert_eq!(arg.get("name"), Some(&Arg::from("a")));
        assert_eq!(
            arg.get("file").and_then(Arg::as_bytes),
            Some(&Bytes::from_static(b"one"))
        );
        assert!(payload.is_binary(2));
        assert!(!payload.is_binary(1));
        assert!(!payload.arg(0).unwrap().has_binary());
        assert_eq!(payload.arg(3), None);
    }

    #[test]
    fn forwarded_arguments_are_renumbered_with_their_bytes() {
        let payload = received();
        let forwarded = Payload::from_args([payload.arg(2).unwrap(), payload.arg(1).unwrap()]);
        // The argument's own binary comes first, then the object's in the order they appear.
        assert_eq!(
            forwarded.args(),
            vec![
                placeholder(0),
                json!({ "name": "a", "file": placeholder(1), "parts": [placeholder(2), 5] }),
            ]
        );
        assert_eq!(
            forwarded.attachments,
            vec![
                Bytes::from_static(b"two"),
                Bytes::from_static(b"one"),
                Bytes::from_static(b"zero"),
            ]
        );
        // And reading them back gives the same values.
        assert_eq!(forwarded.arg(1), payload.arg(1));
    }

    #[test]
    fn binary_decodes_as_bytes_and_is_refused_as_json() {
        let payload = received();
        let bytes: Bytes = payload.decode_arg(2).unwrap();
        assert_eq!(bytes, Bytes::from_static(b"two"));
        let vec: Vec<u8> = payload.decode_arg(2).unwrap();
        assert_eq!(vec, b"two");
        let error = payload.decode_arg::<Value>(2).unwrap_err();
        assert!(error.to_string().contains("byte array"), "{error}");
        let error = payload.decode_arg::<Value>(1).unwrap_err();
        assert!(error.to_string().contains("byte array"), "{error}");

        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct File {
            name: String,
            file: Bytes,
            parts: (Vec<u8>, u32),
            missing: Option<u8>,
        }
        let file: File = payload.decode_arg(1).unwrap();
        assert_eq!(
            file,
            File {
                name: "a".into(),
                file: Bytes::from_static(b"one"),
                parts: (b"zero".to_vec(), 5),
                missing: None,
            }
        );
        let arg: Arg = payload.decode_arg(1).unwrap();
        assert_eq!(arg, payload.arg(1).unwrap());
        let all: (String, Arg, Bytes) = payload.decode_args().unwrap();
        assert_eq!(all.2, Bytes::from_static(b"two"));
    }

    #[test]
    fn serializing_writes_bytes_as_binary_and_the_rest_as_serde_json() {
        #[derive(serde::Serialize)]
        enum Kind {
            Plain,
            Sized(u32),
            Pair(i8, f32),
            Named { at: Option<char> },
        }
        #[derive(serde::Serialize)]
        struct Doc {
            title: String,
            tags: Vec<&'static str>,
            by_id: std::collections::BTreeMap<u32, bool>,
            kinds: Vec<Kind>,
            score: f64,
            nan: f64,
            unit: (),
        }
        let doc = Doc {
            title: "t".into(),
            tags: vec!["a", "b"],
            by_id: [(2, true), (10, false)].into_iter().collect(),
            kinds: vec![
                Kind::Plain,
                Kind::Sized(3),
                Kind::Pair(-1, 0.5),
                Kind::Named { at: Some('x') },
            ],
            score: 1.25,
            nan: f64::NAN,
            unit: (),
        };
        let mut attachments = Vec::new();
        let value = Arg::from_serialize(&doc)
            .unwrap()
            .into_parts(&mut attachments);
        assert_eq!(value, serde_json::to_value(&doc).unwrap());
        assert!(attachments.is_empty());

        #[derive(serde::Serialize)]
        struct File {
            name: &'static str,
            data: Bytes,
            chunks: Vec<Bytes>,
        }
        let file = File {
            name: "f",
            data: Bytes::from_static(b"\x01"),
            chunks: vec![Bytes::from_static(b"\x02\x03")],
        };
        let payload = Payload::from_args([Arg::from_serialize(&file).unwrap()]);
        assert_eq!(
            payload.args(),
            vec![json!({ "name": "f", "data": placeholder(0), "chunks": [placeholder(1)] })]
        );
        assert_eq!(
            payload.attachments,
            vec![Bytes::from_static(b"\x01"), Bytes::from_static(b"\x02\x03")]
        );
    }

    #[test]
    fn without_attachments_a_placeholder_is_an_object() {
        let payload = Payload::from_parts(vec![placeholder(0)], Vec::new());
        let value: Value = payload.decode_arg(0).unwrap();
        assert_eq!(value, placeholder(0));
        assert!(!payload.is_binary(0));
    }
}
