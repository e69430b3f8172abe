#!/usr/bin/env python3
"""Times tansu's own compaction query on a synthetic sqlite file, with and without the index
stack.sh adds — the measurement behind deploy/BROKER.md.

    python3 deploy/local/probe_compaction.py RECORDS KEYS [--index]

Builds one compacted partition of RECORDS records over KEYS keys with tansu's schema, then runs
tansu's `policy_compact.sql` the way its storage maintenance does. Both SQL files are read from
the tansu-storage crate that `deploy/local/install.sh` built the broker from (cargo's registry).
"""
import argparse
import glob
import os
import re
import sqlite3
import tempfile
import time

INDEX = "CREATE INDEX attrib_record_key ON record (topition, k, offset_id)"


def tansu_sql_dir():
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(glob.glob(f"{home}/registry/src/*/tansu-storage-0.6.0/src"))
    if not found:
        raise SystemExit("tansu-storage 0.6.0 sources not found; run deploy/local/install.sh first")
    return found[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=int)
    parser.add_argument("keys", type=int)
    parser.add_argument("--index", action="store_true", help="add stack.sh's index first")
    args = parser.parse_args()
    src = tansu_sql_dir()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(f"{tmp}/tansu.db")
        for ddl in sorted(glob.glob(f"{src}/ddl/*.sql")):
            db.executescript(open(ddl).read())
        db.execute("INSERT INTO cluster (name) VALUES ('tansu_cluster')")
        db.execute(
            "INSERT INTO topic (cluster, name, uuid, partitions, replication_factor, is_internal)"
            " VALUES (1, 'changelog', 'u', 1, 1, 0)"
        )
        db.execute("INSERT INTO topition (topic, partition) VALUES (1, 0)")
        db.execute(
            "INSERT INTO topic_configuration (topic, name, value)"
            " VALUES (1, 'cleanup.policy', 'compact')"
        )
        db.executemany(
            "INSERT INTO record (topition, offset_id, k, v, timestamp) VALUES (1, ?, ?, ?, 0)",
            ((i, b"key%d" % (i % args.keys), b"x" * 200) for i in range(args.records)),
        )
        if args.index:
            db.execute(INDEX)
        db.commit()
        db.execute("PRAGMA foreign_keys = ON")  # as tansu runs it
        compact = re.sub(r"\$(\d+)", r"?\1", open(f"{src}/sql/policy_compact.sql").read())
        started = time.monotonic()
        db.execute(compact, ("tansu_cluster",))
        db.commit()
        seconds = time.monotonic() - started
        left = db.execute("SELECT count(*) FROM record").fetchone()[0]
        print(
            f"{args.records} records, {args.keys} keys, index {'yes' if args.index else 'no'}: "
            f"compaction took {seconds:.2f} s, {left} records left"
        )


if __name__ == "__main__":
    main()
