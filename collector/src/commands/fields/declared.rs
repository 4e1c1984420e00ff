//! The JSON paths a type's `Deserialize` declares, in the notation of
//! [`super`]: a deserializer that hands every struct all its fields, every
//! sequence one element, every map the one key `*` and every enum its first
//! variant, and notes each leaf it reaches. What a sample must set.

use std::collections::BTreeSet;

use serde::de::value::{Error, StrDeserializer};
use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error as _, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use serde::Deserialize;

/// The paths of `T`'s leaves.
pub fn declared<T: for<'de> Deserialize<'de>>() -> Result<BTreeSet<String>, Error> {
    let mut paths = BTreeSet::new();
    T::deserialize(Declared {
        path: String::new(),
        paths: &mut paths,
    })?;
    Ok(paths)
}

struct Declared<'p> {
    path: String,
    paths: &'p mut BTreeSet<String>,
}

impl<'p> Declared<'p> {
    /// An object with these keys below this path.
    fn keys(self, keys: &'static [&'static str]) -> Keys<'p> {
        Keys {
            keys: keys.iter(),
            current: "",
            path: self.path,
            paths: self.paths,
        }
    }
}

fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_owned(),
        false => format!("{path}.{key}"),
    }
}

/// Answers a leaf: notes its path and hands the visitor a value of its type.
macro_rules! leaves {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.paths.insert(self.path);
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> Deserializer<'de> for Declared<'_> {
    type Error = Error;

    leaves! {
        // Free-form JSON (`serde_json::Value`): a leaf as far as types go.
        deserialize_any => visit_unit(),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_identifier => visit_str(""),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(One(Some(Declared {
            path: format!("{}[]", self.path),
            paths: self.paths,
        })))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value, Error> {
        Err(Error::custom(format!("{}: a tuple", self.path)))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(self.keys(&["*"]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(self.keys(fields))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Some(first) = variants.first() else {
            return Err(Error::custom(format!(
                "{}: an enum without variants",
                self.path
            )));
        };
        self.paths.insert(self.path);
        visitor.visit_enum(UnitVariant(first))
    }
}

/// A sequence of one element.
struct One<'p>(Option<Declared<'p>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|item| seed.deserialize(item)).transpose()
    }
}

/// A struct's fields, or a map's one key `*`.
struct Keys<'p> {
    keys: std::slice::Iter<'static, &'static str>,
    current: &'static str,
    path: String,
    paths: &'p mut BTreeSet<String>,
}

impl<'de> MapAccess<'de> for Keys<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(key) = self.keys.next() else {
            return Ok(None);
        };
        self.current = key;
        seed.deserialize(StrDeserializer::<Error>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Declared {
            path: join(&self.path, self.current),
            paths: &mut *self.paths,
        })
    }
}

/// An enum's variant without data.
struct UnitVariant(&'static str);

impl<'de> EnumAccess<'de> for UnitVariant {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(StrDeserializer::<Error>::new(self.0))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Error> {
        Err(Error::custom(format!("variant {} holds data", self.0)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value, Error> {
        Err(Error::custom(format!("variant {} holds data", self.0)))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(Error::custom(format!("variant {} holds data", self.0)))
    }
}
