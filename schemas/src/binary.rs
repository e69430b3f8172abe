//! Avro binary bodies written and read by hand, for the few message types every event crosses
//! (`ValidTouchpoint`, `EnrichedTouchpoint`): the compiled-schema codec spends most of its time
//! finding fields by name and unions and enums by symbol, which a body laid out in schema
//! order does not need.
//!
//! A hand codec implements exactly one published `.avsc` (its `file`). The codec uses it only
//! when that file is the type's current version (writing) or the message's writer (reading);
//! anything else goes through the compiled schema, so a new schema version is never misread,
//! only slower until its hand codec is written. Tests hold every hand codec to the compiled
//! codec byte for byte on generated values.
//!
//! Avro binary, as the specification has it: `int` and `long` are zig-zag varints; a string is
//! its byte length then its UTF-8 bytes; a union is the branch index then the branch; an enum
//! is the symbol index; an array is blocks of (count, items) ended by a zero count; a record is
//! its fields in order.

use chrono::{DateTime, Utc};

use crate::codec::CodecError;

/// A hand-written body codec for the schema version in `file`.
#[derive(Debug)]
pub struct HandCodec<T> {
    /// The `.avsc` file (under `schemas/avro/`) whose binary layout `write` and `read` follow.
    pub file: &'static str,
    /// Appends the body of a message.
    pub write: fn(&T, &mut Writer),
    /// Reads a body; the caller checks that nothing is left.
    pub read: fn(&mut Reader<'_>) -> Result<T, CodecError>,
}

/// Appends Avro binary values to a buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer { out }
    }

    /// An Avro `long` (also an `int`: the encoding is the same).
    pub fn long(&mut self, value: i64) {
        let mut n = ((value << 1) ^ (value >> 63)) as u64;
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    /// An Avro `string`.
    pub fn string(&mut self, value: &str) {
        self.long(value.len() as i64);
        self.out.extend_from_slice(value.as_bytes());
    }

    /// A `timestamp-millis` long.
    pub fn millis(&mut self, at: &DateTime<Utc>) {
        self.long(at.timestamp_millis());
    }

    /// An enum symbol by its index.
    pub fn symbol(&mut self, index: usize) {
        self.long(index as i64);
    }

    /// `value`'s symbol, `symbols` being the enum's values in schema order (every value is
    /// listed, which the hand codecs' byte-for-byte tests hold them to).
    pub fn symbol_of<T: PartialEq>(&mut self, symbols: &[T], value: &T) {
        self.symbol(symbols.iter().position(|s| s == value).unwrap_or_default());
    }

    /// A `["null", T]` union: branch 0 for `None`, else branch 1 written by `write`.
    pub fn optional<V>(&mut self, value: Option<V>, write: impl FnOnce(&mut Self, V)) {
        match value {
            None => self.long(0),
            Some(value) => {
                self.long(1);
                write(self, value);
            }
        }
    }

    /// A `["null", "string"]` union.
    pub fn optional_string(&mut self, value: Option<&str>) {
        self.optional(value, Writer::string);
    }

    /// An array: one block holding every item, then the end marker.
    pub fn array<V>(&mut self, items: &[V], mut write: impl FnMut(&mut Self, &V)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for item in items {
                write(self, item);
            }
        }
        self.long(0);
    }
}

/// Reads Avro binary values from a message body.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

fn malformed(what: impl std::fmt::Display) -> CodecError {
    CodecError::Avro(format!("malformed body: {what}"))
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// An Avro `long`.
    pub fn long(&mut self) -> Result<i64, CodecError> {
        let mut n: u64 = 0;
        for (i, &byte) in self.bytes.iter().enumerate().take(10) {
            n |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(malformed("a varint runs past the body or past 10 bytes"))
    }

    /// An Avro `int`.
    pub fn int(&mut self) -> Result<i32, CodecError> {
        let n = self.long()?;
        i32::try_from(n).map_err(|_| malformed(format!("{n} does not fit an int")))
    }

    /// An Avro `string`, borrowed from the body.
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| malformed("a negative string length"))?;
        if len > self.bytes.len() {
            return Err(malformed("a string runs past the body"));
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(text).map_err(|e| malformed(format!("a string is not UTF-8: {e}")))
    }

    /// An Avro `string`.
    pub fn string(&mut self) -> Result<String, CodecError> {
        self.str().map(str::to_string)
    }

    /// A `timestamp-millis` long.
    pub fn millis(&mut self) -> Result<DateTime<Utc>, CodecError> {
        let ms = self.long()?;
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| malformed(format!("{ms} ms is out of the timestamp range")))
    }

    /// An enum symbol's index, below `symbols`.
    pub fn symbol(&mut self, symbols: usize) -> Result<usize, CodecError> {
        let index = self.long()?;
        usize::try_from(index)
            .ok()
            .filter(|i| *i < symbols)
            .ok_or_else(|| malformed(format!("enum index {index} of {symbols} symbols")))
    }

    /// An enum value, `symbols` being its values in schema order.
    pub fn symbol_of<T: Copy>(&mut self, symbols: &[T]) -> Result<T, CodecError> {
        Ok(symbols[self.symbol(symbols.len())?])
    }

    /// A `["null", T]` union, its branch read by `read`.
    pub fn optional<V>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<V, CodecError>,
    ) -> Result<Option<V>, CodecError> {
        match self.long()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            branch => Err(malformed(format!("union branch {branch} of 2"))),
        }
    }

    /// A `["null", "string"]` union.
    pub fn optional_string(&mut self) -> Result<Option<String>, CodecError> {
        self.optional(Reader::string)
    }

    /// An array, each item read by `read`.
    pub fn array<V>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<V, CodecError>,
    ) -> Result<Vec<V>, CodecError> {
        let mut items = Vec::new();
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(items);
            }
            // A negative count is followed by the block's size in bytes (readers may skip it).
            if count < 0 {
                self.long()?;
            }
            let count = count.unsigned_abs();
            if count > self.bytes.len() as u64 {
                return Err(malformed(
                    "an array claims more items than the body has bytes",
                ));
            }
            for _ in 0..count {
                items.push(read(self)?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_zigzag_varints_as_the_specification_shows() {
        // (value, bytes) from the Avro specification's table, and the extremes.
        let cases: [(i64, &[u8]); 7] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (2, &[0x04]),
            (-64, &[0x7F]),
            (64, &[0x80, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            Writer::new(&mut out).long(value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(Reader::new(bytes).long().unwrap(), value);
        }
        for value in [i64::MIN, i64::MAX, i64::from(i32::MIN), i64::from(i32::MAX)] {
            let mut out = Vec::new();
            Writer::new(&mut out).long(value);
            let mut reader = Reader::new(&out);
            assert_eq!(reader.long().unwrap(), value);
            assert_eq!(reader.remaining(), 0);
        }
    }

    #[test]
    fn truncated_or_impossible_values_are_errors() {
        assert!(Reader::new(&[0x80]).long().is_err());
        assert!(Reader::new(&[0xFF; 11]).long().is_err());
        assert!(Reader::new(&[0x06, b'a']).str().is_err());
        assert!(Reader::new(&[0x01]).str().is_err(), "negative length");
        assert!(Reader::new(&[0x04, 0xC3, 0x28]).str().is_err(), "not UTF-8");
        assert!(Reader::new(&[0x04]).optional_string().is_err(), "branch 2");
        assert!(Reader::new(&[0x0C]).symbol(6).is_err(), "index 6 of 6");
        assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x20]).int().is_err());
        assert!(Reader::new(&[0x7E]).array(Reader::long).is_err());
    }
}
