# Shared settings of the local-stack scripts. Sourced, not run.
# Every value can be overridden from the environment.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where the running stack keeps its data, logs and PID files.
ATTRIB_STACK_DIR="${ATTRIB_STACK_DIR:-$REPO_ROOT/.local/stack}"
# Builds that outlive a clone (the tansu broker takes ~10 minutes to compile).
ATTRIB_CACHE_DIR="${ATTRIB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/attrib}"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
# tansu-broker 0.6.0 with deploy/local/tansu/group-leader.patch (deploy/BROKER.md); the
# suffix names the patch level, so a changed patch builds a new broker beside the old one.
TANSU_BUILD="tansu-$TANSU_VERSION-p1"
TANSU_BIN="$ATTRIB_CACHE_DIR/$TANSU_BUILD/bin/tansu"
BROKER_PORT="${BROKER_PORT:-19092}"
# sqlite keeps data and committed offsets across broker restarts; memory:// is faster but forgets.
BROKER_STORAGE="${BROKER_STORAGE:-sqlite://tansu.db?maintenance_interval=1m}"
# Whether stack.sh adds its indexes to the sqlite storage (yes; "no" only to measure without).
BROKER_INDEXES="${BROKER_INDEXES:-yes}"
# The secure broker: TLS on BROKER_TLS_PORT (stunnel, with the stack's own CA) in front of a
# second tansu that requires SASL SCRAM on BROKER_SASL_PORT. tansu 0.6.0 cannot serve TLS
# itself: its command line refuses --cert together with --key (deploy/BROKER.md).
BROKER_TLS_PORT="${BROKER_TLS_PORT:-19093}"
BROKER_SASL_PORT="${BROKER_SASL_PORT:-19094}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_HTTPS_PORT="${CLICKHOUSE_HTTPS_PORT:-18443}"
# The user of the secure broker and of ClickHouse over HTTPS (its password is generated).
SECURE_USER="${SECURE_USER:-attrib}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-19000}"
CLICKHOUSE_SERVER_BIN="${CLICKHOUSE_SERVER_BIN:-/usr/sbin/clickhouse-server}"

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PID stored in $1 if that process is still running.
running_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Who holds a port, for error messages.
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1; }
