#!/usr/bin/env bash
# TLS with real clients: redis-cli --tls, redis-py with ssl=True (RESP2 and
# RESP3), openssl s_client speaking the seed's line protocol, client
# certificates required and optional, and a plaintext client refused
# cleanly on the TLS port while the plain port keeps serving. Prints one
# line per check; exits 1 on the first failure.
#
#   CAPKV_BIN=target/release/capkv scripts/tls-check.sh
#
# Certificates are made here with openssl (a throwaway CA, a server and a
# client certificate) and removed at exit. Installs redis-tools, openssl
# and (into a venv under target/) redis-py when absent.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
ensure redis-cli redis-tools
ensure openssl openssl
ensure python3 python3
bin=$(capkv_binary "$repo") || exit 1

fail() {
    printf 'tls-check: FAIL: %s\n' "$*" >&2
    exit 1
}
ok() { printf 'tls-check: ok: %s\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/capkv-tls-check.XXXXXX")
cleanup() {
    stop_processes
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

venv=$repo/target/tls-check-venv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import redis' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'redis>=5,<7'
fi

test_certificates "$work"

# start NAME EXTRA...: capkv with TLS; sets port and tls_port.
start() {
    local name=$1
    shift
    port=$(free_port)
    tls_port=$(free_port)
    "$bin" --bind 127.0.0.1 --port "$port" --metrics-port 0 --redis-port 0 --max-memory 128mb \
        --tls-port "$tls_port" --tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key" \
        "$@" 2>"$work/$name.log" >/dev/null &
    pids+=($!)
    wait_port "$tls_port" || fail "capkv ($name) did not start: $(cat "$work/$name.log")"
}

tls=(--tls --cacert "$work/ca.crt")
mine=(--cert "$work/client.crt" --key "$work/client.key")

# --- server certificate only -----------------------------------------------------
start plain-auth
[[ $(redis-cli "${tls[@]}" -p "$tls_port" set greeting hello) == OK ]] || fail "redis-cli --tls SET"
[[ $(redis-cli "${tls[@]}" -p "$tls_port" get greeting) == hello ]] || fail "redis-cli --tls GET"
[[ $(redis-cli -p "$port" get greeting) == hello ]] || fail "the plain port does not see the TLS write"
ok "redis-cli --tls SET/GET, seen on the plain port"

got=$( (printf 'PUT line spoken-over-tls\nGET line\n'; sleep 1) |
    timeout 10 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$tls_port" -CAfile "$work/ca.crt" \
        -verify_return_error 2>/dev/null | tr -d "\r" || true)
[[ $got == $'OK\nspoken-over-tls' ]] || fail "openssl s_client line protocol: $got"
ok "openssl s_client, line protocol (PUT/GET)"

for protocol in 2 3; do
    "$venv/bin/python" - "$tls_port" "$work/ca.crt" "$protocol" <<'PY' || fail "redis-py ssl=True RESP$3"
import sys, redis
port, ca, protocol = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r = redis.Redis(host="localhost", port=port, ssl=True, ssl_ca_certs=ca, protocol=protocol)
assert r.ping()
r.set("py", b"x" * 200_000)
assert r.get("py") == b"x" * 200_000
with r.pipeline(transaction=False) as p:
    for i in range(1000):
        p.set(f"k{i}", i)
    assert all(p.execute())
assert r.mget([f"k{i}" for i in range(1000)])[999] == b"999"
PY
    ok "redis-py ssl=True, RESP$protocol (ping, set/get, a 1,000-command pipeline)"
done

# Plaintext on the TLS port: closed, no reply, the server goes on.
reply=$(printf 'PING\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.settimeout(5)
data = b""
try:
    while chunk := s.recv(4096):
        data += chunk
except ConnectionResetError:
    pass
print(repr(data))' "$tls_port") || fail "plaintext client on the TLS port: no end within 5 s"
[[ $reply != *PONG* ]] || fail "plaintext PING on the TLS port was answered: $reply"
[[ $(redis-cli "${tls[@]}" -p "$tls_port" ping) == PONG ]] || fail "TLS port dead after a plaintext client"
ok "plaintext on the TLS port: closed without a reply ($reply); TLS clients still served"

# --- client certificates required --------------------------------------------------
start mtls --tls-ca-cert-file "$work/ca.crt"
[[ $(redis-cli "${tls[@]}" "${mine[@]}" -p "$tls_port" ping) == PONG ]] || fail "mTLS with a client certificate"
if redis-cli "${tls[@]}" -p "$tls_port" ping 2>/dev/null | grep -q PONG; then
    fail "mTLS: a client without a certificate was served"
fi
ok "--tls-auth-clients yes: a CA-signed client certificate is served, none is refused"

start optional --tls-ca-cert-file "$work/ca.crt" --tls-auth-clients optional
[[ $(redis-cli "${tls[@]}" -p "$tls_port" ping) == PONG ]] || fail "optional: no certificate"
[[ $(redis-cli "${tls[@]}" "${mine[@]}" -p "$tls_port" ping) == PONG ]] || fail "optional: with one"
ok "--tls-auth-clients optional: served with and without a client certificate"

# --- a password over TLS -----------------------------------------------------------
printf 's3cret-over-tls\n' >"$work/password"
start password --requirepass-file "$work/password"
reply=$(redis-cli "${tls[@]}" -p "$tls_port" get greeting 2>&1)
[[ $reply == *NOAUTH* ]] || fail "TLS without AUTH was served: $reply"
[[ $(redis-cli "${tls[@]}" -p "$tls_port" -a s3cret-over-tls --no-auth-warning set tls-auth yes) == OK ]] ||
    fail "redis-cli --tls -a"
"$venv/bin/python" - "$tls_port" "$work/ca.crt" <<'PY' || fail "redis-py ssl=True with a password"
import sys, redis
port, ca = int(sys.argv[1]), sys.argv[2]
for protocol in (2, 3):
    r = redis.Redis(host="localhost", port=port, ssl=True, ssl_ca_certs=ca,
                    password="s3cret-over-tls", protocol=protocol)
    assert r.get("tls-auth") == b"yes"
    try:
        redis.Redis(host="localhost", port=port, ssl=True, ssl_ca_certs=ca, password="wrong",
                    protocol=protocol).ping()
        raise SystemExit("a wrong password was accepted")
    except redis.AuthenticationError:
        pass
PY
got=$( (printf 'GET tls-auth\nAUTH s3cret-over-tls\nGET tls-auth\n'; sleep 1) |
    timeout 10 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$tls_port" -CAfile "$work/ca.crt" \
        2>/dev/null | tr -d "\r" || true)
[[ $got == $'ERROR authentication required\nOK\nyes' ]] || fail "line protocol AUTH over TLS: $got"
ok "a password over TLS: NOAUTH first; redis-cli --tls -a, redis-py ssl=True password= (RESP2/3, a wrong one refused), line-protocol AUTH over openssl s_client"
