#!/usr/bin/env bash
# The pipeline's main job on the local stack, from a fresh machine:
#   1. install what is missing and start the broker and ClickHouse (stack.sh up),
#   2. build the services,
#   3. start ingest as its own process on a fresh set of topics,
#   4. send the bundled sample of raw events, wait until ingest consumed them all,
#   5. print what was accepted and rejected, and why; stop ingest.
# Later stages of the pipeline join this script as they are built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/deploy/local/stack.sh" up >/dev/null
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT"

say "Building the services (release)..."
cargo build --release --quiet -p ingest -p tests --bin ingest --bin demo

export TOPIC_NAMESPACE="demo$(date +%s)"
export INGEST_GROUP_ID="$TOPIC_NAMESPACE-ingest"
export INGEST_IP_HASH_KEY="${INGEST_IP_HASH_KEY:-demo-only-key-do-not-use-in-production}"
export ADMIN_LISTEN_ADDR="${ADMIN_LISTEN_ADDR:-127.0.0.1:9101}"
export LOG_LEVEL="${LOG_LEVEL:-info,rdkafka=warn}"
DEMO_DIR="$ATTRIB_STACK_DIR/demo"
mkdir -p "$DEMO_DIR"
LOG="$DEMO_DIR/ingest-$TOPIC_NAMESPACE.log"

target/release/ingest run >"$LOG" 2>&1 &
INGEST_PID=$!
trap 'kill -TERM $INGEST_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -fs "http://$ADMIN_LISTEN_ADDR/_readiness" >/dev/null 2>&1 && break
  kill -0 $INGEST_PID 2>/dev/null || { cat "$LOG" >&2; die "ingest exited during start-up (log above)"; }
  sleep 0.2
done
curl -fs "http://$ADMIN_LISTEN_ADDR/_readiness" >/dev/null || die "ingest did not become ready; see $LOG"
say "ingest is running (pid $INGEST_PID, admin http://$ADMIN_LISTEN_ADDR, log $LOG)"

target/release/demo deploy/local/sample/raw-events.ndjson "$ADMIN_LISTEN_ADDR"

kill -TERM $INGEST_PID
wait $INGEST_PID && say "ingest drained, committed and stopped cleanly." || say "ingest exited with status $?"
trap - EXIT

cat <<NEXT

Where to look next:
  - ingest's log:           $LOG
  - metrics while running:  curl http://$ADMIN_LISTEN_ADDR/metrics   (ingest_consumed_total, ingest_dead_lettered_total{reason=...})
  - backfill a file:        TOPIC_NAMESPACE=$TOPIC_NAMESPACE INGEST_IP_HASH_KEY=... target/release/ingest import FILE.ndjson
  - every setting:          target/release/ingest env
  - ClickHouse (for later stages): $(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?query=SELECT%20version()" 2>/dev/null || echo down) at http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
Stop the local stack with:  deploy/local/stack.sh down    (or purge, to delete its data too)
NEXT
