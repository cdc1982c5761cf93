#!/usr/bin/env bash
# Redis clients and twemproxy against real capkv servers, unchanged.
#
#   scripts/redis-compat.sh
#
# Checks, each one failing the script (non-zero exit, message on stderr):
#   1. redis-cli PING answers PONG; SET/GET (and SET EX / TTL) round-trip;
#   2. redis-benchmark -t set,get,incr,mset -n 200000 -q completes: one
#      "requests per second" line per test, no error text;
#   3. twemproxy (nutcracker, redis: true, ketama + murmur, as the k8s
#      sharded overlay) in front of two capkv servers: the same benchmark
#      through the proxy reaches BOTH servers (DBSIZE > 0 on each), and
#      1,000 keys with distinct values written through the proxy read back
#      through it exactly;
#   4. redis-cli --pipe with 10,000 plain `SET k v` lines on the Redis port:
#      "errors: 0, replies: 10000", and the keys are there.
#
# Installs redis-tools and nutcracker with apt when absent (apt-get update
# first if the install fails), builds capkv (cargo build --release -p
# capkv) unless CAPKV_BIN names a binary, and runs everything on free
# loopback ports.
# A missing tool that cannot be installed is a failure, never a skip.
# Every process it starts is stopped on exit.
#
# Environment:
#   CAPKV_BIN    capkv binary to test (default: build target/release/capkv)
#   REQUESTS     redis-benchmark -n (default: 200000)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
requests=${REQUESTS:-200000}

fail() {
    printf 'redis-compat: FAIL: %s\n' "$*" >&2
    exit 1
}
step() { printf '\n--> %s\n' "$*"; }

# --- tools -------------------------------------------------------------------
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
ensure redis-cli redis-tools
ensure redis-benchmark redis-tools
ensure nutcracker nutcracker
ensure python3 python3

[[ -n ${CAPKV_BIN:-} ]] || step "cargo build --release -p capkv"
bin=$(capkv_binary "$repo") || exit 1

# --- processes ---------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/capkv-redis-compat.XXXXXX")
cleanup() {
    local status=$?
    stop_processes
    if [[ $status -ne 0 ]]; then
        for log in "$work"/*.log; do
            [[ -s $log ]] || continue
            echo "--- $(basename "$log") (last lines)" >&2
            tail -n 20 "$log" >&2
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_capkv NAME [REDIS_PORT]: starts capkv on a free port, sets $port;
# the Redis port is off unless REDIS_PORT is given.
start_capkv() {
    local name=$1 log=$work/$1.log
    "$bin" --bind 127.0.0.1 --port 0 --metrics-port 0 --redis-port "${2:-0}" --max-memory 256mb \
        --log-format text 2>"$log" >/dev/null &
    pids+=($!)
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
        [[ -n $port ]] && break
        kill -0 "${pids[-1]}" 2>/dev/null || fail "capkv $name exited at start"
        sleep 0.1
    done
    [[ -n $port ]] || fail "capkv $name did not report its port"
    echo "capkv $name on 127.0.0.1:$port"
}

# between VALUE LOW HIGH: VALUE is a whole number in [LOW, HIGH].
between() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }

# expect WHAT ACTUAL EXPECTED
expect() {
    [[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"
    echo "ok   $1"
}

# bench PORT LABEL [extra redis-benchmark flags]: runs the benchmark and
# checks that every test printed its result and nothing printed an error.
bench() {
    local port=$1 label=$2 out=$work/bench-$2.txt
    shift 2
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get,incr,mset -n "$requests" -q "$@" \
        >"$out" 2>&1 || fail "redis-benchmark ($label) exited with $?: $(tr '\r' '\n' <"$out" | tail -n 5)"
    # -q rewrites a progress line with \r; keep the final lines.
    tr '\r' '\n' <"$out" | grep -v '^ *$' | grep -v 'rps=' >"$out.lines" || true
    if grep -Eq 'ERR|[Ee]rror|refused|reset|[Tt]imeout' "$out.lines"; then
        fail "redis-benchmark ($label) reported errors: $(grep -E 'ERR|[Ee]rror|refused|reset|[Tt]imeout' "$out.lines" | head -n 3)"
    fi
    local test
    for test in 'SET' 'GET' 'INCR' 'MSET (10 keys)'; do
        grep -Fq "$test: " "$out.lines" || fail "redis-benchmark ($label): no result line for $test"
        grep -F "$test: " "$out.lines" | grep -q 'requests per second' ||
            fail "redis-benchmark ($label): $test did not finish"
    done
    sed 's/^/     /' "$out.lines" | grep 'requests per second'
    echo "ok   redis-benchmark $label: set,get,incr,mset x $requests"
}

cli() {
    local port=$1
    shift
    redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# --- 1. redis-cli --------------------------------------------------------------
step "redis-cli against capkv"
start_capkv single
single=$port
expect "redis-cli ping" "$(cli "$single" ping)" PONG
expect "redis-cli SET" "$(cli "$single" set greeting 'hello world')" OK
expect "redis-cli GET" "$(cli "$single" get greeting)" "hello world"
expect "redis-cli SET EX" "$(cli "$single" set soon v EX 100)" OK
ttl=$(cli "$single" ttl soon)
between "$ttl" 99 100 || fail "TTL after SET EX 100: $ttl"
echo "ok   redis-cli TTL ($ttl)"
expect "redis-cli INCR" "$(cli "$single" incr counter)" 1
expect "redis-cli DEL" "$(cli "$single" del greeting soon counter)" 3
expect "redis-cli error text" "$(cli "$single" get 2>&1)" \
    "ERR wrong number of arguments for 'get' command"

# --- 2. redis-benchmark ----------------------------------------------------------
step "redis-benchmark against capkv"
bench "$single" direct
keys=$(cli "$single" dbsize)
between "$keys" 1 1000000000 || fail "DBSIZE after the benchmark: $keys"
echo "ok   DBSIZE $keys after the benchmark"

# --- 3. twemproxy ------------------------------------------------------------------
step "twemproxy (nutcracker) in front of two capkv servers"
start_capkv shard-a
shard_a=$port
start_capkv shard-b
shard_b=$port
proxy=$(free_port)
proxy_stats=$(free_port)
# As k8s/overlays/sharded/nutcracker.yml, with loopback addresses.
cat >"$work/nutcracker.yml" <<EOF
capkv:
  listen: 127.0.0.1:$proxy
  redis: true
  distribution: ketama
  hash: murmur
  hash_tag: "{}"
  timeout: 2000
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
    - 127.0.0.1:$shard_a:1 capkv-a
    - 127.0.0.1:$shard_b:1 capkv-b
EOF
nutcracker --test-conf --conf-file "$work/nutcracker.yml" >"$work/nutcracker-test.log" 2>&1 ||
    fail "nutcracker rejects the configuration: $(cat "$work/nutcracker-test.log")"
nutcracker --conf-file "$work/nutcracker.yml" --stats-port "$proxy_stats" \
    --output "$work/nutcracker.log" &
pids+=($!)
wait_port "$proxy"
echo "nutcracker on 127.0.0.1:$proxy"
expect "ping through the proxy" "$(cli "$proxy" ping)" PONG
# -r spreads the keys (without it redis-benchmark uses one key per test,
# which lands on one shard). redis-benchmark's CONFIG GET at start is
# refused by twemproxy: it prints a warning and goes on.
bench "$proxy" proxy -r 100000
keys_a=$(cli "$shard_a" dbsize)
keys_b=$(cli "$shard_b" dbsize)
between "$keys_a" 1 1000000000 || fail "shard a got no keys through the proxy: $keys_a"
between "$keys_b" 1 1000000000 || fail "shard b got no keys through the proxy: $keys_b"
echo "ok   both shards reached: DBSIZE $keys_a and $keys_b"

# 1,000 distinct values through the proxy, read back through it. redis-cli
# reads one command per line from a pipe and prints one reply per line.
nonce=$RANDOM$RANDOM
for i in $(seq 1000); do echo "SET compat:$i value-$i-$nonce"; done >"$work/set.txt"
for i in $(seq 1000); do echo "GET compat:$i"; done >"$work/get.txt"
for i in $(seq 1000); do echo "value-$i-$nonce"; done >"$work/expected.txt"
cli "$proxy" <"$work/set.txt" >"$work/set.out"
[[ $(grep -c '^OK$' "$work/set.out") -eq 1000 ]] ||
    fail "SET through the proxy: $(grep -v '^OK$' "$work/set.out" | head -n 3)"
cli "$proxy" <"$work/get.txt" >"$work/get.out"
diff -q "$work/expected.txt" "$work/get.out" >/dev/null ||
    fail "GET through the proxy differs: $(diff "$work/expected.txt" "$work/get.out" | head -n 5)"
on_a=$(for i in $(seq 1000); do echo "EXISTS compat:$i"; done | cli "$shard_a" | grep -c '^1$' || true)
on_b=$(for i in $(seq 1000); do echo "EXISTS compat:$i"; done | cli "$shard_b" | grep -c '^1$' || true)
((on_a + on_b == 1000 && on_a > 0 && on_b > 0)) ||
    fail "the 1,000 keys are not split across the shards: $on_a + $on_b"
echo "ok   1,000 SET/GET through the proxy ($on_a on shard a, $on_b on shard b)"

# --- 4. redis-cli --pipe on the Redis port ---------------------------------------
# Plain `SET k v` lines are Redis inline commands on the Redis port (on
# 7171 they would be the seed's protocol); --pipe ends with a RESP ECHO and
# waits for it, so both framings must work on one connection.
step "redis-cli --pipe with inline SET lines on the Redis port"
redis_port=$(free_port)
start_capkv pipe "$redis_port"
wait_port "$redis_port"
for i in $(seq 10000); do printf 'SET pipe:%s value-%s\r\n' "$i" "$i"; done >"$work/pipe.txt"
cli "$redis_port" --pipe <"$work/pipe.txt" >"$work/pipe.out" 2>&1 ||
    fail "redis-cli --pipe exited with $?: $(tail -n 3 "$work/pipe.out")"
grep -q '^errors: 0, replies: 10000$' "$work/pipe.out" ||
    fail "redis-cli --pipe: $(tail -n 3 "$work/pipe.out")"
expect "DBSIZE after --pipe" "$(cli "$redis_port" dbsize)" 10000
expect "GET after --pipe" "$(cli "$redis_port" get pipe:4242)" value-4242
echo "ok   redis-cli --pipe: 10,000 inline SETs, errors: 0"

printf '\nredis-compat: all checks passed\n'
