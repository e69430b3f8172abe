#!/usr/bin/env bash
# The pipeline's main job on the local stack, from a fresh machine:
#   1. install what is missing and start the broker and ClickHouse (stack.sh up),
#   2. build the services,
#   3. validate and publish the bundled reference data (2 brands, 56 partners, links, codes, rules),
#   4. start ingest, the enricher, the attributor and risk as their own processes on fresh topics,
#   5. send the bundled sample of raw events, wait until all consumed, attributed and scored them,
#   6. print what was accepted, enriched, attributed, decided and rejected, and why; stop them.
# Later stages of the pipeline join this script as they are built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/deploy/local/stack.sh" up >/dev/null
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT"

say "Building the services (release)..."
cargo build --release --quiet -p ingest -p enricher -p attributor -p risk -p reference -p tests \
  --bin ingest --bin enricher --bin attributor --bin risk --bin reference --bin demo

export TOPIC_NAMESPACE="demo$(date +%s)"
export INGEST_GROUP_ID="$TOPIC_NAMESPACE-ingest"
export ENRICHER_GROUP_ID="$TOPIC_NAMESPACE-enricher"
export ATTRIBUTOR_GROUP_ID="$TOPIC_NAMESPACE-attributor"
export RISK_GROUP_ID="$TOPIC_NAMESPACE-risk"
export RISK_ROUTER_GROUP_ID="$TOPIC_NAMESPACE-risk-router"
# The sample is history: attribute each conversion once its partition is quiet for 2 s.
export ATTRIBUTOR_IDLE_ADVANCE_SECONDS="${ATTRIBUTOR_IDLE_ADVANCE_SECONDS:-2}"
export INGEST_IP_HASH_KEY="${INGEST_IP_HASH_KEY:-demo-only-key-do-not-use-in-production}"
export LOG_LEVEL="${LOG_LEVEL:-info,rdkafka=warn}"
INGEST_ADMIN="${INGEST_ADMIN:-127.0.0.1:9101}"
ENRICHER_ADMIN="${ENRICHER_ADMIN:-127.0.0.1:9102}"
ATTRIBUTOR_ADMIN="${ATTRIBUTOR_ADMIN:-127.0.0.1:9103}"
RISK_ADMIN="${RISK_ADMIN:-127.0.0.1:9104}"
DEMO_DIR="$ATTRIB_STACK_DIR/demo"
mkdir -p "$DEMO_DIR"
REFERENCE_FILE=deploy/local/sample/reference.toml

say "Publishing the reference data ($REFERENCE_FILE)..."
target/release/reference publish "$REFERENCE_FILE"

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT
# start NAME ADMIN_ADDR: runs target/release/NAME with its log under $DEMO_DIR, waits until ready.
start() {
  local name=$1 admin=$2 log="$DEMO_DIR/$1-$TOPIC_NAMESPACE.log"
  ADMIN_LISTEN_ADDR="$admin" "target/release/$name" run >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    curl -fs "http://$admin/_readiness" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited during start-up (log above)"; }
    sleep 0.2
  done
  curl -fs "http://$admin/_readiness" >/dev/null || die "$name did not become ready; see $log"
  say "$name is running (pid $pid, admin http://$admin, log $log)"
}
start ingest "$INGEST_ADMIN"
start enricher "$ENRICHER_ADMIN"
start attributor "$ATTRIBUTOR_ADMIN"
start risk "$RISK_ADMIN"

target/release/demo deploy/local/sample/raw-events.ndjson "$INGEST_ADMIN" "$ENRICHER_ADMIN" "$ATTRIBUTOR_ADMIN" "$RISK_ADMIN"

NAMES=(ingest enricher attributor risk)
for i in "${!PIDS[@]}"; do
  name=${NAMES[$i]}
  kill -TERM "${PIDS[$i]}"
  wait "${PIDS[$i]}" && say "$name drained, committed and stopped cleanly." || say "$name exited with status $?"
done
trap - EXIT

cat <<NEXT

Where to look next:
  - the services' logs:     $DEMO_DIR/{ingest,enricher,attributor,risk}-$TOPIC_NAMESPACE.log
  - metrics while running:  curl http://$INGEST_ADMIN/metrics, http://$ENRICHER_ADMIN/metrics, http://$ATTRIBUTOR_ADMIN/metrics,
                            http://$RISK_ADMIN/metrics
                            (ingest_dead_lettered_total{reason=...}, enricher_enriched_total{outcome=...},
                             attributor_unattributed_total{reason=...}, risk_reasons_total{code=...})
  - the reference data:     $REFERENCE_FILE (every field: reference/example.toml);
                            edit it, then: TOPIC_NAMESPACE=$TOPIC_NAMESPACE target/release/reference publish $REFERENCE_FILE
  - backfill a file:        TOPIC_NAMESPACE=$TOPIC_NAMESPACE INGEST_IP_HASH_KEY=... target/release/ingest import FILE.ndjson
  - every setting:          target/release/ingest env, target/release/enricher env, target/release/attributor env, target/release/risk env
  - ClickHouse (for later stages): $(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?query=SELECT%20version()" 2>/dev/null || echo down) at http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
Stop the local stack with:  deploy/local/stack.sh down    (or purge, to delete its data too)
NEXT
