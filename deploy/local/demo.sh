#!/usr/bin/env bash
# The pipeline's main job on the local stack, from a fresh machine:
#   1. install what is missing and start the broker and ClickHouse (stack.sh up),
#   2. build the services,
#   3. validate and publish the bundled reference data (2 brands, 56 partners, links, codes, rules),
#   4. start ingest, the enricher, the attributor, risk and the ledger-writer as their own processes
#      on fresh topics and a fresh ClickHouse database,
#   5. generate a workload with the load generator (DEMO_EVENTS, default 30000; DEMO_SEED, 7),
#      replay its first 50 days with a progress display, wait for the ledger, run and settle the
#      payouts for that period, replay the rest (refunds of paid orders become clawbacks),
#   6. check the ledger against the generator's oracle and print the report: per program and
#      partner conversions, commissions by status, Risk % and level; one payout traced to its
#      commissions and touchpoints;
#   7. the specialist marketplace: the trust service (started with the others) ranks the
#      reference data's specialists from their profiles, verification commands, reviews of the
#      orders they were credited for and what the pipeline recorded; prints each program's
#      ranking with its components and one specialist's verification history (DEMO_MARKETPLACE=no
#      skips it); then stop the services and say where to look next.
# DEMO_SECURE=yes runs it all over TLS + SASL SCRAM and ClickHouse HTTPS (stack.sh env-secure).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/deploy/local/stack.sh" up >/dev/null
if [ "${DEMO_SECURE:-no}" = yes ]; then
  # The secure side of the stack: TLS (the stack's own CA) + SASL SCRAM to Kafka, HTTPS with a
  # user to ClickHouse: the variables a managed service needs (deploy/README.md).
  eval "$("$REPO_ROOT/deploy/local/stack.sh" env-secure)"
  say "Secure run: Kafka $KAFKA_BOOTSTRAP_SERVERS over TLS + SCRAM, ClickHouse $CLICKHOUSE_URL."
else
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT"
  export CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT"
fi

say "Building the services (release)..."
cargo build --release --quiet -p ingest -p enricher -p attributor -p risk -p ledger-writer -p partner-api -p reference \
  -p trust -p loadgen -p tests --bin ingest --bin enricher --bin attributor --bin risk --bin ledger-writer --bin partner-api \
  --bin trust --bin reference --bin loadgen --bin demo

export TOPIC_NAMESPACE="demo$(date +%s)"
export INGEST_GROUP_ID="$TOPIC_NAMESPACE-ingest"
export ENRICHER_GROUP_ID="$TOPIC_NAMESPACE-enricher"
export ATTRIBUTOR_GROUP_ID="$TOPIC_NAMESPACE-attributor"
export RISK_GROUP_ID="$TOPIC_NAMESPACE-risk"
export RISK_ROUTER_GROUP_ID="$TOPIC_NAMESPACE-risk-router"
export LEDGER_GROUP_ID="$TOPIC_NAMESPACE-ledger"
export LEDGER_ANALYTICS_GROUP_ID="$TOPIC_NAMESPACE-ledger-analytics"
export TRUST_GROUP_ID="$TOPIC_NAMESPACE-trust"
export TRUST_ROUTER_GROUP_ID="$TOPIC_NAMESPACE-trust-router"
export CLICKHOUSE_DATABASE="attrib_$TOPIC_NAMESPACE"
# The workload is history: attribute pending conversions once their partition is quiet for 2 s.
export ATTRIBUTOR_IDLE_ADVANCE_SECONDS="${ATTRIBUTOR_IDLE_ADVANCE_SECONDS:-2}"
# A random IP-hash key per stack directory, made once (ingest refuses placeholders and raw text).
IP_HASH_KEY_FILE="$ATTRIB_STACK_DIR/ip-hash.key"
[ -s "$IP_HASH_KEY_FILE" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$IP_HASH_KEY_FILE")
export INGEST_IP_HASH_KEY="${INGEST_IP_HASH_KEY:-$(cat "$IP_HASH_KEY_FILE")}"
# The demo pays out as principal `finance`, whose key the ledger knows (commands are signed).
COMMAND_KEY_FILE="$ATTRIB_STACK_DIR/finance-command.key"
[ -s "$COMMAND_KEY_FILE" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$COMMAND_KEY_FILE")
export LEDGER_COMMAND_PRINCIPAL=finance
export LEDGER_COMMAND_KEY="$(cat "$COMMAND_KEY_FILE")"
export LEDGER_COMMAND_KEYS="finance:$LEDGER_COMMAND_KEY"
# Reference data is signed by `platform`; the services apply only its records.
PUBLISHER_KEY_FILE="$ATTRIB_STACK_DIR/platform-publisher.key"
[ -s "$PUBLISHER_KEY_FILE" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$PUBLISHER_KEY_FILE")
export REFERENCE_PUBLISH_PRINCIPAL=platform
export REFERENCE_PUBLISH_KEY="$(cat "$PUBLISHER_KEY_FILE")"
export REFERENCE_PUBLISHER_KEYS="platform:$REFERENCE_PUBLISH_KEY"
export LOG_LEVEL="${LOG_LEVEL:-info,rdkafka=warn}"
INGEST_ADMIN="${INGEST_ADMIN:-127.0.0.1:9101}"
ENRICHER_ADMIN="${ENRICHER_ADMIN:-127.0.0.1:9102}"
ATTRIBUTOR_ADMIN="${ATTRIBUTOR_ADMIN:-127.0.0.1:9103}"
RISK_ADMIN="${RISK_ADMIN:-127.0.0.1:9104}"
LEDGER_ADMIN="${LEDGER_ADMIN:-127.0.0.1:9105}"
PARTNER_API_ADMIN="${PARTNER_API_ADMIN:-127.0.0.1:9106}"
TRUST_ADMIN="${TRUST_ADMIN:-127.0.0.1:9107}"
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
  local ready=false
  for _ in $(seq 1 300); do
    curl -fs "http://$admin/_readiness" >/dev/null 2>&1 && { ready=true; break; }
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited during start-up (log above)"; }
    sleep 0.2
  done
  $ready || die "$name did not become ready; see $log"
  say "$name is running (pid $pid, admin http://$admin, log $log)"
}
start ingest "$INGEST_ADMIN"
start enricher "$ENRICHER_ADMIN"
start attributor "$ATTRIBUTOR_ADMIN"
start risk "$RISK_ADMIN"
start ledger-writer "$LEDGER_ADMIN"
start trust "$TRUST_ADMIN"

target/release/demo "$REFERENCE_FILE" "$DEMO_DIR/workload-$TOPIC_NAMESPACE"

# The partner whose payout was traced, as they see it: a token of theirs and the partner API.
PORTAL_NOTE="(no completed payout, so no partner to show)"
if [ -s "$DEMO_DIR/workload-$TOPIC_NAMESPACE/portal-partner" ]; then
  read -r PORTAL_PROGRAM PORTAL_PARTNER < "$DEMO_DIR/workload-$TOPIC_NAMESPACE/portal-partner" || [ -n "${PORTAL_PARTNER:-}" ]
  PORTAL_TOKEN=$(target/release/partner-api token issue --program "$PORTAL_PROGRAM" --partner "$PORTAL_PARTNER" \
    --actor demo --label "demo portal" | tail -1)
  export PARTNER_API_LISTEN_ADDR="${PARTNER_API_LISTEN_ADDR:-127.0.0.1:8480}"
  start partner-api "$PARTNER_API_ADMIN"
  lines=$(curl -fs -H "Authorization: Bearer $PORTAL_TOKEN" \
    "http://$PARTNER_API_LISTEN_ADDR/v1/programs/$PORTAL_PROGRAM/partners/$PORTAL_PARTNER/statement?limit=500" \
    | grep -o '"commission_id"' | wc -l) || die "the partner API did not answer the statement"
  say "partner-api answered $PORTAL_PARTNER's statement with $lines lines."
  PORTAL_NOTE="start it again with:  CLICKHOUSE_DATABASE=$CLICKHOUSE_DATABASE TOPIC_NAMESPACE=$TOPIC_NAMESPACE target/release/partner-api
                            then open http://$PARTNER_API_LISTEN_ADDR/portal#token=$PORTAL_TOKEN&program=$PORTAL_PROGRAM&partner=$PORTAL_PARTNER
                            (the API: partner-api/README.md and http://$PARTNER_API_LISTEN_ADDR/v1/openapi.json)"
fi

NAMES=(ingest enricher attributor risk ledger-writer trust partner-api)
for i in "${!PIDS[@]}"; do
  name=${NAMES[$i]}
  kill -TERM "${PIDS[$i]}"
  wait "${PIDS[$i]}" && say "$name drained, committed and stopped cleanly." || say "$name exited with status $?"
done
trap - EXIT

cat <<NEXT

Where to look next:
  - ClickHouse:             clickhouse-client --port $CLICKHOUSE_TCP_PORT -d $CLICKHOUSE_DATABASE
                            (or curl 'http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=$CLICKHOUSE_DATABASE' --data-binary 'SELECT ...');
                            the queries for people are in ledger-writer/queries/ledger.sql
                            (partner statement with evidence, payout trace, reconciliation, risk summary, performance by channel,
                             orders by month; their example ids are this demo's); dead letters with their reasons: SELECT * FROM dead_letters
  - the workload:           $DEMO_DIR/workload-$TOPIC_NAMESPACE/{workload.ndjson,expected.json}
                            (replay it again: TOPIC_NAMESPACE=... target/release/loadgen replay DIR --rate 2000)
  - the services' logs:     $DEMO_DIR/{ingest,enricher,attributor,risk,ledger-writer,trust}-$TOPIC_NAMESPACE.log
  - the marketplace:        SELECT * FROM ${CLICKHOUSE_DATABASE}_partner.trust_specialists FINAL; SELECT * FROM trust_verification FINAL
                            (trust/README.md; the partner API: GET /v1/programs/PROGRAM/specialists)
  - metrics while running:  http://$INGEST_ADMIN/metrics, http://$ENRICHER_ADMIN/metrics, http://$ATTRIBUTOR_ADMIN/metrics,
                            http://$RISK_ADMIN/metrics, http://$LEDGER_ADMIN/metrics (every service: /_liveness, /_readiness)
  - the partner portal:     $PORTAL_NOTE
  - the reference data:     $REFERENCE_FILE (every field: reference/example.toml)
  - every setting:          target/release/<service> env
  - run it in production:   deploy/README.md (Kubernetes, Prometheus alerts, Grafana, operations guide)
The services are stopped. Stop the local stack with:  deploy/local/stack.sh down    (or purge, to delete its data too)
NEXT
