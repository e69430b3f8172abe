//! A raw event's top-level JSON object, read without building a `serde_json::Value` tree:
//! field names and string values borrow from the message (unless they hold escapes), and
//! nested arrays and objects are checked for syntax and skipped, since the contract has none.
//! Validation reads a few named fields from a small list, so this saves a map and an
//! allocation per field on every message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// One top-level field's value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// An array, syntax-checked and skipped.
    Array,
    /// An object, syntax-checked and skipped.
    Object,
}

impl Field<'_> {
    /// The JSON type's name, for error messages.
    pub fn json_type(&self) -> &'static str {
        match self {
            Field::Null => "null",
            Field::Bool(_) => "boolean",
            Field::Number(_) => "number",
            Field::Str(_) => "string",
            Field::Array => "array",
            Field::Object => "object",
        }
    }
}

/// A message's top level: an object's fields in message order, or the type of what it was.
#[derive(Debug)]
pub enum Message<'a> {
    Object(Object<'a>),
    /// Not an object: the JSON type's name.
    Other(&'static str),
}

/// A top-level object's fields, in message order.
#[derive(Debug, Default)]
pub struct Object<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

impl<'a> Object<'a> {
    /// The field called `name`; of repeated names the last counts (as serde_json's map does).
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

/// Parses one message.
pub fn parse(text: &str) -> Result<Message<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

impl<'de> Deserialize<'de> for Message<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(Text(key)) = map.next_key()? {
            let value: Field<'de> = map.next_value()?;
            fields.push((key, value));
        }
        Ok(Message::Object(Object { fields }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Message::Other("array"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Message::Other("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Message::Other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Message::Other("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Message::Other("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Message::Other("number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Message::Other("string"))
    }
}

/// A string borrowed from the message when it has no escapes, else unescaped into a copy.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // JSON has no NaN or infinity, so every parsed float is a Number.
        Number::from_f64(v)
            .map(Field::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// What serde_json's value tree says of the same text, in this module's terms.
    fn as_tree(text: &str) -> Option<Vec<(String, Field<'static>)>> {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return None;
        };
        Some(
            map.into_iter()
                .map(|(k, v)| {
                    let field = match v {
                        Value::Null => Field::Null,
                        Value::Bool(b) => Field::Bool(b),
                        Value::Number(n) => Field::Number(n),
                        Value::String(s) => Field::Str(Cow::Owned(s)),
                        Value::Array(_) => Field::Array,
                        Value::Object(_) => Field::Object,
                    };
                    (k, field)
                })
                .collect(),
        )
    }

    #[test]
    fn every_field_reads_as_the_value_tree_reads_it() {
        let text = json!({
            "kind": "click", "event_id": "e-1", "quote": "say \"hi\"\n", "n": 12, "f": 19.99,
            "neg": -3, "big": 18446744073709551615u64, "t": true, "nothing": null,
            "list": [1, [2, {"x": 3}]], "nested": {"a": {"b": []}}, "unicode": "caf\u{e9} \u{1F600}"
        })
        .to_string();
        let Message::Object(object) = parse(&text).expect("parses") else {
            panic!("an object");
        };
        let tree = as_tree(&text).expect("an object");
        assert_eq!(tree.len(), object.fields.len());
        for (name, field) in &tree {
            assert_eq!(object.get(name), Some(field), "{name}");
        }
        // Unescaped strings are borrowed from the message; escaped ones are copied.
        assert!(matches!(
            object.get("event_id"),
            Some(Field::Str(Cow::Borrowed("e-1")))
        ));
        assert!(matches!(
            object.get("quote"),
            Some(Field::Str(Cow::Owned(_)))
        ));
    }

    #[test]
    fn a_repeated_name_counts_once_with_its_last_value_as_in_the_value_tree() {
        let text = r#"{"kind": "click", "kind": "lead"}"#;
        let Message::Object(object) = parse(text).expect("parses") else {
            panic!("an object");
        };
        let tree = as_tree(text).expect("an object");
        assert_eq!(object.get("kind"), Some(&tree[0].1));
        assert_eq!(object.get("kind"), Some(&Field::Str(Cow::Borrowed("lead"))));
    }

    #[test]
    fn anything_but_an_object_is_named_and_bad_json_is_an_error() {
        for (text, kind) in [
            ("[1, 2]", "array"),
            ("\"x\"", "string"),
            ("3", "number"),
            ("-3.5", "number"),
            ("true", "boolean"),
            ("null", "null"),
        ] {
            assert!(
                matches!(parse(text), Ok(Message::Other(k)) if k == kind),
                "{text}"
            );
        }
        for bad in [
            "{",
            "{\"a\": }",
            "{\"a\": [1,}",
            "{\"a\": 1} x",
            "{'a': 1}",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad:?}");
        }
    }
}
