#!/usr/bin/env bash
# What a connection costs a server, over plain TCP and over TLS, idle and
# after it has moved data: capkv next to redis-server, one table.
#
#   CAPKV_BIN=target/release/capkv scripts/tls-memory.sh [CONNECTIONS]
#
# For each server and transport: RSS before, after CONNECTIONS clients
# connected and answered one PING each (idle), and after each of them has
# also written and read back a 16 KiB value (active, then idle again).
# Per-connection figures are RSS deltas divided by CONNECTIONS (default
# 2000). Certificates: a throwaway CA and server certificate from openssl.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
fail() {
    printf 'tls-memory: FAIL: %s\n' "$*" >&2
    exit 1
}
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
ensure redis-server redis-server
ensure openssl openssl
ensure python3 python3
bin=$(capkv_binary "$repo") || exit 1
connections=${1:-2000}

work=$(mktemp -d "${TMPDIR:-/tmp}/capkv-tls-memory.XXXXXX")
cleanup() {
    stop_processes
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

test_certificates "$work"
ulimit -n "$(ulimit -Hn)"

cert=(--tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key")
echo "| server | transport | idle B/conn | after 16 KiB each, B/conn |"
echo "|---|---|---:|---:|"
for server in capkv redis; do
    for transport in plain tls; do
        port=$(free_port)
        tls_port=$(free_port)
        if [[ $server == capkv ]]; then
            "$bin" --bind 127.0.0.1 --port "$port" --metrics-port 0 --redis-port 0 --max-memory 1gb \
                --max-connections $((connections + 100)) --tls-port "$tls_port" "${cert[@]}" \
                2>"$work/$server.log" >/dev/null &
        else
            redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$port" \
                --tls-port "$tls_port" "${cert[@]}" --tls-auth-clients no \
                --maxclients $((connections + 100)) --daemonize no --logfile "$work/$server.log" &
        fi
        pid=$!
        pids+=("$pid")
        wait_port "$port"
        target=$port
        [[ $transport == tls ]] && target=$tls_port
        python3 - "$pid" "$target" "$transport" "$connections" "$work/ca.crt" <<'PY'
import socket, ssl, sys, time
pid, port, transport, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
context = ssl.create_default_context(cafile=ca)
def connect():
    s = socket.create_connection(("127.0.0.1", port))
    if transport == "tls":
        s = context.wrap_socket(s, server_hostname="localhost")
    return s
def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
# Warm the server (worker buffers, TLS configuration) before the baseline.
warm = [connect() for _ in range(8)]
for s in warm:
    s.sendall(b"*1\r\n$4\r\nPING\r\n"); read_exact(s, 7)
time.sleep(1)
before = rss()
clients = []
for _ in range(n):
    s = connect()
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    assert read_exact(s, 7) == b"+PONG\r\n"
    clients.append(s)
time.sleep(2)
idle = rss()
value = b"v" * 16384
for i, s in enumerate(clients):
    key = b"key:%06d" % i
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
    assert read_exact(s, 5) == b"+OK\r\n"
    s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
    read_exact(s, len(value) + 9)
time.sleep(2)
# The values themselves are in the store: subtract them, at 16 KiB + key.
after = rss() - n * (len(value) + 64)
print(f"| {'capkv' if 'capkv' in open(f'/proc/{pid}/cmdline').read() else 'redis'} | {transport} "
      f"| {(idle - before) / n:,.0f} | {(after - before) / n:,.0f} |")
PY
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
done
