#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping whatever is already there:
#   - ClickHouse server + client (Debian's clickhouse-server 18.16, apt); sqlite3 (apt), which
#     adds indexes to the broker's storage; openssl and stunnel4 (apt) for the secure broker
#     (TLS + SASL SCRAM) and ClickHouse over HTTPS
#   - Debian's Chromium, for the partner portal's headless browser test
#   - the C libraries the Kafka client is built with: OpenSSL (TLS, SCRAM), libcurl (OAUTHBEARER
#     with OIDC), zlib; pkg-config to find them
#   - the tansu Kafka-API broker, built once into $ATTRIB_CACHE_DIR (~10 min cold)
#   - Python packages for the interoperability tests (fastavro, jsonschema, confluent-kafka, standardwebhooks: the
#     finance consumer's client) and current
#     ClickHouse embedded (chdb-core) for the query checks
# Safe to run repeatedly.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "Installing ${missing[*]} with apt..."
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install clickhouse-server clickhouse-client iproute2 curl sqlite3 openssl stunnel4 \
  libssl-dev libcurl4-openssl-dev zlib1g-dev pkg-config
# Debian's Chromium (and a font to render text with) for the partner portal's browser test.
apt_install chromium fonts-dejavu-core

if [ ! -x "$TANSU_BIN" ]; then
  say "Building the tansu broker $TANSU_VERSION (patched) into $ATTRIB_CACHE_DIR (about 10 minutes, once)..."
  mkdir -p "$ATTRIB_CACHE_DIR"
  # tansu-broker's group coordinator can keep a leader that is no longer a member, after which
  # no member of that group is ever assigned anything (deploy/BROKER.md): the patch makes the
  # group elect a new leader. The crate comes from crates.io, checked against its index checksum.
  src="$ATTRIB_CACHE_DIR/$TANSU_BUILD.src"
  rm -rf "$src" && mkdir -p "$src"
  curl -fsSL -o "$src/broker.crate" \
    "https://static.crates.io/crates/tansu-broker/tansu-broker-$TANSU_VERSION.crate"
  if [ "$TANSU_VERSION" = 0.6.0 ]; then
    echo "93c1e91b40c2a706dfdbe9a795c08c70918c874ad23f6e0e87564cc0a180e720  $src/broker.crate" \
      | sha256sum -c --quiet - || die "tansu-broker $TANSU_VERSION does not match its crates.io checksum"
  fi
  tar xzf "$src/broker.crate" -C "$src"
  patch -s -p1 -d "$src/tansu-broker-$TANSU_VERSION" < "$REPO_ROOT/deploy/local/tansu/group-leader.patch"
  # dynostore and libsql are needed: the default features give a binary that cannot start.
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore,libsql \
    --config "patch.crates-io.tansu-broker.path=\"$src/tansu-broker-$TANSU_VERSION\"" \
    --root "$ATTRIB_CACHE_DIR/$TANSU_BUILD.partial" >&2
  mv "$ATTRIB_CACHE_DIR/$TANSU_BUILD.partial" "$ATTRIB_CACHE_DIR/$TANSU_BUILD"
  rm -rf "$src"
fi

if ! python3 -c 'import fastavro, jsonschema, yaml, confluent_kafka, standardwebhooks' 2>/dev/null; then
  say "Installing fastavro, jsonschema, PyYAML, confluent-kafka and standardwebhooks with pip..."
  python3 -m pip install -q --disable-pip-version-check fastavro jsonschema pyyaml confluent-kafka standardwebhooks >&2
fi
# Current ClickHouse, embedded: the test suite checks the migrations and documented queries
# on it as well as on Debian's 18.16 server (a ~180 MB wheel).
if ! python3 -c 'import chdb' 2>/dev/null; then
  say "Installing chdb-core (current ClickHouse, embedded) with pip..."
  python3 -m pip install -q --disable-pip-version-check chdb-core >&2
fi
say "Local stack prerequisites are installed."
