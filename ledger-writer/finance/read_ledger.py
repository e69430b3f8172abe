#!/usr/bin/env python3
"""Reads the finance topic the way a finance team would: with confluent-kafka, the published
`.avsc` files and nothing else of this project.

    read_ledger.py avro  --topic attrib.ledger.entries.v1      --schemas schemas/avro
    read_ledger.py json  --topic attrib.ledger.entries.json.v1
    read_ledger.py dead-letters --topic attrib.touchpoints.dlq.json.v1

Connection settings are the services' own variables: KAFKA_BOOTSTRAP_SERVERS and one
KAFKA_PROP_<NAME> per librdkafka property (KAFKA_PROP_SASL_PASSWORD -> sasl.password; `_` is
`.`, `__` is `_`, `___` is `-`), so a managed cluster needs no other configuration.

Avro messages are decoded by their headers alone: `avro.schema.file` names the `.avsc`
file, `avro.schema.fingerprint` must equal the message's bytes 2-9 (little-endian CRC-64-AVRO,
Avro single-object encoding), and the body after those ten bytes is plain Avro binary.

Entries are de-duplicated on `entry_id` (delivery is at-least-once); each commission line's
current status is its entry with the highest `sequence`, whatever order they were read in;
money is exact (`amount` decimal strings, checked against `amount_minor`). Prints one JSON
object: the entries read, every line's current status and amount, totals per (status,
currency) as decimal strings.
"""
import argparse
import io
import json
import os
import struct
import sys
import time
from decimal import Decimal

from confluent_kafka import Consumer, KafkaError, TopicPartition


def kafka_settings():
    conf = {"bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")}
    for name, value in os.environ.items():
        if name.startswith("KAFKA_PROP_") and len(name) > len("KAFKA_PROP_"):
            rest = name[len("KAFKA_PROP_"):].lower()
            prop = rest.replace("___", "\0").replace("__", "\1").replace("_", ".")
            conf[prop.replace("\0", "-").replace("\1", "_")] = value
    return conf


def read_topic(topic, idle_seconds, want):
    """Every message of `topic` from the start: stops `idle_seconds` after the last one once
    at least `want` were read (or after 120 s of nothing)."""
    conf = kafka_settings()
    conf.update({
        "group.id": f"finance-reader-{os.getpid()}-{time.time_ns()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer = Consumer(conf)
    metadata = consumer.list_topics(topic, timeout=30)
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        sys.exit(f"topic {topic} does not exist")
    partitions = [TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions]
    consumer.assign(partitions)
    messages, last = [], time.monotonic()
    while True:
        msg = consumer.poll(0.5)
        now = time.monotonic()
        if msg is None:
            quiet = now - last
            if (len(messages) >= want and quiet >= idle_seconds) or quiet >= 120:
                break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            sys.exit(f"consume error: {msg.error()}")
        messages.append(msg)
        last = now
    consumer.close()
    return messages


def avro_entries(messages, schema_dir):
    import fastavro

    parsed = {}
    entries = []
    for msg in messages:
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        value = msg.value()
        if headers.get("content-type") != "application/avro":
            sys.exit(f"offset {msg.offset()}: content-type {headers.get('content-type')!r}")
        if value[:2] != b"\xc3\x01":
            sys.exit(f"offset {msg.offset()}: not Avro single-object encoding")
        fingerprint = struct.unpack("<Q", value[2:10])[0]
        if f"{fingerprint:016x}" != headers["avro.schema.fingerprint"]:
            sys.exit(f"offset {msg.offset()}: header fingerprint differs from the message's")
        file = headers["avro.schema.file"]
        if file not in parsed:
            with open(os.path.join(schema_dir, file)) as f:
                parsed[file] = fastavro.parse_schema(json.load(f))
        record = fastavro.schemaless_reader(io.BytesIO(value[10:]), parsed[file], None)
        # fastavro gives datetimes; the JSON form has RFC 3339 strings. Only the fields
        # used below matter here.
        entries.append(record)
    return entries, sorted(parsed)


def summarise(entries):
    seen, lines, duplicates = {}, {}, 0
    for e in entries:
        if e["entry_id"] in seen:
            duplicates += 1
            continue
        seen[e["entry_id"]] = e
        exponent = e["currency_exponent"]
        amount = Decimal(e["amount"])
        if amount.scaleb(exponent) != Decimal(e["amount_minor"]):
            sys.exit(f"{e['entry_id']}: amount {e['amount']} is not amount_minor {e['amount_minor']} at exponent {exponent}")
        line = lines.get(e["commission_id"])
        if line is None or e["sequence"] > line["sequence"]:
            lines[e["commission_id"]] = {
                "sequence": e["sequence"],
                "status": e["to_status"],
                "amount": e["amount"],
                "amount_minor": e["amount_minor"],
                "currency": e["currency"],
            }
    # Sequences of a line are 1..n without gaps: nothing of a line is missing.
    by_line = {}
    for e in seen.values():
        by_line.setdefault(e["commission_id"], []).append(e["sequence"])
    gaps = [c for c, seqs in by_line.items() if sorted(seqs) != list(range(1, len(seqs) + 1))]
    totals = {}
    for line in lines.values():
        key = f"{line['status']}/{line['currency']}"
        totals[key] = totals.get(key, Decimal(0)) + Decimal(line["amount"])
    return {
        "entries": len(seen),
        "duplicates": duplicates,
        "lines": {c: [l["status"], l["amount_minor"], l["amount"]] for c, l in sorted(lines.items())},
        "lines_with_sequence_gaps": sorted(gaps),
        "totals": {k: str(v) for k, v in sorted(totals.items())},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=["avro", "json", "dead-letters"])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--schemas", default="schemas/avro", help="directory of the .avsc files")
    parser.add_argument("--want", type=int, default=0, help="read at least this many messages")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    args = parser.parse_args()
    messages = read_topic(args.topic, args.idle_seconds, args.want)
    if args.format == "avro":
        entries, files = avro_entries(messages, args.schemas)
        report = summarise(entries)
        report["schema_files"] = files
    elif args.format == "json":
        for msg in messages:
            headers = dict(msg.headers() or [])
            if headers.get("content-type") != b"application/json":
                sys.exit(f"offset {msg.offset()}: content-type {headers.get('content-type')!r}")
        report = summarise([json.loads(m.value()) for m in messages])
    else:
        letters = {}
        for m in messages:
            letter = json.loads(m.value())
            letters[letter["dead_letter_id"]] = letter
        report = {
            "dead_letters": len(letters),
            "by_reason": {},
        }
        for letter in letters.values():
            key = f"{letter['service']}/{letter['reason']}"
            report["by_reason"][key] = report["by_reason"].get(key, 0) + 1
    report["messages"] = len(messages)
    json.dump(report, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
