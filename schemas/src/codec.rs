//! Avro single-object encoding: `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of
//! the writer schema's parsing canonical form, then the Avro binary body.
//!
//! Invariant: every message on an internal topic names its exact writer schema in its first
//! ten bytes, so any Avro implementation holding the published `.avsc` files can decode it
//! without a registry, and a reader built against a newer schema can still read older data
//! (each message type keeps all its published versions and resolves old ones to the newest).
//!
//! Encoding and decoding go straight between the Rust types and the bytes, each schema
//! compiled once (`serde_avro_fast`): no generic value tree, no schema work per message. A
//! message written with an older version decodes into today's type by field name: a field the
//! writer did not have takes its serde default, which matches the `.avsc` default (the
//! schema tests hold every type to that). [`generic`] keeps apache-avro's value-tree path as
//! the reference the fast path is checked against byte for byte.

use apache_avro::Schema;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::binary::{HandCodec, Reader, Writer};

/// First two bytes of every single-object encoded message (Avro spec, "Single object encoding").
pub const MARKER: [u8; 2] = [0xC3, 0x01];
/// Marker plus fingerprint.
pub const HEADER_LEN: usize = 10;

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Fewer bytes than the 10-byte header.
    #[error("message of {0} bytes is shorter than the 10-byte single-object header")]
    TooShort(usize),
    /// The first two bytes are not `C3 01`.
    #[error("message does not start with the Avro single-object marker C3 01")]
    BadMarker,
    /// The fingerprint names no published version of the expected schema.
    #[error("schema fingerprint {0:#018x} is not a published version of {1}")]
    UnknownFingerprint(u64, &'static str),
    /// The Avro library rejected the value or the body.
    #[error("avro: {0}")]
    Avro(String),
}

impl From<apache_avro::Error> for CodecError {
    fn from(e: apache_avro::Error) -> Self {
        CodecError::Avro(e.to_string())
    }
}

/// One published version of a schema.
#[derive(Debug)]
pub struct SchemaVersion {
    /// File name under `schemas/avro/`, e.g. `valid_touchpoint.v1.avsc`.
    pub file: &'static str,
    /// The parsed schema (apache-avro: validation, the JSON view, the reference codec).
    pub schema: Schema,
    /// The same schema compiled for the fast codec.
    pub compiled: serde_avro_fast::Schema,
    /// CRC-64-AVRO fingerprint of its parsing canonical form.
    pub fingerprint: u64,
}

/// All published versions of one message type, oldest first. The last is written.
#[derive(Debug)]
pub struct SchemaFamily {
    /// Full Avro name, e.g. `attrib.ValidTouchpoint`.
    pub name: &'static str,
    /// Versions, oldest first.
    pub versions: Vec<SchemaVersion>,
}

impl SchemaFamily {
    /// Parses every version; panics at first use if a bundled `.avsc` is invalid, which the
    /// unit tests rule out before anything ships.
    pub fn parse(name: &'static str, sources: &[(&'static str, &'static str)]) -> Self {
        let versions = sources
            .iter()
            .map(|(file, text)| {
                let schema = Schema::parse_str(text)
                    .unwrap_or_else(|e| panic!("bundled schema {file} is invalid: {e}"));
                let compiled: serde_avro_fast::Schema = text
                    .parse()
                    .unwrap_or_else(|e| panic!("bundled schema {file} does not compile: {e}"));
                let json: serde_json::Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("bundled schema {file} is not JSON: {e}"));
                let fingerprint = crc64_avro(parsing_canonical_form(&json).as_bytes());
                SchemaVersion {
                    file,
                    schema,
                    compiled,
                    fingerprint,
                }
            })
            .collect();
        SchemaFamily { name, versions }
    }

    /// The version new messages are written with.
    pub fn current(&self) -> &SchemaVersion {
        self.versions
            .last()
            .expect("a schema family has at least one version")
    }
}

/// A Rust type that travels as Avro on an internal topic.
pub trait AvroMessage: Serialize + DeserializeOwned + 'static {
    /// The schema versions this type reads (all) and writes (the last).
    fn family() -> &'static SchemaFamily;

    /// A body codec written by hand for one version ([`crate::binary`]), for the types every
    /// event crosses; `None`: the compiled schema's alone.
    fn hand_codec() -> Option<&'static HandCodec<Self>> {
        None
    }
}

/// Declares the schema family of a message type from its `.avsc` files, oldest first.
macro_rules! avro_message {
    ($ty:ty, $name:literal, [$($file:literal),+ $(,)?], hand = $hand:expr) => {
        $crate::codec::avro_message!(@impl $ty, $name, [$($file),+], {
            fn hand_codec() -> Option<&'static $crate::binary::HandCodec<$ty>> {
                Some(&$hand)
            }
        });
    };
    ($ty:ty, $name:literal, [$($file:literal),+ $(,)?]) => {
        $crate::codec::avro_message!(@impl $ty, $name, [$($file),+], {});
    };
    (@impl $ty:ty, $name:literal, [$($file:literal),+], { $($hand:tt)* }) => {
        impl $crate::codec::AvroMessage for $ty {
            $($hand)*

            fn family() -> &'static $crate::codec::SchemaFamily {
                static FAMILY: std::sync::OnceLock<$crate::codec::SchemaFamily> =
                    std::sync::OnceLock::new();
                FAMILY.get_or_init(|| {
                    $crate::codec::SchemaFamily::parse(
                        $name,
                        &[$(($file, include_str!(concat!("../avro/", $file)))),+],
                    )
                })
            }
        }
    };
}
pub(crate) use avro_message;

/// Encodes `message` with its current schema in single-object encoding.
pub fn encode<T: AvroMessage>(message: &T) -> Result<Vec<u8>, CodecError> {
    let current = T::family().current();
    match T::hand_codec().filter(|hand| hand.file == current.file) {
        Some(hand) => {
            let mut out = header(current);
            (hand.write)(message, &mut Writer::new(&mut out));
            Ok(out)
        }
        None => encode_as::<T, T>(message),
    }
}

/// The single-object header of `version`, in a buffer with room for a typical body.
fn header(version: &SchemaVersion) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&version.fingerprint.to_le_bytes());
    out
}

/// Encodes `view` as a message of type `T`: for a borrowed view of a `T` (slices where `T`
/// has vectors), so a record can be written straight from the state that holds its parts
/// without copying them into a `T` first. `V` must serialize exactly as `T` does — the same
/// fields in the same order — which a test of the view compares byte for byte.
pub fn encode_as<T: AvroMessage, V: Serialize + ?Sized>(view: &V) -> Result<Vec<u8>, CodecError> {
    let current = T::family().current();
    let out = header(current);
    let mut config = serde_avro_fast::ser::SerializerConfig::new(&current.compiled);
    serde_avro_fast::to_datum(view, out, &mut config).map_err(|e| CodecError::Avro(e.to_string()))
}

/// Decodes a single-object encoded message written with any published version of `T`'s schema.
pub fn decode<T: AvroMessage>(bytes: &[u8]) -> Result<T, CodecError> {
    let writer = writer_of::<T>(bytes)?;
    let Some(hand) = T::hand_codec().filter(|hand| hand.file == writer.file) else {
        return decode_body(writer, &bytes[HEADER_LEN..]);
    };
    let mut reader = Reader::new(&bytes[HEADER_LEN..]);
    let message = (hand.read)(&mut reader)?;
    match reader.remaining() {
        0 => Ok(message),
        rest => Err(trailing(rest)),
    }
}

fn trailing(rest: usize) -> CodecError {
    CodecError::Avro(format!("{rest} trailing bytes after the body"))
}

/// Decodes a message of type `T` into `V`, a form of it that borrows its text from `bytes`
/// (Avro strings are stored unescaped, so every `&str` can point into the message): for reading
/// many records whose strings would only be copied again, such as a changelog being restored.
/// `V` must deserialize as `T` does — the same field names, with the same defaults.
pub fn decode_as<'a, T: AvroMessage, V: Deserialize<'a>>(bytes: &'a [u8]) -> Result<V, CodecError> {
    decode_body(writer_of::<T>(bytes)?, &bytes[HEADER_LEN..])
}

/// Decodes a body written with `writer` through its compiled schema.
fn decode_body<'a, V: Deserialize<'a>>(
    writer: &SchemaVersion,
    body: &'a [u8],
) -> Result<V, CodecError> {
    let mut state = serde_avro_fast::de::DeserializerState::from_slice(body, &writer.compiled);
    let message =
        V::deserialize(state.deserializer()).map_err(|e| CodecError::Avro(e.to_string()))?;
    let rest = std::io::BufRead::fill_buf(&mut state.into_reader()).map_or(0, <[u8]>::len);
    match rest {
        0 => Ok(message),
        rest => Err(trailing(rest)),
    }
}

/// Whether `bytes` name one of the published versions of `T`'s schema in their header: how a
/// reader tells apart the message types one topic carries (touchpoints and watermarks).
pub fn is<T: AvroMessage>(bytes: &[u8]) -> bool {
    writer_of::<T>(bytes).is_ok()
}

/// The published version of `T`'s schema a message names in its header.
fn writer_of<T: AvroMessage>(bytes: &[u8]) -> Result<&'static SchemaVersion, CodecError> {
    let fingerprint = read_header(bytes)?;
    let family = T::family();
    family
        .versions
        .iter()
        .find(|v| v.fingerprint == fingerprint)
        .ok_or(CodecError::UnknownFingerprint(fingerprint, family.name))
}

/// apache-avro's generic path (serde → value tree → schema resolution → bytes, and back): the
/// reference the fast codec is checked against, and the baseline of `bench_codec`.
pub mod generic {
    use apache_avro::{from_avro_datum, from_value, to_avro_datum, to_value};

    use super::{writer_of, AvroMessage, CodecError, HEADER_LEN, MARKER};

    /// Encodes like [`super::encode`], through the value tree.
    pub fn encode<T: AvroMessage>(message: &T) -> Result<Vec<u8>, CodecError> {
        let current = T::family().current();
        // `resolve` turns serde's plain values into the schema's unions, enums and logical types.
        let value = to_value(message)?.resolve(&current.schema)?;
        let body = to_avro_datum(&current.schema, value)?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&current.fingerprint.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes like [`super::decode`], resolving the writer's schema to the current one.
    pub fn decode<T: AvroMessage>(bytes: &[u8]) -> Result<T, CodecError> {
        let writer = writer_of::<T>(bytes)?;
        let mut body = &bytes[HEADER_LEN..];
        let reader = &T::family().current().schema;
        let value = from_avro_datum(&writer.schema, &mut body, Some(reader))?;
        if !body.is_empty() {
            return Err(CodecError::Avro(format!(
                "{} trailing bytes after the body",
                body.len()
            )));
        }
        Ok(from_value::<T>(&value)?)
    }
}

/// Returns the writer-schema fingerprint of a single-object encoded message.
pub fn read_header(bytes: &[u8]) -> Result<u64, CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::TooShort(bytes.len()));
    }
    if bytes[..2] != MARKER {
        return Err(CodecError::BadMarker);
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(u64::from_le_bytes(fp))
}

/// The schema's Parsing Canonical Form (Avro specification, "Transforming into Parsing
/// Canonical Form"): full names, only the attributes that matter for parsing, in a fixed order,
/// no whitespace, and primitives (including logical types) in their simple form.
///
/// apache-avro 0.21's own `canonical_form()` keeps `{"type":"long"}` for logical types, which
/// gives fingerprints no other implementation computes; this follows the spec instead.
pub fn parsing_canonical_form(schema: &serde_json::Value) -> String {
    let mut out = String::new();
    write_pcf(schema, "", &mut out);
    out
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() || PRIMITIVES.contains(&name) {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialise")
}

fn write_pcf(schema: &serde_json::Value, namespace: &str, out: &mut String) {
    use serde_json::Value;
    match schema {
        Value::String(name) => out.push_str(&json_string(&full_name(name, namespace))),
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_pcf(branch, namespace, out);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            let kind = obj.get("type").unwrap_or(&Value::Null);
            let kind_name = kind.as_str().unwrap_or_default();
            match kind_name {
                "record" | "error" | "enum" | "fixed" => {
                    let short = obj.get("name").and_then(Value::as_str).unwrap_or_default();
                    let ns = obj
                        .get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or(namespace);
                    let full = full_name(short, ns);
                    let inner_ns = full.rsplit_once('.').map_or("", |(n, _)| n);
                    out.push_str(&format!("{{\"name\":{},\"type\":", json_string(&full)));
                    out.push_str(&json_string(if kind_name == "error" {
                        "record"
                    } else {
                        kind_name
                    }));
                    match kind_name {
                        "enum" => {
                            out.push_str(",\"symbols\":");
                            out.push_str(
                                &obj.get("symbols").map(Value::to_string).unwrap_or_default(),
                            );
                        }
                        "fixed" => {
                            out.push_str(",\"size\":");
                            out.push_str(
                                &obj.get("size").map(Value::to_string).unwrap_or_default(),
                            );
                        }
                        _ => {
                            out.push_str(",\"fields\":[");
                            let fields = obj.get("fields").and_then(Value::as_array);
                            for (i, field) in fields.into_iter().flatten().enumerate() {
                                if i > 0 {
                                    out.push(',');
                                }
                                let name = field
                                    .get("name")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default();
                                out.push_str(&format!(
                                    "{{\"name\":{},\"type\":",
                                    json_string(name)
                                ));
                                write_pcf(field.get("type").unwrap_or(&Value::Null), inner_ns, out);
                                out.push('}');
                            }
                            out.push(']');
                        }
                    }
                    out.push('}');
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    write_pcf(obj.get("items").unwrap_or(&Value::Null), namespace, out);
                    out.push('}');
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    write_pcf(obj.get("values").unwrap_or(&Value::Null), namespace, out);
                    out.push('}');
                }
                // `{"type": "long", "logicalType": ...}` and `{"type": {...}}` collapse to the
                // inner type.
                _ => write_pcf(kind, namespace, out),
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

/// CRC-64-AVRO (Rabin) fingerprint, as defined in the Avro specification.
pub fn crc64_avro(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
            }
            *slot = fp;
        }
        table
    });
    data.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_of_the_null_schema_matches_the_avro_spec_test_vector() {
        // The Java and Python reference implementations both give this for `"null"`.
        assert_eq!(crc64_avro(b"\"null\""), 0x63dd_24e7_cc25_8f8a);
    }

    #[test]
    fn canonical_form_follows_the_spec_for_logical_types_and_nested_names() {
        let schema = serde_json::json!({
            "type": "record", "name": "Outer", "namespace": "a.b", "doc": "dropped",
            "fields": [
                {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
                    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["x"]}}]}},
                {"name": "again", "type": ["null", "Inner"], "default": null},
                {"name": "list", "type": {"type": "array", "items": "string"}}
            ]
        });
        assert_eq!(
            parsing_canonical_form(&schema),
            r#"{"name":"a.b.Outer","type":"record","fields":[{"name":"at","type":"long"},{"name":"inner","type":{"name":"a.b.Inner","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["x"]}}]}},{"name":"again","type":["null","a.b.Inner"]},{"name":"list","type":{"type":"array","items":"string"}}]}"#
        );
    }

    #[test]
    fn header_errors_are_told_apart() {
        assert!(matches!(read_header(&[0xC3]), Err(CodecError::TooShort(1))));
        assert!(matches!(
            read_header(&[0u8; 12]),
            Err(CodecError::BadMarker)
        ));
        let mut ok = vec![0xC3, 0x01];
        ok.extend_from_slice(&42u64.to_le_bytes());
        assert_eq!(read_header(&ok).expect("valid header"), 42);
    }
}
