#!/usr/bin/env bash
# scripts/redis-suite.sh: runs Redis 7.0.15's own Tcl test suite (the units
# in FILES) against capkv's Redis port, in external mode, one file at a time.
#   --compare  also runs them against redis-server and prints a table
#   --ci       fails if a non-skipped test fails or a file errors or hangs
#   REDIS_SUITE_FILES="unit/slowlog"  runs only the files named
# Skipped tests: tests/redis-suite/skiplist-reasons.txt, one
# `<reason> | <test name>` per line; the names become runtest's --skipfile
# (which takes exact names and no comments) at run time, so the reasons and
# the list cannot drift apart.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "redis-suite: $*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

compare=0 ci=0
for arg in "$@"; do
    case $arg in
        --compare) compare=1 ;;
        --ci) ci=1 ;;
        *) fail "unknown option $arg" ;;
    esac
done

FILES=(unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol
    unit/info-command unit/quit unit/querybuf unit/bitops unit/scan unit/slowlog
    unit/introspection unit/multi unit/introspection-2)
# REDIS_SUITE_FILES="unit/slowlog ..." runs only those.
if [[ -n ${REDIS_SUITE_FILES:-} ]]; then read -ra FILES <<<"$REDIS_SUITE_FILES"; fi
per_file_timeout=${REDIS_SUITE_TIMEOUT:-180}
version=7.0.15
cache=$repo/target/redis-suite
src=$cache/redis-$version

ensure tclsh tcl
ensure redis-server redis-server
if [[ ! -x $src/runtest ]]; then
    mkdir -p "$cache"
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
            "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/capkv-deb-src.sources >/dev/null
    fi
    "${sudo_cmd[@]}" apt-get update -qq >&2 || fail "apt-get update failed"
    (cd "$cache" && apt-get source -qq --download-only redis >&2 && dpkg-source -x --no-check redis_$version-*.dsc "redis-$version" >&2) ||
        fail "apt-get source redis failed"
    [[ -x $src/runtest ]] || fail "no $src/runtest (apt gave another version?)"
    (cd "$src" && patch -p1 -s <"$repo/tests/redis-suite/external-mode.patch") || fail "patch failed"
fi

bin=$(capkv_binary "$repo") || exit 1
work=$(mktemp -d)
trap 'stop_processes; rm -rf "$work"' EXIT
grep -v '^#' "$repo/tests/redis-suite/skiplist-reasons.txt" | grep . | sed 's/^[^|]*| //' >"$work/skiplist.txt"

cport=$(free_port)
# The suite SETs 4 MB values (default flags: values up to 16 MiB, larger
# than a segment in allocations of their own) and a 50 KB key.
"$bin" --bind 127.0.0.1 --port 0 --metrics-port 0 --redis-port "$cport" --log-level warn \
    --max-key-size 64kb --max-memory 1g \
    >"$work/capkv.log" 2>&1 &
pids+=($!)
wait_port "$cport"

# run_file NAME PORT OUT: prints "passed failed errored" for one file.
run_file() {
    local file=$1 port=$2 out=$3 rc=0
    (cd "$src" && timeout "$per_file_timeout" ./runtest --host 127.0.0.1 --port "$port" \
        --singledb --durable --tags -needs:debug --timeout 60 \
        --skipfile "$work/skiplist.txt" --single "$file") >"$out.raw" 2>&1 || rc=$?
    sed 's/\x1b\[[0-9;]*m//g' "$out.raw" >"$out"
    local ok err
    ok=$(grep -c '^\[ok\]:' "$out" || true)
    err=$(grep -c '^\[err\]\|^\[exception\]' "$out" || true)
    grep -q 'All tests passed\|tests failed' "$out" || err=$((err + 1))
    [[ $rc -eq 124 ]] && err=$((err + 1))
    echo "$ok $err"
}

if [[ $compare -eq 1 ]]; then
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
        >"$work/redis.log" 2>&1 &
    pids+=($!)
    wait_port "$rport"
fi

total=0 rtotal=0 bad=0
printf '%-22s %8s %8s %10s %8s\n' file capkv failed redis skipped
for f in "${FILES[@]}"; do
    out=$work/$(echo "$f" | tr / _).capkv
    read -r ok err < <(run_file "$f" "$cport" "$out")
    skipped=$(grep -c '^\[skip\]\|^\[ignore\]' "$out" || true)
    r=-
    if [[ $compare -eq 1 ]]; then
        read -r r _ < <(run_file "$f" "$rport" "$out.redis")
        rtotal=$((rtotal + r))
    fi
    printf '%-22s %8s %8s %10s %8s\n' "$f" "$ok" "$err" "$r" "$skipped"
    total=$((total + ok))
    if [[ $err -ne 0 ]]; then
        bad=1
        grep '^\[err\]\|^\[exception\]' "$out" | sed 's/^/    /' || true
        [[ -n ${REDIS_SUITE_LOGS:-} ]] && cp "$out" "$REDIS_SUITE_LOGS/"
    fi
done
printf 'capkv passed %s tests' "$total"
[[ $compare -eq 1 ]] && printf ', redis-server %s' "$rtotal"
echo
if [[ $ci -eq 1 && $bad -ne 0 ]]; then fail "non-skipped tests failed or a file aborted"; fi
exit 0
