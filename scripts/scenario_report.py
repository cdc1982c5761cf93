#!/usr/bin/env python3
"""Markdown table (and CI verdict) from a scripts/scenarios.sh results folder.

    scenario_report.py DIR [DIR ...] [--ci [--no-probe-gate]]

Reads DIR/<server>.<scenario>.json (capkv-bench's result line) and
DIR/<server>.<scenario>.run.json (OOM kills, exit status), prints the table
and writes it to the first DIR's report.md. With --ci, exits 1 when any
scenario had an OOM kill, a server that died, a wrong value, or a figure
under its CI threshold (THRESHOLDS below; docs/SCENARIOS.md says why), or
a probe (a fresh PING + GET every 100 ms during the scenario) slower than
PROBE_MAX_MS or unanswered. --no-probe-gate reports the probes without
failing on them (local measurement only; CI never passes it).
Stdlib only.
"""
import glob
import json
import os
import sys

ORDER = ["small", "large", "shifting", "churn", "flood", "zipf", "zipf-scan", "slowloris", "idle"]

# Every probe in every scenario answered within this (DESIGN.md, "Never
# frozen": any answer slower than 1 s is a bug).
PROBE_MAX_MS = 1000.0

# CI thresholds at L = 256 MiB, from measurements on the 2-core dev machine
# (docs/SCENARIOS.md, "CI thresholds"): retained user bytes / L, or the hit
# ratio for zipf and zipf-scan.
THRESHOLDS = {
    "small": ("retained_fraction", 0.70),
    "large": ("retained_fraction", 0.72),
    "shifting": ("retained_fraction", 0.70),
    "churn": ("retained_fraction", 0.65),
    "flood": ("retained_fraction", 0.40),
    "zipf": ("hit_ratio", 0.75),
    # Above what Redis allkeys-lru reached with the scan at 128 and 512 MiB
    # (0.627, 0.673), below capkv's 0.69 to 0.72 there.
    "zipf-scan": ("hit_ratio", 0.66),
}

# Figures that must stay at or below a ceiling: resident memory per idle
# connection. The 1 KiB held (877 B, then 919 B: a 512 B task,
# tokio's 256 B socket registration and the rest) until CLIENT LIST gave
# every connection a 128 B record and a table entry: 1,041 B. The ceiling
# is 1,088 B until the record shrinks (see docs/SCENARIOS.md); it still
# catches the mistakes it is for (a task one size class larger adds about
# 90 B, an async wrapper that doubled each task's future made 2,052 B).
CEILINGS = {
    "idle": ("bytes_per_connection_rss", 1088.0),
}


def load(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def gib(n):
    return "%.2f" % (n / 2**30) if isinstance(n, (int, float)) else "-"


def top_errors(errors, n=2):
    if not errors:
        return "0"
    total = sum(errors.values())
    items = sorted(errors.items(), key=lambda kv: -kv[1])[:n]
    return "%d (%s)" % (total, "; ".join("%s: %d" % (k[:48], v) for k, v in items))


def live_fraction(stats):
    """capkv's live item bytes over its segment bytes at the end of a run."""
    try:
        return float(stats["capkv_item_bytes"]) / float(stats["capkv_segment_bytes"])
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def rows(dirs):
    out = []
    for d in dirs:
        for run_path in glob.glob(os.path.join(d, "*.run.json")):
            run = load(run_path)
            if not run:
                continue
            res = load(run_path[: -len(".run.json")] + ".json") or {}
            out.append((run, res))
    out.sort(key=lambda r: (ORDER.index(r[0]["scenario"]) if r[0]["scenario"] in ORDER else 99, r[0]["server"]))
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ci = "--ci" in sys.argv
    probe_gate = "--no-probe-gate" not in sys.argv
    if not args:
        sys.exit(__doc__)
    table = [
        "| scenario | server | L (GiB) | written (GiB) | retained (GiB) | retained / L | hit ratio | live fraction | wrong values | errors (top kinds) | peak cgroup / L | OOM kills | survived |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    failures = []
    notes = []
    probes = [
        "| scenario | server | probes | unanswered | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, res in rows(args):
        sc, srv, limit = run["scenario"], run["server"], run["limit"]
        oom = run.get("oom_kills") or 0
        survived = run.get("alive_after") and oom == 0 and res.get("server_reachable", False)
        wrong = res.get("wrong_values")
        frac = res.get("retained_fraction")
        hit = res.get("hit_ratio")
        peak = run.get("cgroup_peak")
        live = live_fraction(res.get("server_stats") or {})
        table.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                sc,
                srv,
                gib(limit),
                gib(res.get("written_bytes")),
                gib(res.get("retained_user_bytes")),
                "%.3f" % frac if frac is not None else "-",
                "%.3f" % hit if hit is not None else "-",
                "%.3f" % live if live is not None else "-",
                wrong if wrong is not None else "-",
                top_errors(res.get("errors")),
                "%.3f" % (peak / limit) if isinstance(peak, (int, float)) else "-",
                oom,
                "yes" if survived else "**no** (exit %s)" % run.get("exit_status"),
            )
        )
        pr = res.get("probe")
        fmt = lambda v: "%.1f" % v if isinstance(v, (int, float)) else "-"
        if pr:
            probes.append(
                "| %s | %s | %s | %s | %s | %s | %s |"
                % (sc, srv, pr.get("count"), pr.get("unanswered"), fmt(pr.get("p50_ms")), fmt(pr.get("p99_ms")), fmt(pr.get("max_ms")))
            )
        if sc == "slowloris" and "attackers" in res:
            notes.append(
                "%s slowloris: %s attackers sending %s of %s-byte values: %s accepted, %s evicted, %s refused, %s held to the end; retained %.3f L before, %.3f L after"
                % (srv, res["attackers"], res.get("partial_bytes"), res.get("value_size"), res.get("accepted"), res.get("evicted"),
                   res.get("refused"), res.get("held_to_end"), res.get("retained_before_fraction") or 0, res.get("retained_fraction") or 0)
            )
        if sc == "idle" and "idle_connections" in res:
            notes.append(
                "%s idle: %s connections (%s answered their PING): %s B per connection of RSS, %s B of cgroup usage; retained %.3f L before, %.3f L after"
                % (srv, res.get("idle_connected"), res.get("idle_answered"), fmt(res.get("bytes_per_connection_rss")),
                   fmt(res.get("bytes_per_connection_cgroup")), res.get("retained_before_fraction") or 0, res.get("retained_fraction") or 0)
            )
        if sc == "small" and "overhead_per_item_resident" in res:
            notes.append(
                "%s small: %d items, overhead per item %.1f B (allocator resident) / %.1f B (cgroup usage) beyond 116 B of key+value"
                % (srv, res.get("items", 0), res["overhead_per_item_resident"], res.get("overhead_per_item_cgroup", float("nan")))
            )
        if sc == "shifting" and res.get("retained_by_value_size"):
            by = res["retained_by_value_size"]
            notes.append(
                "%s shifting: retained after the final phase by value size: %s"
                % (srv, ", ".join("%s B: %s GiB" % (k, gib(v)) for k, v in by.items()))
            )
        if ci:
            if oom:
                failures.append("%s %s: %d OOM kill(s)" % (srv, sc, oom))
            if not survived:
                failures.append("%s %s: server did not survive (exit %s)" % (srv, sc, run.get("exit_status")))
            if wrong is None:
                failures.append("%s %s: no result from capkv-bench" % (srv, sc))
            elif wrong:
                failures.append("%s %s: %d wrong values" % (srv, sc, wrong))
            field, minimum = THRESHOLDS.get(sc, (None, None))
            got = res.get(field) if field else None
            if field and (got is None or got < minimum):
                failures.append("%s %s: %s %s under the CI threshold %.2f" % (srv, sc, field, got, minimum))
            field, most = CEILINGS.get(sc, (None, None))
            got = res.get(field) if field else None
            if field and srv == "capkv" and (got is None or got > most):
                failures.append("%s %s: %s %s over the CI ceiling %.0f" % (srv, sc, field, got, most))
            if probe_gate and wrong is not None:
                if not pr:
                    failures.append("%s %s: no probe figures in the result" % (srv, sc))
                elif pr.get("unanswered") or (pr.get("max_ms") or 0) > PROBE_MAX_MS:
                    failures.append(
                        "%s %s: probe: %s of %s fresh PING+GET unanswered within %s ms, slowest answer %s ms (gate: every probe answered within %d ms)"
                        % (srv, sc, pr.get("unanswered"), pr.get("count"), pr.get("deadline_ms"), fmt(pr.get("max_ms")), PROBE_MAX_MS)
                    )
    text = "\n".join(table) + "\n"
    if len(probes) > 2:
        text += "\nProbe (a fresh connection every 100 ms: PING and GET, connect to last reply):\n\n" + "\n".join(probes) + "\n"
    if notes:
        text += "\n" + "\n".join("- " + n for n in notes) + "\n"
    print(text)
    with open(os.path.join(args[0], "report.md"), "w") as f:
        f.write(text)
    if ci:
        if failures:
            print("CI FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        gate = "every probe answered within %d ms" % PROBE_MAX_MS if probe_gate else "probe gate OFF (--no-probe-gate)"
        print("CI passed: no OOM kill, no wrong value, every figure at or above its threshold, " + gate)


if __name__ == "__main__":
    main()
