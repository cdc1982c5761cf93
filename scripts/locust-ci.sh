#!/usr/bin/env bash
# Locust against a live capkv release build, for CI.
#
#   scripts/locust-ci.sh [USERS] [SPAWN_RATE] [SECONDS]    # default 500 100 60
#
# Builds capkv (release), starts it on loopback (client port picked by the
# server, metrics port picked here), waits until /readyz says ready, runs
# scripts/locust-smoke.sh against it, prints the server's own counters from
# /metrics, stops it with SIGTERM and checks it exits 0.
#
# Exit status: the smoke's (non-zero on any failed request; a GET answered
# NOTFOUND is a miss, not a failure), or non-zero if the server could not
# be started or did not stop cleanly.
#
# Environment:
#   CAPKV_MAX_MEMORY  the server's budget (default 512mb)
#   OUT_DIR           where Locust's CSV files and the server log go
#                     (default bench-results/locust-ci-<timestamp>)
#   plus those of scripts/locust-smoke.sh (LOCUST_VERSION, LOCUST_VENV, ...)
set -euo pipefail

usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[[ $# -le 3 ]] || usage
USERS=${1:-500}
SPAWN=${2:-100}
SECONDS_TO_RUN=${3:-60}
for n in "$USERS" "$SPAWN" "$SECONDS_TO_RUN"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; usage; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export OUT_DIR=${OUT_DIR:-$repo/bench-results/locust-ci-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT_DIR"
server_log=$OUT_DIR/capkv.log

echo "==> cargo build --release -p capkv" >&2
cargo build --release --locked -p capkv

# Every Locust user holds a connection to the server: give it descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --metrics-port 0 means "disabled", so pick a free port here; the client
# port is picked by the server itself (--port 0) and read from its log.
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
./target/release/capkv --bind 127.0.0.1 --port 0 --redis-port 0 --metrics-port "$metrics_port" \
    --max-memory "${CAPKV_MAX_MEMORY:-512mb}" --log-format text >"$server_log" 2>&1 &
server_pid=$!
# Running and not a zombie (kill -0 succeeds on an exited, unreaped child).
running() {
    local state
    state=$(awk '{print $3}' "/proc/$server_pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}
# shellcheck disable=SC2317  # called by the trap
stop_server() {
    if running; then
        kill -TERM "$server_pid" 2>/dev/null || true
    fi
}
trap stop_server EXIT

metrics_url=http://127.0.0.1:$metrics_port
port=
for _ in $(seq 300); do
    if ! running; then
        echo "capkv exited at start-up:" >&2
        cat "$server_log" >&2
        exit 1
    fi
    if [[ -z $port ]]; then
        port=$(sed -n 's/\x1b\[[0-9;]*m//g; s/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$server_log" | head -n 1)
    fi
    if [[ -n $port ]] && [[ $(curl -fsS "$metrics_url/readyz" 2>/dev/null) == ready ]]; then
        break
    fi
    sleep 0.1
done
if [[ -z $port ]] || [[ $(curl -fsS "$metrics_url/readyz" 2>/dev/null) != ready ]]; then
    echo "capkv did not become ready within 30 s:" >&2
    cat "$server_log" >&2
    exit 1
fi
echo "capkv (pid $server_pid) on 127.0.0.1:$port, metrics on $metrics_url" >&2

set +e
"$repo/scripts/locust-smoke.sh" 127.0.0.1 "$port" "$USERS" "$SPAWN" "$SECONDS_TO_RUN"
smoke_rc=$?
set -e

# The server's view of the same run: commands by type and result, hits and
# misses, connections. Counters are cumulative since start.
echo "server counters (/metrics, non-zero):"
curl -fsS "$metrics_url/metrics" |
    grep -E '^capkv_(commands_total|keyspace_(hits|misses)_total|connections_(total|rejected_total)|rejected_writes_total|net_(input|output)_bytes_total|process_resident_memory_bytes)[{ ]' |
    grep -v ' 0$' | sed 's/^/  /' || true

trap - EXIT
kill -TERM "$server_pid"
# The drain deadline is 10 s; past 30 s something is wrong.
for _ in $(seq 300); do
    running || break
    sleep 0.1
done
if running; then
    echo "FAIL: capkv did not exit within 30 s of SIGTERM" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    exit 1
fi
server_rc=0
wait "$server_pid" || server_rc=$?
if [[ $server_rc != 0 ]]; then
    echo "FAIL: capkv exited with status $server_rc after SIGTERM:" >&2
    tail -n 20 "$server_log" >&2
    exit 1
fi
echo "capkv stopped cleanly: $(grep -c 'shut down cleanly' "$server_log") clean drain" >&2
exit "$smoke_rc"
