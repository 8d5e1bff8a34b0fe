//! Deserializing arguments with their binary: a placeholder `{"_placeholder":true,"num":n}`
//! reads as the bytes of attachment `n`.
//!
//! The deserializer walks the JSON value by reference (nothing is copied) and answers a
//! placeholder with `visit_bytes` (or a sequence of `u8` when the type asks for one, as
//! `Vec<u8>` does). A type that accepts bytes (`bytes::Bytes`, [`super::Arg`],
//! `serde_bytes::ByteBuf`, `Vec<u8>`) gets them; one that does not (`serde_json::Value`)
//! fails with "invalid type: byte array", instead of seeing the placeholder object.

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Map, Value};
use sockgate_proto::socketio::placeholder_num;

/// Deserializes `value`, whose placeholders index `attachments`.
pub(crate) fn decode_value<T: de::DeserializeOwned>(
    value: &Value,
    attachments: &[Bytes],
) -> Result<T, Error> {
    if attachments.is_empty() {
        // No binary: exactly serde_json's reading.
        return T::deserialize(value);
    }
    T::deserialize(BinDe { value, attachments })
}

/// The attachment a placeholder stands for, if `value` is one that `attachments` holds.
pub(crate) fn binary_of<'a>(value: &Value, attachments: &'a [Bytes]) -> Option<&'a Bytes> {
    let num = placeholder_num(value)??;
    attachments.get(usize::try_from(num).ok()?)
}

#[derive(Clone, Copy)]
struct BinDe<'de> {
    value: &'de Value,
    attachments: &'de [Bytes],
}

impl<'de> BinDe<'de> {
    fn child(&self, value: &'de Value) -> Self {
        BinDe {
            value,
            attachments: self.attachments,
        }
    }

    fn binary(&self) -> Option<&'de Bytes> {
        binary_of(self.value, self.attachments)
    }
}

impl<'de> de::Deserializer<'de> for BinDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => {
                // As serde_json: a sequence longer than the type (a pair from three arguments)
                // is an error, not a silent truncation.
                let mut seq = Seq {
                    de: self,
                    items: items.iter(),
                };
                let value = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(
                        items.len(),
                        &"fewer elements in array",
                    )),
                }
            }
            Value::Object(map) => match self.binary() {
                Some(bytes) => visitor.visit_borrowed_bytes(bytes),
                None => visitor.visit_map(MapDe {
                    de: self,
                    entries: map.iter(),
                    value: None,
                }),
            },
            other => de::Deserializer::deserialize_any(other, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.binary() {
            Some(bytes) => visitor.visit_borrowed_bytes(bytes),
            None => de::Deserializer::deserialize_bytes(self.value, visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.binary() {
            // `Vec<u8>` asks for a sequence.
            Some(bytes) => {
                let seq = de::value::SeqDeserializer::<_, Error>::new(bytes.iter().copied());
                de::Deserializer::deserialize_seq(seq, visitor)
            }
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // serde_json's reading (binary inside an enum's content stays a placeholder).
        de::Deserializer::deserialize_enum(self.value, name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

struct Seq<'de> {
    de: BinDe<'de>,
    items: std::slice::Iter<'de, Value>,
}

impl<'de> de::SeqAccess<'de> for &mut Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(value) => seed.deserialize(self.de.child(value)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'de> {
    de: BinDe<'de>,
    entries: <&'de Map<String, Value> as IntoIterator>::IntoIter,
    value: Option<&'de Value>,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                let key = de::value::BorrowedStrDeserializer::<'de, Error>::new(key.as_str());
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a map value was asked before its key"))?;
        seed.deserialize(self.de.child(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
