#!/usr/bin/env python3
"""Decode the pipeline's Avro messages with fastavro, an independent implementation, using
only the published .avsc files (no Rust code, no registry).

Usage: fastavro_decode.py SCHEMA_DIR MESSAGE_DIR

MESSAGE_DIR holds NAME.bin files, each one single-object encoded message (C3 01, 8-byte
little-endian CRC-64-AVRO fingerprint, body), and optionally NAME.json with the value the
producer meant. Each message's writer schema is found by fingerprint among SCHEMA_DIR/*.avsc.
Prints one line per message and "N passed, N failed"; exits 1 on any failure.
"""
import base64
import datetime
import io
import json
import pathlib
import sys

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form


def load_schemas(schema_dir):
    by_fingerprint = {}
    for path in sorted(pathlib.Path(schema_dir).glob("*.avsc")):
        raw = json.loads(path.read_text())
        pcf = to_parsing_canonical_form(raw)
        fp = bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO"))
        by_fingerprint[fp] = (path.name, parse_schema(raw))
    return by_fingerprint


def plain(value):
    """fastavro's Python values -> the JSON shapes the Rust side writes."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, bytes):
        return list(value)
    return value


def decode(schemas, data):
    if data[:2] != b"\xc3\x01":
        raise ValueError("missing single-object marker C3 01")
    fp = data[2:10]
    if fp not in schemas:
        raise ValueError(f"fingerprint {fp.hex()} matches no published .avsc")
    name, schema = schemas[fp]
    body = io.BytesIO(data[10:])
    value = schemaless_reader(body, schema)
    if body.read():
        raise ValueError("trailing bytes after the Avro body")
    return name, value


def main():
    schemas = load_schemas(sys.argv[1])
    passed = failed = 0
    for path in sorted(pathlib.Path(sys.argv[2]).glob("*.bin")):
        try:
            name, value = decode(schemas, path.read_bytes())
            expected_path = path.with_suffix(".json")
            if expected_path.exists():
                expected = json.loads(expected_path.read_text())
                if plain(value) != expected:
                    raise ValueError(
                        f"decoded value differs:\n  got      {json.dumps(plain(value), sort_keys=True)}\n"
                        f"  expected {json.dumps(expected, sort_keys=True)}")
            print(f"ok   {path.name} ({name})")
            passed += 1
        except Exception as e:  # report every message, not just the first failure
            print(f"FAIL {path.name}: {e}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
