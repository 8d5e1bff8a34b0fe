//! Serializing into an [`Arg`]: what `serialize_bytes` writes (`bytes::Bytes`,
//! `serde_bytes`) becomes [`Arg::Binary`], so that a struct with a binary field goes out as
//! binary. Everything else is what `serde_json::to_value` writes.
//!
//! Long for a reason: a serde `Serializer` has one method per data-model type, all here.

use bytes::Bytes;
use serde::ser::{self, Impossible, Serialize};
use serde_json::{Error, Number};

use super::Arg;

fn error(message: &str) -> Error {
    <Error as ser::Error>::custom(message)
}

fn float(value: f64) -> Arg {
    // As serde_json: a number that is not finite is `null`.
    Number::from_f64(value).map_or(Arg::Null, Arg::Number)
}

/// Serializes values into [`Arg`]s.
pub(crate) struct ArgSerializer;

impl ser::Serializer for ArgSerializer {
    type Ok = Arg;
    type Error = Error;
    type SerializeSeq = SeqArg;
    type SerializeTuple = SeqArg;
    type SerializeTupleStruct = SeqArg;
    type SerializeTupleVariant = VariantArg<SeqArg>;
    type SerializeMap = MapArg;
    type SerializeStruct = MapArg;
    type SerializeStructVariant = VariantArg<MapArg>;

    fn serialize_bool(self, v: bool) -> Result<Arg, Error> {
        Ok(Arg::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Arg, Error> {
        Ok(Arg::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Arg, Error> {
        Ok(Arg::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Arg, Error> {
        Ok(Arg::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Arg, Error> {
        Ok(Arg::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Arg, Error> {
        if let Ok(v) = i64::try_from(v) {
            return Ok(Arg::from(v));
        }
        u64::try_from(v)
            .map(Arg::from)
            .map_err(|_| error("number out of range"))
    }
    fn serialize_u8(self, v: u8) -> Result<Arg, Error> {
        Ok(Arg::from(u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Arg, Error> {
        Ok(Arg::from(u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Arg, Error> {
        Ok(Arg::from(u64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<Arg, Error> {
        Ok(Arg::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Arg, Error> {
        u64::try_from(v)
            .map(Arg::from)
            .map_err(|_| error("number out of range"))
    }
    fn serialize_f32(self, v: f32) -> Result<Arg, Error> {
        Ok(float(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Arg, Error> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Arg, Error> {
        Ok(Arg::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Arg, Error> {
        Ok(Arg::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Arg, Error> {
        Ok(Arg::Binary(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> Result<Arg, Error> {
        Ok(Arg::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Arg, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Arg, Error> {
        Ok(Arg::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Arg, Error> {
        Ok(Arg::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Arg, Error> {
        Ok(Arg::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Arg, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Arg, Error> {
        Ok(Arg::Object(vec![(
            variant.to_owned(),
            value.serialize(self)?,
        )]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqArg, Error> {
        Ok(SeqArg(Vec::with_capacity(len.unwrap_or(0).min(1024))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqArg, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqArg, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantArg<SeqArg>, Error> {
        Ok(VariantArg(variant, self.serialize_seq(Some(len))?))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapArg, Error> {
        Ok(MapArg {
            entries: Vec::with_capacity(len.unwrap_or(0).min(1024)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapArg, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantArg<MapArg>, Error> {
        Ok(VariantArg(variant, self.serialize_map(Some(len))?))
    }
}

/// The items of a sequence, tuple or tuple struct.
pub(crate) struct SeqArg(Vec<Arg>);

impl ser::SerializeSeq for SeqArg {
    type Ok = Arg;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(value.serialize(ArgSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Arg, Error> {
        Ok(Arg::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqArg {
    type Ok = Arg;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Arg, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqArg {
    type Ok = Arg;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Arg, Error> {
        ser::SerializeSeq::end(self)
    }
}

/// The entries of a map or struct, in order.
pub(crate) struct MapArg {
    entries: Vec<(String, Arg)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapArg {
    type Ok = Arg;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| error("a map value was written before its key"))?;
        self.entries.push((key, value.serialize(ArgSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Arg, Error> {
        Ok(Arg::Object(self.entries))
    }
}

impl ser::SerializeStruct for MapArg {
    type Ok = Arg;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.entries
            .push((key.to_owned(), value.serialize(ArgSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Arg, Error> {
        Ok(Arg::Object(self.entries))
    }
}

/// An enum variant with content: `{"Variant": content}`, as serde_json writes it.
pub(crate) struct VariantArg<T>(&'static str, T);

impl ser::SerializeTupleVariant for VariantArg<SeqArg> {
    type Ok = Arg;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(&mut self.1, value)
    }
    fn end(self) -> Result<Arg, Error> {
        let content = ser::SerializeSeq::end(self.1)?;
        Ok(Arg::Object(vec![(self.0.to_owned(), content)]))
    }
}

impl ser::SerializeStructVariant for VariantArg<MapArg> {
    type Ok = Arg;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(&mut self.1, key, value)
    }
    fn end(self) -> Result<Arg, Error> {
        let content = ser::SerializeStruct::end(self.1)?;
        Ok(Arg::Object(vec![(self.0.to_owned(), content)]))
    }
}

/// Map keys: strings, and numbers, booleans and chars written as strings (as serde_json).
struct KeySerializer;

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    fn serialize_bool(self, v: bool) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_f64(self, _: f64) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_char(self, v: char) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_none(self) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Error> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(error("a map key must be a string"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(error("a map key must be a string"))
    }
}
