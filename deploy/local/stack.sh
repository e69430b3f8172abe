#!/usr/bin/env bash
# Starts and stops the local stack on 127.0.0.1 under $ATTRIB_STACK_DIR, no Docker: a tansu
# broker (sqlite storage), a ClickHouse server (HTTP, and HTTPS with the stack's own CA), and a
# secure broker (TLS + SASL SCRAM, the way managed Kafka services are reached).
#
#   deploy/local/stack.sh up        install what is missing, start everything, wait until ready
#   deploy/local/stack.sh down      stop everything (by PID); data stays
#   deploy/local/stack.sh purge     stop everything and delete its data
#   deploy/local/stack.sh status    say what runs
#   deploy/local/stack.sh env       print the plaintext connection settings as shell exports
#   deploy/local/stack.sh env-secure   the same for TLS + SCRAM and HTTPS: the variables a
#                                   managed service needs (deploy/README.md), with local values
#   deploy/local/stack.sh restart-broker   kill -9 the broker and start it again (chaos tests)
#   deploy/local/stack.sh stop-broker      kill -9 the broker and leave it down (outage tests)
#   deploy/local/stack.sh start-broker     start the broker again (data kept)
#
# `up` is idempotent: what already runs is left alone. A port held by another program is an
# error naming that program.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BROKER_DIR="$ATTRIB_STACK_DIR/broker"
CH_DIR="$ATTRIB_STACK_DIR/clickhouse"
TLS_DIR="$ATTRIB_STACK_DIR/tls"
SECURE_DIR="$ATTRIB_STACK_DIR/secure-broker"

print_env() {
  cat <<ENV
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$BROKER_PORT
export CLICKHOUSE_URL=http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
export ATTRIB_STACK_DIR=$ATTRIB_STACK_DIR
ENV
}

print_secure_env() {
  local password; password="$(cat "$TLS_DIR/password")"
  cat <<ENV
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$BROKER_TLS_PORT
export KAFKA_PROP_SECURITY_PROTOCOL=SASL_SSL
export KAFKA_PROP_SASL_MECHANISM=SCRAM-SHA-512
export KAFKA_PROP_SASL_USERNAME=$SECURE_USER
export KAFKA_PROP_SASL_PASSWORD='$password'
export KAFKA_PROP_SSL_CA_LOCATION=$TLS_DIR/ca.pem
export CLICKHOUSE_URL=https://127.0.0.1:$CLICKHOUSE_HTTPS_PORT
export CLICKHOUSE_USER=$SECURE_USER
export CLICKHOUSE_PASSWORD='$password'
export CLICKHOUSE_CA_FILE=$TLS_DIR/ca.pem
export CLICKHOUSE_ANALYST_PASSWORD=$(reader_password analyst)
export CLICKHOUSE_PARTNER_READER_PASSWORD=$(reader_password partner_reader)
export CLICKHOUSE_PARTNER_API_PASSWORD=$(reader_password partner_api)
ENV
}

# The restricted ClickHouse users' passwords (deploy/README.md#clickhouse-users), one file each,
# made once per stack directory.
reader_password() { # user
  local file="$TLS_DIR/$1.password"
  [ -s "$file" ] || (umask 077 && openssl rand -hex 16 > "$file")
  cat "$file"
}

# A private CA, a certificate for 127.0.0.1/localhost signed by it, and the secure user's
# password: made once per stack directory, never committed. The password has a comma and a
# semicolon on purpose: values are taken verbatim.
make_tls() {
  [ -f "$TLS_DIR/password" ] && return 0
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem \
      -subj "/CN=attrib local stack CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 600 ca.key server.key
    printf 'pw,%s;x' "$(openssl rand -hex 12)" > password.new && chmod 600 password.new && mv password.new password
  ) || die "could not make the stack's TLS certificates in $TLS_DIR"
}

wait_for() { # description, seconds, command...
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "$what did not become ready within ${seconds}s"
    sleep 0.2
  done
}

claim_port() { # port, pidfile, name
  if port_open "$1" && ! running_pid "$2" >/dev/null; then
    die "port $1 (for $3) is taken by another process: $(port_owner "$1" || echo unknown). Stop it or set the port variable (see deploy/local/common.sh)."
  fi
}

# tansu 0.6.0's sqlite schema has no index on a record's key nor on a header's record, and
# its storage maintenance (compaction, at start and every maintenance interval) joins on both:
# without them compaction is quadratic in a partition's size and blocks every request, so a
# million-event run stops answering metadata (deploy/BROKER.md has the measurements).
BROKER_SQLITE_INDEXES="
CREATE INDEX IF NOT EXISTS attrib_record_key ON record (topition, k, offset_id);
CREATE INDEX IF NOT EXISTS attrib_header_record ON header (topition, offset_id);"

sqlite_file() { # the database file of a sqlite:// storage URL, relative to the broker's dir
  case "$BROKER_STORAGE" in
    sqlite://*) local path="${BROKER_STORAGE#sqlite://}"; echo "$BROKER_DIR/${path%%\?*}" ;;
    *) return 1 ;;
  esac
}

add_sqlite_indexes() { # [database file]: the main broker's by default
  local db="${1:-}"
  [ -n "$db" ] || db=$(sqlite_file) || return 0
  [ -f "$db" ] && [ "$BROKER_INDEXES" = yes ] || return 0
  # Waits for the broker's own writes (busy timeout); instant on a new file, seconds on a
  # big one that never had them.
  sqlite3 -cmd ".timeout 60000" "$db" "$BROKER_SQLITE_INDEXES" >/dev/null \
    || die "could not add the storage indexes to $db"
}

start_broker() {
  if pid=$(running_pid "$BROKER_DIR/tansu.pid"); then
    say "broker already running (pid $pid)"; return
  fi
  claim_port "$BROKER_PORT" "$BROKER_DIR/tansu.pid" broker
  [ -x "$TANSU_BIN" ] || die "tansu is not installed at $TANSU_BIN; run deploy/local/install.sh"
  mkdir -p "$BROKER_DIR"
  # An existing file gets them before the broker opens it; a new one right after the broker
  # created its tables.
  add_sqlite_indexes
  # BROKER_LOG is the broker's tracing filter (RUST_LOG syntax); empty logs errors only.
  (cd "$BROKER_DIR" && RUST_LOG="${BROKER_LOG:-}" exec nohup "$TANSU_BIN" broker \
      --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --storage-engine "$BROKER_STORAGE" >>tansu.log 2>&1 </dev/null) &
  echo $! > "$BROKER_DIR/tansu.pid"
  wait_for "broker on port $BROKER_PORT" 30 port_open "$BROKER_PORT"
  add_sqlite_indexes
  say "broker started (pid $(cat "$BROKER_DIR/tansu.pid"), log $BROKER_DIR/tansu.log)"
}

tansu_at() { # dir, port, advertised port, extra args...: starts tansu in the background
  local dir="$1" port="$2" advertised="$3"; shift 3
  (cd "$dir" && exec nohup "$TANSU_BIN" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$advertised" \
      --storage-engine "sqlite://tansu.db?maintenance_interval=1m" "$@" >>tansu.log 2>&1 </dev/null) &
  echo $!
}

# The secure broker: stunnel terminates TLS (the stack's certificate) on BROKER_TLS_PORT and
# hands the stream to a tansu that requires SASL (SCRAM users stored in its own sqlite file).
# Clients are told to reconnect to the TLS port (advertised listener).
start_secure_broker() {
  if pid=$(running_pid "$SECURE_DIR/tansu.pid") && running_pid "$SECURE_DIR/stunnel.pid" >/dev/null; then
    say "secure broker already running (pid $pid)"; return
  fi
  stop_pid "$SECURE_DIR/stunnel.pid" stunnel
  stop_pid "$SECURE_DIR/tansu.pid" "secure broker"
  claim_port "$BROKER_SASL_PORT" "$SECURE_DIR/tansu.pid" "secure broker"
  claim_port "$BROKER_TLS_PORT" "$SECURE_DIR/stunnel.pid" "secure broker TLS"
  mkdir -p "$SECURE_DIR"
  if [ ! -f "$SECURE_DIR/users.done" ]; then
    # Users are created through the Kafka API, which needs a broker that does not yet
    # require authentication: once, on a new storage file.
    local pid; pid=$(tansu_at "$SECURE_DIR" "$BROKER_SASL_PORT" "$BROKER_SASL_PORT")
    echo "$pid" > "$SECURE_DIR/tansu.pid"
    wait_for "secure broker set-up on port $BROKER_SASL_PORT" 30 port_open "$BROKER_SASL_PORT"
    for mechanism in scram256 scram512; do
      "$TANSU_BIN" user create --broker "tcp://127.0.0.1:$BROKER_SASL_PORT" --mechanism "$mechanism" \
        "$SECURE_USER" "$(cat "$TLS_DIR/password")" >>"$SECURE_DIR/tansu.log" 2>&1 \
        || die "could not create the SCRAM user on the secure broker (log $SECURE_DIR/tansu.log)"
    done
    stop_pid "$SECURE_DIR/tansu.pid" "secure broker set-up"
    touch "$SECURE_DIR/users.done"
  fi
  # The same storage indexes as the main broker: without them its compaction stalls it too
  # (and a stalled storage fails SCRAM logins as "unsupported mechanism").
  add_sqlite_indexes "$SECURE_DIR/tansu.db"
  tansu_at "$SECURE_DIR" "$BROKER_SASL_PORT" "$BROKER_TLS_PORT" --authentication > "$SECURE_DIR/tansu.pid"
  wait_for "secure broker on port $BROKER_SASL_PORT" 30 port_open "$BROKER_SASL_PORT"
  cat > "$SECURE_DIR/stunnel.conf" <<CONF
foreground = yes
pid =
output = $SECURE_DIR/stunnel.log
debug = warning
[kafka]
accept = 127.0.0.1:$BROKER_TLS_PORT
connect = 127.0.0.1:$BROKER_SASL_PORT
cert = $TLS_DIR/server.pem
key = $TLS_DIR/server.key
sslVersionMin = TLSv1.2
CONF
  (exec nohup stunnel "$SECURE_DIR/stunnel.conf" >>"$SECURE_DIR/stunnel.log" 2>&1 </dev/null) &
  echo $! > "$SECURE_DIR/stunnel.pid"
  wait_for "secure broker TLS on port $BROKER_TLS_PORT" 30 port_open "$BROKER_TLS_PORT"
  say "secure broker started (TLS on $BROKER_TLS_PORT, SASL SCRAM; pids $(cat "$SECURE_DIR/tansu.pid") $(cat "$SECURE_DIR/stunnel.pid"))"
}

write_clickhouse_config() {
  mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
  cat > "$CH_DIR/config.xml" <<XML
<?xml version="1.0"?>
<!-- Generated by deploy/local/stack.sh. Runs on Debian's 18.16 and on current releases. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>$CH_DIR/log/server.log</log>
    <errorlog>$CH_DIR/log/error.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
  <https_port>$CLICKHOUSE_HTTPS_PORT</https_port>
  <openSSL>
    <server>
      <certificateFile>$TLS_DIR/server.pem</certificateFile>
      <privateKeyFile>$TLS_DIR/server.key</privateKeyFile>
      <verificationMode>none</verificationMode>
      <loadDefaultCAFile>false</loadDefaultCAFile>
      <cacheSessions>true</cacheSessions>
      <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
      <preferServerCiphers>true</preferServerCiphers>
    </server>
  </openSSL>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <path>$CH_DIR/data/</path>
  <tmp_path>$CH_DIR/tmp/</tmp_path>
  <user_files_path>$CH_DIR/user_files/</user_files_path>
  <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
  <users_config>$CH_DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
XML
  cat > "$CH_DIR/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage></default>
    <!-- readonly=1: SELECT only, and no changing settings either. -->
    <readonly><max_memory_usage>4000000000</max_memory_usage><readonly>1</readonly></readonly>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <$SECURE_USER>
      <password_sha256_hex>$(tr -d '\n' < "$TLS_DIR/password" | sha256sum | cut -d' ' -f1)</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </$SECURE_USER>
    <!-- Analysts read every database; they cannot write or change anything. -->
    <analyst>
      <password_sha256_hex>$(reader_password analyst | tr -d '\n' | sha256sum | cut -d' ' -f1)</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>readonly</profile>
      <quota>default</quota>
    </analyst>
    <!-- Partner-facing readers (the partner API) see the partner-safe database only. -->
    <partner_reader>
      <password_sha256_hex>$(reader_password partner_reader | tr -d '\n' | sha256sum | cut -d' ' -f1)</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>readonly</profile>
      <quota>default</quota>
      <allow_databases><database>attrib_partner</database></allow_databases>
    </partner_reader>
    <!-- The partner API: the partner-safe database only, and it writes there (the claims
         partners submit). 18.16 has no table grants: see deploy/README.md#clickhouse-users. -->
    <partner_api>
      <password_sha256_hex>$(reader_password partner_api | tr -d '\n' | sha256sum | cut -d' ' -f1)</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <allow_databases><database>attrib_partner</database></allow_databases>
    </partner_api>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

clickhouse_ready() { [ "$(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

start_clickhouse() {
  if pid=$(running_pid "$CH_DIR/clickhouse.pid"); then
    say "clickhouse already running (pid $pid)"; return
  fi
  claim_port "$CLICKHOUSE_HTTP_PORT" "$CH_DIR/clickhouse.pid" "ClickHouse HTTP"
  claim_port "$CLICKHOUSE_TCP_PORT" "$CH_DIR/clickhouse.pid" "ClickHouse native"
  claim_port "$CLICKHOUSE_HTTPS_PORT" "$CH_DIR/clickhouse.pid" "ClickHouse HTTPS"
  [ -x "$CLICKHOUSE_SERVER_BIN" ] || die "ClickHouse is not installed; run deploy/local/install.sh"
  write_clickhouse_config
  (cd "$CH_DIR" && exec nohup "$CLICKHOUSE_SERVER_BIN" --config-file="$CH_DIR/config.xml" \
      >>"$CH_DIR/log/stdout.log" 2>&1 </dev/null) &
  echo $! > "$CH_DIR/clickhouse.pid"
  wait_for "ClickHouse on port $CLICKHOUSE_HTTP_PORT" 60 clickhouse_ready
  say "clickhouse started (pid $(cat "$CH_DIR/clickhouse.pid"), version $(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?query=SELECT%20version()"))"
}

stop_pid() { # pidfile, name, signal
  local pid
  if pid=$(running_pid "$1"); then
    kill "-${3:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$2 did not stop within 10s; killing it"; kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    say "$2 stopped (pid $pid)"
  fi
  rm -f "$1"
}

case "${1:-}" in
  up)
    "$(dirname "${BASH_SOURCE[0]}")/install.sh"
    mkdir -p "$ATTRIB_STACK_DIR"
    make_tls
    start_broker
    start_clickhouse
    start_secure_broker
    print_env | tee "$ATTRIB_STACK_DIR/env"
    ;;
  down)
    stop_pid "$BROKER_DIR/tansu.pid" broker
    stop_pid "$CH_DIR/clickhouse.pid" clickhouse
    stop_pid "$SECURE_DIR/stunnel.pid" stunnel
    stop_pid "$SECURE_DIR/tansu.pid" "secure broker"
    ;;
  purge)
    "$0" down
    rm -rf "$ATTRIB_STACK_DIR"
    say "removed $ATTRIB_STACK_DIR"
    ;;
  restart-broker)
    stop_pid "$BROKER_DIR/tansu.pid" broker KILL
    start_broker
    ;;
  stop-broker)
    stop_pid "$BROKER_DIR/tansu.pid" broker KILL
    ;;
  start-broker)
    start_broker
    ;;
  status)
    for entry in "broker:$BROKER_DIR/tansu.pid" "clickhouse:$CH_DIR/clickhouse.pid" \
                 "secure-broker:$SECURE_DIR/tansu.pid" "secure-broker-tls:$SECURE_DIR/stunnel.pid"; do
      name="${entry%%:*}"; file="${entry#*:}"
      if pid=$(running_pid "$file"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
    done
    ;;
  env) print_env ;;
  env-secure)
    [ -f "$TLS_DIR/password" ] || die "the stack has no TLS material yet; run deploy/local/stack.sh up"
    print_secure_env ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
