#!/usr/bin/env bash
# redis-py against a capkv it starts: scripts/redis_py_check.py in a
# throwaway virtualenv.
#
#   scripts/redis-py-check.sh            # build and start capkv, check it
#   scripts/redis-py-check.sh PORT       # check a capkv already on PORT
#
# Environment:
#   REDIS_PY_VERSION  pip version spec for redis (default: ==8.1.0)
#   REDIS_PY_VENV     virtualenv to create or reuse
#                     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capkv-venv-redis)
#   CAPKV_BIN         capkv binary (default: build target/release/capkv)
#
# Exits non-zero if pip, the server or any check fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
version=${REDIS_PY_VERSION:-==8.1.0}
venv=${REDIS_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/capkv-venv-redis}

fail() {
    printf 'redis-py-check: FAIL: %s\n' "$*" >&2
    exit 1
}

# --- the virtualenv ---------------------------------------------------------
if ! "$venv/bin/python" -c "import redis" 2>/dev/null ||
    ! "$venv/bin/python" -m pip show redis 2>/dev/null | grep -q "^Version: ${version#==}$"; then
    echo "installing redis$version into $venv ..." >&2
    python3 -m venv "$venv" || fail "cannot create a virtualenv (python3-venv missing?)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "redis$version" ||
        fail "pip install redis$version failed"
fi

# --- the server ---------------------------------------------------------------
if [[ $# -ge 1 ]]; then
    port=$1
else
    # shellcheck source=scripts/lib.sh
    source "$repo/scripts/lib.sh"
    bin=$(capkv_binary "$repo") || exit 1
    log=$(mktemp "${TMPDIR:-/tmp}/capkv-redis-py.XXXXXX")
    "$bin" --bind 127.0.0.1 --port 0 --metrics-port 0 --redis-port 0 --max-memory 256mb 2>"$log" >/dev/null &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
        [[ -n $port ]] && break
        kill -0 "$server" 2>/dev/null || fail "capkv exited at start: $(cat "$log")"
        sleep 0.1
    done
    [[ -n $port ]] || fail "capkv did not report its port"
fi

"$venv/bin/python" "$repo/scripts/redis_py_check.py" "$port"
