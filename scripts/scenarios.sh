#!/usr/bin/env bash
# scripts/scenarios.sh: run capkv-bench's hostile scenarios against a server
# held in a fresh memory cgroup, one fresh server and cgroup per scenario.
#
#   scripts/scenarios.sh [options] [-- extra capkv-bench flags]
#
#   --server capkv|redis|memcached  server under test (default capkv)
#   --limit SIZE        hard cgroup limit L (default 2g; 256m with --ci)
#   --headroom SIZE     redis/memcached: --maxmemory / -m is L minus this
#                       (default 10% of L); capkv always runs with default
#                       flags and detects its budget from the cgroup
#   --scenarios "a b"   subset of: small large shifting churn flood zipf zipf-scan ttl
#                       slowloris idle (default: all nine)
#   --out DIR           results (default bench-results/scenarios-<server>-<L>)
#   --port N            first port to try (default 27171; a busy port is skipped)
#   --ci                256 MiB, all scenarios, fail (exit 1) on an OOM kill,
#                       a dead server, a wrong value, a figure under its
#                       CI threshold, or a probe (a fresh PING + GET every
#                       100 ms in every scenario) slower than 1 s or
#                       unanswered (see docs/SCENARIOS.md); no plots
#   --no-probe-gate     with --ci: report the probes but do not fail on them
#                       (local measurement of a server known to freeze;
#                       CI never passes this)
#   --no-plot           skip the PNG plots
#   --no-build          use the binaries in target/release as they are
#                       ($CARGO_TARGET_DIR/release when that is set)
#
# The server runs pinned to CPU 0, the load (capkv-bench) to CPU 1. Every
# 100 ms the cgroup's usage and the server's INFO/STATS go into
# DIR/<server>.<scenario>.csv; DIR/<server>.<scenario>.json holds the
# bench's result line, .run.json the OOM kills and exit status, and
# DIR/report.md the table. Timing-sensitive: wrap the whole run in
# `flock /work/measure.lock` (or any lock) when others measure on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

SERVER=capkv LIMIT="" HEADROOM="" SCENARIOS="small large shifting churn flood zipf zipf-scan slowloris idle"
OUT="" PORT=27171 CI_MODE=0 PLOT=1 BUILD=1 PROBE_GATE=1 EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --server) SERVER=$2; shift 2;;
    --limit) LIMIT=$2; shift 2;;
    --headroom) HEADROOM=$2; shift 2;;
    --scenarios) SCENARIOS=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --port) PORT=$2; shift 2;;
    --ci) CI_MODE=1; PLOT=0; shift;;
    --no-probe-gate) PROBE_GATE=0; shift;;
    --no-plot) PLOT=0; shift;;
    --no-build) BUILD=0; shift;;
    --) shift; EXTRA=("$@"); break;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "scenarios.sh: unknown option $1 (try --help)" >&2; exit 2;;
  esac
done
case "$SERVER" in capkv|redis|memcached) ;; *) echo "scenarios.sh: --server must be capkv, redis or memcached" >&2; exit 2;; esac
[ -n "$LIMIT" ] || { [ $CI_MODE = 1 ] && LIMIT=256m || LIMIT=2g; }

bytes() { # 2g, 256m, 1.5g, 123 -> bytes
  python3 -c 'import re,sys
s=sys.argv[1].strip().lower(); m=re.fullmatch(r"([0-9.]+)\s*([kmgt]?)i?b?",s)
if not m: sys.exit("bad size: "+s)
print(int(float(m[1])*1024**" kmgt".index(m[2] or " ")))' "$1"
}
L=$(bytes "$LIMIT")
HR=$(if [ -n "$HEADROOM" ]; then bytes "$HEADROOM"; else echo $((L / 10)); fi)
OUT=${OUT:-$ROOT/bench-results/scenarios-$SERVER-$LIMIT}
mkdir -p "$OUT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=$TARGET/release/capkv-bench
CAPKV=$TARGET/release/capkv

# ---- a memory cgroup we can create children in (v2, else v1) ----
CG_VER="" CG_BASE=""
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  own=$(awk -F: '$1=="0"{print $3}' /proc/self/cgroup)
  CG_BASE=/sys/fs/cgroup${own%/}
  grep -qw memory "$CG_BASE/cgroup.subtree_control" 2>/dev/null \
    || echo +memory > "$CG_BASE/cgroup.subtree_control" 2>/dev/null || true
  grep -qw memory "$CG_BASE/cgroup.subtree_control" 2>/dev/null && CG_VER=2
fi
if [ -z "$CG_VER" ] && [ -d /sys/fs/cgroup/memory ]; then
  own=$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
  CG_BASE=/sys/fs/cgroup/memory${own%/}
  CG_VER=1
fi
probe=$CG_BASE/capkv-scenarios-probe.$$
if [ -z "$CG_VER" ] || ! mkdir "$probe" 2>/dev/null; then
  echo "scenarios.sh: FATAL: no writable memory cgroup (v2 with the memory controller delegated, or v1) under ${CG_BASE:-/sys/fs/cgroup}; run as root on a host or privileged container" >&2
  exit 3
fi
rmdir "$probe"

new_cgroup() { # name -> path, with the hard limit L and no swap
  local cg=$CG_BASE/$1
  mkdir "$cg"
  if [ $CG_VER = 2 ]; then
    echo "$L" > "$cg/memory.max"
    [ -f "$cg/memory.swap.max" ] && echo 0 > "$cg/memory.swap.max"
  else
    echo "$L" > "$cg/memory.limit_in_bytes"
    if [ -f "$cg/memory.memsw.limit_in_bytes" ]; then
      echo "$L" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null || true
    fi
  fi
  echo "$cg"
}
oom_kills() { # cgroup -> count
  if [ $CG_VER = 2 ]; then awk '$1=="oom_kill"{print $2}' "$1/memory.events"
  else awk '$1=="oom_kill"{print $2}' "$1/memory.oom_control"; fi
}
peak() {
  if [ $CG_VER = 2 ]; then cat "$1/memory.peak" 2>/dev/null || echo null
  else cat "$1/memory.max_usage_in_bytes"; fi
}
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

if [ $BUILD = 1 ]; then
  (cd "$ROOT" && cargo build --release -p capkv -p capkv-bench)
fi
[ "$SERVER" = redis ] && ! command -v redis-server >/dev/null && { echo "scenarios.sh: redis-server not installed (apt-get install redis-server)" >&2; exit 2; }
[ "$SERVER" = memcached ] && ! command -v memcached >/dev/null && { echo "scenarios.sh: memcached not installed (apt-get install memcached)" >&2; exit 2; }
# idle opens 10,000 connections (50,000 with --idle-connections): as root,
# lift the hard limit too, so the server's connection cap is not the limit.
case " $SCENARIOS " in
  *" idle "*)
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then
      ulimit -Hn 65536 2>/dev/null || true
    fi
    ;;
esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

echo "scenarios: server=$SERVER L=$L ($LIMIT) cgroup v$CG_VER under $CG_BASE nofile=$NOFILE -> $OUT" >&2
for SC in $SCENARIOS; do
  while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
  CONNS=$((NOFILE - 64))
  case "$SERVER" in
    capkv) CMD=("$CAPKV" --bind 127.0.0.1 --port "$PORT" --metrics-port 0 --redis-port 0 --max-connections "$CONNS");;
    redis) CMD=(redis-server --bind 127.0.0.1 --port "$PORT" --maxmemory $((L - HR)) --maxmemory-policy allkeys-lru
                 --save '' --appendonly no --maxclients "$CONNS");;
    memcached) CMD=(memcached -u root -l 127.0.0.1 -p "$PORT" -U 0 -m $(((L - HR) >> 20)) -c "$CONNS");;
  esac
  CG=$(new_cgroup "capkv-scenario.$SERVER.$SC.$$")
  LOG=$OUT/$SERVER.$SC.log
  echo "== $SERVER $SC: ${CMD[*]}" >&2
  # The shell moves itself into the cgroup, then becomes the server.
  sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec taskset -c 0 "$@"' sh "$CG" "${CMD[@]}" > "$LOG" 2>&1 &
  SPID=$!
  up=0
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then up=1; break; fi
    kill -0 $SPID 2>/dev/null || break
    sleep 0.1
  done
  BRC=0
  if [ $up = 1 ]; then
    taskset -c 1 "$BENCH" "$SC" --server "$SERVER" --port "$PORT" --limit "$L" \
      --cgroup "$CG" --server-pid "$SPID" --csv "$OUT/$SERVER.$SC.csv" "${EXTRA[@]}" \
      > "$OUT/$SERVER.$SC.json" || BRC=$?
  else
    echo "scenarios.sh: $SERVER did not start; see $LOG" >&2
    : > "$OUT/$SERVER.$SC.json"
  fi
  ALIVE=false
  if kill -0 $SPID 2>/dev/null; then
    ALIVE=true
    kill -TERM $SPID
    for _ in $(seq 200); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
    kill -KILL $SPID 2>/dev/null || true
  fi
  RC=0; wait $SPID || RC=$?
  OOM=$(oom_kills "$CG"); PEAK=$(peak "$CG")
  printf '{"server":"%s","scenario":"%s","limit":%s,"server_cmd":"%s","alive_after":%s,"exit_status":%s,"oom_kills":%s,"cgroup_peak":%s,"bench_status":%s,"started":%s}\n' \
    "$SERVER" "$SC" "$L" "${CMD[*]}" "$ALIVE" "$RC" "${OOM:-null}" "$PEAK" "$BRC" "$([ $up = 1 ] && echo true || echo false)" \
    > "$OUT/$SERVER.$SC.run.json"
  echo "   alive_after=$ALIVE exit=$RC oom_kills=$OOM peak=$PEAK bench_status=$BRC" >&2
  rmdir "$CG" 2>/dev/null || true
  PORT=$((PORT + 1))
done

REPORT_ARGS=("$OUT")
[ $CI_MODE = 1 ] && REPORT_ARGS+=(--ci)
[ $PROBE_GATE = 0 ] && REPORT_ARGS+=(--no-probe-gate)
STATUS=0
python3 "$ROOT/scripts/scenario_report.py" "${REPORT_ARGS[@]}" || STATUS=$?
if [ $PLOT = 1 ]; then
  VENV=${PLOT_VENV:-${TMPDIR:-/tmp}/capkv-plot-venv}
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" -q install matplotlib \
      || echo "scenarios.sh: could not install matplotlib into $VENV; no plots" >&2
  fi
  "$VENV/bin/python" "$ROOT/scripts/plot_scenarios.py" "$OUT" || echo "scenarios.sh: plotting failed" >&2
fi
exit $STATUS
