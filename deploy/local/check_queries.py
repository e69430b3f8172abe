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
            return str(s.query(sql, "TSV"))

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
            return post(sql + " FORMAT TSV" if sql.lstrip().upper().startswith("SELECT") else sql, db)

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
    for st in FIXTURE:
        run(st)
    for name, sql in queries(ROOT / "queries" / "ledger.sql"):
        try:
            out = run(sql)
            for pattern, present in EXPECT.get(name, []):
                if bool(re.search(pattern, out, flags=re.M)) != present:
                    raise RuntimeError(f"{'missing' if present else 'unexpected'} {pattern!r} in:\n{out}")
            print(f"ok   query {name}")
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL query {name}: {e}")
    sys.exit(1 if failed else 0)


# A few rows that make the queries' hard cases visible: one partner id in two programs with
# different flags (and one outside the level's window), and an order sent twice.
FIXTURE = [
    "INSERT INTO risk_levels (subject_id, program_id, partner_id, level, risk_percent, "
    "scored_actions, flagged_actions, window_days, updated_at, updated_at_ms) VALUES "
    "('a/p-x', 'prog-a', 'p-x', 'high', 50, 2, 1, 30, toDateTime('2026-06-30 00:00:00'), 1), "
    "('b/p-x', 'prog-b', 'p-x', 'high', 100, 1, 1, 30, toDateTime('2026-06-30 00:00:00'), 1)",
    "INSERT INTO risk_scores (action_id, attribution_id, program_id, partner_id, order_id, action, "
    "occurred_at, flagged, reason_codes, reason_measured, reason_thresholds, reason_details, scored_at) VALUES "
    "('act-1', 'att-1', 'prog-a', 'p-x', 'o-1', 'credit', toDateTime('2026-06-20 00:00:00'), 1, ['bot_traffic'], [], [], [], now()), "
    "('act-2', 'att-2', 'prog-b', 'p-x', 'o-2', 'credit', toDateTime('2026-06-21 00:00:00'), 1, ['code_leak'], [], [], [], now()), "
    "('act-0', 'att-0', 'prog-a', 'p-x', 'o-0', 'credit', toDateTime('2026-01-02 00:00:00'), 1, ['stale_window_code'], [], [], [], now())",
    "INSERT INTO conversions (event_id, program_id, kind, order_id, occurred_at, occurred_at_ms, "
    "amount_minor, amount, currency, channel) VALUES "
    "('e-1', 'prog-a', 'conversion', 'o-77', toDateTime('2026-06-20 10:00:00'), 1781949600000, 1234, 12.34, 'EUR', 'referral'), "
    "('e-1-resent', 'prog-a', 'conversion', 'o-77', toDateTime('2026-06-20 10:05:00'), 1781949900000, 1234, 12.34, 'EUR', 'referral')",
]

# (pattern, whether a line must match it) in a query's TSV output; decimals print as 50 or
# 50.00 depending on the server.
EXPECT = {
    "risk_summary": [
        (r"^a/p-x\tprog-a\tp-x\t.*\t\['bot_traffic'\]\t\[1\]$", True),
        (r"^b/p-x\tprog-b\tp-x\t.*\t\['code_leak'\]\t\[1\]$", True),
        (r"stale_window_code", False),
    ],
    "orders_by_month": [(r"^prog-a\t2026-06-01\tEUR\tconversion\t1\t12\.34(00)?$", True)],
}


if __name__ == "__main__":
    main()
