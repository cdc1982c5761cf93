#!/usr/bin/env bash
# Headless Locust run against a capkv (or seed) server, with a summary.
#
#   scripts/locust-smoke.sh HOST PORT [USERS] [SPAWN_RATE] [SECONDS]
#   scripts/locust-smoke.sh 127.0.0.1 7171            # 500 users, 100/s, 60 s
#   scripts/locust-smoke.sh 127.0.0.1 7171 200 100 20
#
# Workload: capkv-bench/locustfile.py (the seed's: one persistent connection per
# user, PUT/GET 50/50). Prints users, requests/s, failures and p50/p95/p99
# from Locust's CSV, and exits non-zero if any request failed. A GET that
# answers NOTFOUND is not a failure (it is counted as "get_miss").
#
# Environment:
#   LOCUST_VERSION   pip version spec for locust (default: ==2.47.0)
#   LOCUST_VENV      virtualenv to create or reuse
#                    (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capkv-venv)
#   OUT_DIR          where the CSV files and the log go
#                    (default: bench-results/locust-<timestamp>)
#   LOCUST_PROCESSES fork this many Locust worker processes (default: 1)
#   KV_TIMEOUT       per-request timeout in seconds (default: 5)
#
# Send load only to servers you run yourself.
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 2 && $# -le 5 ]] || usage
HOST=$1
PORT=$2
USERS=${3:-500}
SPAWN=${4:-100}
SECONDS_TO_RUN=${5:-60}
for n in "$PORT" "$USERS" "$SPAWN" "$SECONDS_TO_RUN"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; usage; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
locustfile="$repo/capkv-bench/locustfile.py"
venv=${LOCUST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/capkv-venv}
locust_version=${LOCUST_VERSION:-==2.47.0}
out=${OUT_DIR:-$repo/bench-results/locust-$(date +%Y%m%d-%H%M%S)}
processes=${LOCUST_PROCESSES:-1}

# --- the virtualenv ---------------------------------------------------------
if [[ ! -x $venv/bin/locust ]]; then
    echo "creating $venv and installing locust$locust_version ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "locust$locust_version"
fi
"$venv/bin/locust" --version >&2

# --- a quick reachability check, so a typo fails in a second ------------------
if ! "$venv/bin/python" - "$HOST" "$PORT" <<'EOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
except OSError as exc:
    sys.exit(f"cannot connect to {sys.argv[1]}:{sys.argv[2]}: {exc}")
EOF
then
    exit 1
fi

# Each user holds a socket: make sure there are enough descriptors.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || (( hard > USERS + 256 )); then
    ulimit -n "$hard" 2>/dev/null || true
fi
if [[ $(ulimit -n) != unlimited ]] && (( $(ulimit -n) < USERS + 64 )); then
    echo "open-file limit $(ulimit -n) is too low for $USERS users" >&2
    exit 1
fi

mkdir -p "$out"
host_url="tcp://$HOST:$PORT"
[[ $HOST == *:* ]] && host_url="tcp://[$HOST]:$PORT"
echo "locust: $USERS users, spawn rate $SPAWN/s, ${SECONDS_TO_RUN}s against $host_url; output in $out" >&2

extra=()
(( processes > 1 )) && extra+=(--processes "$processes")

set +e
"$venv/bin/locust" -f "$locustfile" \
    --headless --host "$host_url" \
    --users "$USERS" --spawn-rate "$SPAWN" --run-time "${SECONDS_TO_RUN}s" \
    --stop-timeout 5 \
    --csv "$out/locust" --csv-full-history \
    --only-summary --loglevel WARNING --logfile "$out/locust.log" \
    "${extra[@]}" > "$out/summary.txt" 2>&1
locust_rc=$?
set -e

# --- the summary, from the CSV files --------------------------------------------
"$venv/bin/python" - "$out" "$USERS" "$locust_rc" <<'EOF'
import csv, pathlib, sys

out, target_users, locust_rc = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
stats_file = out / "locust_stats.csv"
if not stats_file.exists():
    print(f"no {stats_file}: Locust did not run (exit {locust_rc}); see {out}/summary.txt", file=sys.stderr)
    print((out / "summary.txt").read_text()[-3000:], file=sys.stderr)
    sys.exit(1)

rows = list(csv.DictReader(stats_file.open()))
users = 0
history = out / "locust_stats_history.csv"
if history.exists():
    for row in csv.DictReader(history.open()):
        try:
            users = max(users, int(row["User Count"]))
        except (KeyError, ValueError):
            pass

def ms(row, col):
    value = row.get(col, "")
    return "n/a" if value in ("", "N/A") else f"{float(value):.0f}"

print(f"users        {users} reached of {target_users}")
print(f"{'name':<12} {'requests':>10} {'failures':>9} {'req/s':>9} {'avg ms':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
total = None
for row in rows:
    name = row["Name"] if row["Type"] != "" else "Aggregated"
    if row["Name"] == "Aggregated":
        total = row
    print(f"{name:<12} {row['Request Count']:>10} {row['Failure Count']:>9} "
          f"{float(row['Requests/s']):>9.0f} {float(row['Average Response Time']):>7.2f} {ms(row, '50%'):>7} {ms(row, '95%'):>7} "
          f"{ms(row, '99%'):>7} {ms(row, 'Max Response Time'):>7}")

if total is None:
    print("no Aggregated row in the CSV", file=sys.stderr)
    sys.exit(1)
requests, failures = int(total["Request Count"]), int(total["Failure Count"])
misses = sum(int(r["Request Count"]) for r in rows if r["Name"] == "get_miss")
print(f"total        {requests} requests, {float(total['Requests/s']):.0f} req/s, "
      f"{failures} failures, {misses} GET misses (NOTFOUND, not failures)")
print(f"latency      p50 {ms(total, '50%')} ms, p95 {ms(total, '95%')} ms, p99 {ms(total, '99%')} ms, "
      f"mean {float(total['Average Response Time']):.2f} ms "
      "(Locust rounds percentiles to whole milliseconds)")

failures_file = out / "locust_failures.csv"
if failures_file.exists():
    shown = False
    for row in csv.DictReader(failures_file.open()):
        if not shown:
            print("failures:")
            shown = True
        print(f"  {row['Occurrences']:>8} x {row['Method']} {row['Name']}: {row['Error']}")

if requests == 0:
    print("FAIL: no request completed", file=sys.stderr)
    sys.exit(1)
if failures:
    print(f"FAIL: {failures} failed requests", file=sys.stderr)
    sys.exit(1)
print("PASS: no failures")
EOF
