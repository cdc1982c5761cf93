#!/usr/bin/env bash
# Throughput and latency of capkv next to redis-server, same machine, same
# client, same run: a Markdown table on stdout.
#
#   flock /work/measure.lock scripts/bench-vs-redis.sh   # where runs are shared
#   scripts/bench-vs-redis.sh
#
# Both servers are pinned to CPU 0 (taskset -c 0), redis-benchmark to CPU 1:
#   redis-benchmark -t set,get -n 2000000 -d 100 -r 1000000 -c 50 -P 1|16 --csv
# The runs alternate (capkv P1, redis P1, capkv P16, redis P16) and the
# whole sequence is repeated ROUNDS times, so a slow spell on a shared
# machine hits both servers. The table gives, per pipeline depth and test,
# the median over the rounds of requests/s (with the range) and of the
# p50/p99 latencies redis-benchmark reports, and capkv/Redis.
#
# capkv runs with no flags but its port: on one CPU its worker count
# follows the affinity mask; the script checks that the start-up log says
# workers=1 and fails otherwise.
#
# Needs 2 CPUs. Installs redis-tools and redis-server with apt when absent,
# builds capkv (cargo build --release -p capkv) unless CAPKV_BIN is set.
#
# With TLS=1 both servers serve TLS only to the benchmark (capkv on
# --tls-port, redis-server built with TLS, as Debian's is, on its
# tls-port), with a throwaway CA and certificate made by openssl, and
# redis-benchmark and redis-cli run with --tls. A third table row set,
# "handshake", is redis-benchmark -t ping -k 0 (a new connection, and so
# a full handshake, for every request).
#
# Environment:
#   CAPKV_BIN   capkv binary (default: build target/release/capkv)
#   TLS         1: measure over TLS (default: plain TCP)
#   ROUNDS      repetitions of the alternating sequence (default: 2)
#   REQUESTS    redis-benchmark -n (default: 2000000)
#   OUT_DIR     where the raw CSV files go (default: a temporary directory,
#               removed at exit)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-2}
requests=${REQUESTS:-2000000}

fail() {
    printf 'bench-vs-redis: FAIL: %s\n' "$*" >&2
    exit 1
}

[[ $(nproc) -ge 2 ]] || fail "needs 2 CPUs (server on CPU 0, client on CPU 1); nproc says $(nproc)"

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
ensure redis-benchmark redis-tools
ensure redis-cli redis-tools
ensure redis-server redis-server
ensure taskset util-linux
ensure python3 python3
tls=${TLS:-0}
[[ $tls == 1 ]] && ensure openssl openssl

bin=$(capkv_binary "$repo") || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/capkv-bench-vs-redis.XXXXXX")
out=${OUT_DIR:-$work}
mkdir -p "$out"
cleanup() {
    stop_processes
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Client flags for TLS (empty over plain TCP), and the certificate.
client_tls=()
if [[ $tls == 1 ]]; then
    test_certificates "$work"
    client_tls=(--tls --cacert "$work/ca.crt")
fi

# wait_pong PORT: until the server on PORT answers PING (accepting is
# not enough: the benchmark must not start before the server serves).
wait_pong() {
    for _ in $(seq 100); do
        redis-cli "${client_tls[@]}" -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    fail "no server answers on port $1"
}

# --- the servers, both on CPU 0 -------------------------------------------------
capkv_port=$(free_port)
capkv_listen=(--port "$capkv_port")
redis_tls=()
if [[ $tls == 1 ]]; then
    # The benchmark's port is the TLS one; the plain one is left unused.
    capkv_listen=(--port "$(free_port)" --tls-port "$capkv_port"
        --tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key")
    redis_tls=(--tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key"
        --tls-ca-cert-file "$work/ca.crt" --tls-auth-clients no)
fi
taskset -c 0 "$bin" --bind 127.0.0.1 "${capkv_listen[@]}" --metrics-port 0 --redis-port 0 \
    --log-format text 2>"$work/capkv.log" >/dev/null &
pids+=($!)
wait_pong "$capkv_port"
workers=$(sed -n 's/.*listening on.* workers=\([0-9]*\).*/\1/p' "$work/capkv.log" | head -n1)
[[ $workers == 1 ]] || fail "capkv under taskset -c 0 started $workers workers, not 1: $(cat "$work/capkv.log")"
budget=$(sed -n 's/.*budget_human=\([^ ]*\( [KMGT]iB\)\{0,1\}\).*/\1/p' "$work/capkv.log" | head -n1)

redis_port=$(free_port)
if [[ $tls == 1 ]]; then
    redis_tls=(--port 0 --tls-port "$redis_port" "${redis_tls[@]}")
else
    redis_tls=(--port "$redis_port")
fi
taskset -c 0 redis-server --save '' --appendonly no "${redis_tls[@]}" --bind 127.0.0.1 \
    --daemonize no --logfile "$work/redis.log" &
pids+=($!)
wait_pong "$redis_port"

echo "capkv $("$bin" --version | awk '{print $2}') (workers=$workers, budget $budget) on :$capkv_port," \
    "$(redis-server --version | awk '{print $1, $2, $3}') on :$redis_port; both on CPU 0" >&2

# --- the runs ------------------------------------------------------------------
# run SERVER PORT PIPELINE ROUND
run() {
    local name=$1 port=$2 pipeline=$3 round=$4
    local file=$out/$name-P$pipeline-round$round.csv
    echo "round $round: $name -P $pipeline ..." >&2
    taskset -c 1 redis-benchmark "${client_tls[@]}" -h 127.0.0.1 -p "$port" -t set,get \
        -n "$requests" -d 100 -r 1000000 -c 50 -P "$pipeline" --csv >"$file" 2>"$file.err" ||
        fail "redis-benchmark against $name -P $pipeline failed: $(tail -n 3 "$file.err")"
    local test
    for test in SET GET; do
        grep -q "^\"$test\"," "$file" ||
            fail "redis-benchmark against $name -P $pipeline gave no $test result: $(cat "$file" "$file.err")"
    done
    if grep -Eq 'ERR|[Ee]rror' "$file" "$file.err"; then
        fail "errors in the run against $name -P $pipeline: $(grep -E 'ERR|[Ee]rror' "$file" "$file.err" | head -n 3)"
    fi
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# handshakes SERVER PORT ROUND: one connection per PING (TLS only).
handshakes() {
    local name=$1 port=$2 round=$3
    local file=$out/$name-handshake-round$round.csv
    echo "round $round: $name handshakes ..." >&2
    taskset -c 1 redis-benchmark "${client_tls[@]}" -h 127.0.0.1 -p "$port" -t ping_mbulk \
        -n 20000 -c 50 -k 0 --csv >"$file" 2>"$file.err" ||
        fail "redis-benchmark -k 0 against $name failed: $(tail -n 3 "$file.err")"
}
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        run capkv "$capkv_port" "$pipeline" "$round"
        run redis "$redis_port" "$pipeline" "$round"
    done
    if [[ $tls == 1 ]]; then
        handshakes capkv "$capkv_port" "$round"
        handshakes redis "$redis_port" "$round"
    fi
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table -------------------------------------------------------------------
# The load averages tell whether something else was running: the two
# servers and the client alone keep them near 1-1.5.
python3 - "$out" "$rounds" "$requests" "$load_before" "$load_after" "$tls" <<'EOF'
import csv, statistics, sys
from pathlib import Path

out, rounds, requests = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
load_before, load_after = sys.argv[4], sys.argv[5]
tls = sys.argv[6] == "1"

def load(name, pipeline, test):
    rows = []
    for r in range(1, rounds + 1):
        stem = f"{name}-handshake" if pipeline == "handshake" else f"{name}-P{pipeline}"
        with open(out / f"{stem}-round{r}.csv") as f:
            for row in csv.DictReader(f):
                if row["test"] == test:
                    rows.append(row)
    return rows

def med(rows, field):
    return statistics.median(float(r[field]) for r in rows)

print(f"redis-benchmark -t set,get -n {requests} -d 100 -r 1000000 -c 50, "
      f"server on CPU 0, client on CPU 1; median of {rounds} alternating rounds "
      f"(range of requests/s in brackets); load average {load_before} before, "
      f"{load_after} after" + (", over TLS (handshake: -t ping_mbulk -k 0, a new TLS "
      "connection per request)" if tls else "") + "\n")
print("| -P | test | capkv req/s | Redis req/s | capkv/Redis | capkv p50 / p99 ms | Redis p50 / p99 ms |")
print("|---:|---|---:|---:|---:|---:|---:|")
rows = [(p, t) for p in (1, 16) for t in ("SET", "GET")]
if tls:
    rows.append(("handshake", "PING_MBULK"))
for pipeline, test in rows:
    c, r = load("capkv", pipeline, test), load("redis", pipeline, test)
    crps, rrps = med(c, "rps"), med(r, "rps")
    span = lambda rows: f"{min(float(x['rps']) for x in rows):,.0f}–{max(float(x['rps']) for x in rows):,.0f}"
    print(f"| {pipeline} | {test} | {crps:,.0f} ({span(c)}) | {rrps:,.0f} ({span(r)}) "
          f"| {crps / rrps:.2f} "
          f"| {med(c, 'p50_latency_ms'):.3f} / {med(c, 'p99_latency_ms'):.3f} "
          f"| {med(r, 'p50_latency_ms'):.3f} / {med(r, 'p99_latency_ms'):.3f} |")
EOF
