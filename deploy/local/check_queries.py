#!/usr/bin/env python3
"""Runs the ledger-writer's migrations and every documented query on an engine.

    check_queries.py http URL DATABASE   -- a ClickHouse server (the CI's 18.16)
    check_queries.py chdb                -- current ClickHouse embedded (pip install chdb-core)

Prints one line per statement and exits non-zero if any fails. Used by
tests/tests/clickhouse_queries.rs; run it by hand after editing a query.
"""
import pathlib
import re
import sys
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2] / "ledger-writer"


def statements(path):
    text = "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def queries(path):
    parts = re.split(r"^-- name: (\w+)\n", path.read_text(), flags=re.M)[1:]
    for name, body in zip(parts[0::2], parts[1::2]):
        yield name, statements_of(body)


def statements_of(body):
    text = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("--"))
    return text.strip().rstrip(";")


def main():
    if sys.argv[1] == "chdb":
        from chdb import session

        s = session.Session()
        db = "attrib_check"
        s.query(f"CREATE DATABASE IF NOT EXISTS {db}")
        s.query(f"USE {db}")

        def run(sql):
            s.query(sql, "CSV")

        engine = "chdb " + str(s.query("SELECT version()", "CSV")).strip()
    else:
        url, db = sys.argv[2], sys.argv[3]

        def post(sql, database):
            req = urllib.request.Request(f"{url}/?database={database}", data=sql.encode())
            try:
                return urllib.request.urlopen(req).read().decode()
            except urllib.error.HTTPError as e:
                raise RuntimeError(e.read().decode()[:500]) from None

        post(f"CREATE DATABASE IF NOT EXISTS {db}", "default")

        def run(sql):
            post(sql, db)

        engine = "server " + post("SELECT version()", "default").strip()
    failed = 0
    for migration in sorted((ROOT / "migrations").glob("*.sql")):
        for st in statements(migration):
            # As the ledger-writer's runner does (store/migrations.rs): statements may name
            # the database and its partner-safe twin.
            st = st.replace("{partner_database}", f"{db}_partner").replace("{database}", db)
            try:
                run(st)
            except Exception as e:  # noqa: BLE001 - report and go on
                failed += 1
                print(f"FAIL {migration.name}: {st[:60]}…: {e}")
        print(f"ok   {migration.name} on {engine}")
    # Retention of personal analytics data: TTLs on current servers, mutations on 18.16.
    retention = ROOT / "retention" / ("ttl.sql" if sys.argv[1] == "chdb" else "scheduled.sql")
    for st in statements(retention):
        st = st.replace("{days}", "395")
        try:
            run(st)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {retention.name}: {st[:60]}…: {e}")
    print(f"ok   {retention.name} on {engine}")
    for name, sql in queries(ROOT / "queries" / "ledger.sql"):
        try:
            run(sql)
            print(f"ok   query {name}")
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL query {name}: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
