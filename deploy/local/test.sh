#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, starts the local stack
# (if it is not running already), then runs, in order:
#   cargo fmt --check, cargo clippy -D warnings, unit, property, golden, interoperability and
#   integration tests on the real broker and ClickHouse, then the end-to-end chaos tests (five
#   service processes, ledger == oracle: 20k generated events without faults, then 100k while
#   services and the broker are killed with kill -9) on release builds.
# A stack this script started is stopped again at the end; one that was already up is left up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

started_stack=false
if ! "$REPO_ROOT/deploy/local/stack.sh" status | grep -q "broker: running"; then
  started_stack=true
fi
"$REPO_ROOT/deploy/local/stack.sh" up >/dev/null
if $started_stack; then
  trap '"$REPO_ROOT/deploy/local/stack.sh" down' EXIT
fi
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT"

say "== cargo fmt --check"
cargo fmt --all -- --check
say "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "== build (the crash tests start the service binaries)"
cargo build --workspace --bins --quiet
say "== tests (unit, property, golden, interoperability, integration on the real broker)"
log="$(mktemp)"
status=0
# The chaos tests time a live pipeline of five processes: they run next, on release builds.
cargo test --workspace -- --skip the_ledger_equals_the_oracle 2>&1 | tee "$log" || status=$?
say "== chaos (release builds, five service processes, ledger == oracle: 20k events; 100k events with kill -9 of services and the broker)"
cargo build --release --workspace --bins --quiet
cargo test --release -p tests --test chaos -- --test-threads=1 --nocapture 2>&1 | tee -a "$log" || status=$?
# One closing line with the totals of every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
