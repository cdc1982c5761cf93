#!/usr/bin/env bash
# Clients with passwords against a capkv it starts: redis-py
# (scripts/redis_py_auth_check.py: password=, username=/password=) and
# redis-cli (-a, --user/--pass), once with --requirepass and once with an
# ACL file.
#
#   scripts/auth-check.sh
#
# Environment:
#   CAPKV_BIN        capkv binary (default: build target/release/capkv)
#   REDIS_PY_VENV    virtualenv with redis-py (as scripts/redis-py-check.sh
#                    makes it; created by running that script first if missing)
#
# Exits non-zero if the server or any check fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${REDIS_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/capkv-venv-redis}

fail() {
    printf 'auth-check: FAIL: %s\n' "$*" >&2
    exit 1
}

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
ensure redis-cli redis-tools
"$venv/bin/python" -c "import redis" 2>/dev/null ||
    fail "no redis-py in $venv: run scripts/redis-py-check.sh first"
bin=$(capkv_binary "$repo") || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/capkv-auth-check.XXXXXX")
trap 'stop_processes; rm -rf "$work"' EXIT

# start NAME ARGS...: starts capkv and sets `port` to its port. Not in a
# command substitution: its subshell would keep the pid from `pids`, and
# the server would outlive the script.
start() {
    local name=$1
    port=
    shift
    "$bin" --bind 127.0.0.1 --port 0 --metrics-port 0 --redis-port 0 --max-memory 256mb "$@" \
        2>"$work/$name.log" >/dev/null &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.log" | head -n1)
        [[ -n $port ]] && break
        sleep 0.1
    done
    [[ -n $port ]] || fail "capkv ($name) did not start: $(cat "$work/$name.log")"
}

# expect WHAT EXPECTED COMMAND...: runs COMMAND, compares its output.
expect() {
    local what=$1 expected=$2 got
    shift 2
    got=$("$@" 2>&1) || true
    [[ $got == "$expected" ]] || fail "$what: expected '$expected', got '$got'"
    echo "ok   $what"
}

# --- --requirepass ------------------------------------------------------------
start requirepass --requirepass 'pass word!'
cli=(redis-cli -h 127.0.0.1 -p "$port")
expect "redis-cli without -a" "NOAUTH Authentication required." "${cli[@]}" GET k
expect "redis-cli -a SET" "OK" "${cli[@]}" -a 'pass word!' --no-auth-warning SET k v
expect "redis-cli -a GET" "v" "${cli[@]}" -a 'pass word!' --no-auth-warning GET k
wrongpass="AUTH failed: WRONGPASS invalid username-password pair or user is disabled."
expect "redis-cli -a wrong" "$wrongpass"$'\n'"NOAUTH Authentication required." \
    "${cli[@]}" -a wrong --no-auth-warning GET k
expect "redis-cli -3 --user default --pass" "v" \
    "${cli[@]}" -3 --user default --pass 'pass word!' --no-auth-warning GET k
"$venv/bin/python" "$repo/scripts/redis_py_auth_check.py" requirepass "$port" 'pass word!'

# --- --aclfile ------------------------------------------------------------------
cat >"$work/users.acl" <<'ACL'
user default off
user admin on >adminpw ~* +@all
user reader on >readpw ~cache:* -@all +@read +@connection
ACL
start aclfile --aclfile "$work/users.acl"
cli=(redis-cli -h 127.0.0.1 -p "$port" --no-auth-warning)
expect "redis-cli --user admin SET" "OK" "${cli[@]}" --user admin --pass adminpw SET cache:1 hit
expect "redis-cli --user reader GET" "hit" "${cli[@]}" --user reader --pass readpw GET cache:1
expect "redis-cli --user reader SET" \
    "NOPERM this user has no permissions to run the 'set' command" \
    "${cli[@]}" --user reader --pass readpw SET cache:1 x
expect "redis-cli --user reader GET other" \
    "NOPERM this user has no permissions to access one of the keys used as arguments" \
    "${cli[@]}" --user reader --pass readpw GET other
expect "redis-cli default user is off" "$wrongpass"$'\n'"NOAUTH Authentication required." \
    "${cli[@]}" -a anything GET cache:1
"$venv/bin/python" "$repo/scripts/redis_py_auth_check.py" aclfile "$port"

echo "auth-check: all passed"
