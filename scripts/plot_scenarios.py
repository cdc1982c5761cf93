#!/usr/bin/env python3
"""One PNG per scenario CSV in a scripts/scenarios.sh results folder:
memory over time (cgroup usage, RSS, allocator resident, item bytes)
against the hard limit, with the phases shaded.

    plot_scenarios.py DIR      (needs matplotlib; scenarios.sh makes a venv)
"""
import csv
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GIB = 2**30


def col(rows, name):
    xs, ys = [], []
    for r in rows:
        v = r.get(name, "")
        if v not in ("", None):
            try:
                xs.append(float(r["t_s"]))
                ys.append(float(v) / GIB)
            except ValueError:
                pass
    return xs, ys


def plot(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    name = os.path.basename(path)[: -len(".csv")]
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    limit = next((float(r["cgroup_limit"]) for r in rows if r.get("cgroup_limit")), None)
    for key, label, style in [
        ("cgroup_usage", "cgroup usage", dict(color="tab:red", lw=1.8)),
        ("rss", "process RSS", dict(color="tab:orange", lw=1.2)),
        ("allocator_resident", "allocator resident", dict(color="tab:purple", lw=1, ls="--")),
        ("capkv_item_bytes", "item bytes (capkv)", dict(color="tab:green", lw=1)),
        ("bytes", "item bytes (memcached)", dict(color="tab:green", lw=1)),
        ("used_memory", "used_memory (redis/capkv)", dict(color="tab:blue", lw=1, ls=":")),
        ("capkv_buffer_bytes", "connection buffers (capkv)", dict(color="tab:brown", lw=1)),
    ]:
        xs, ys = col(rows, key)
        if xs and max(ys) > 0:
            ax.plot(xs, ys, label=label, **style)
    if limit and limit < 2**60:
        ax.axhline(limit / GIB, color="black", lw=1.5, label="hard limit L")
        ax.set_ylim(0, limit / GIB * 1.12)
    # Shade alternate phases and label them.
    start, phase = None, None
    spans = []
    for r in rows:
        t = float(r["t_s"])
        if r["phase"] != phase:
            if phase is not None:
                spans.append((phase, start, t))
            phase, start = r["phase"], t
    if phase is not None:
        spans.append((phase, start, float(rows[-1]["t_s"])))
    total = max(float(rows[-1]["t_s"]) - float(rows[0]["t_s"]), 1e-9)
    for i, (p, a, b) in enumerate(spans):
        if i % 2:
            ax.axvspan(a, b, color="grey", alpha=0.08)
        # Narrow phases get a vertical label at their start.
        wide = (b - a) / total > 0.12
        ax.text((a + b) / 2 if wide else a, ax.get_ylim()[1] * 0.97, p, ha="center" if wide else "left",
                va="top", fontsize=7, rotation=0 if wide else 90)
    ax.set_xlabel("seconds")
    ax.set_ylabel("GiB")
    ax.set_title(name.replace(".", " - "))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    out = path[: -len(".csv")] + ".png"
    fig.savefig(out)
    plt.close(fig)
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for d in sys.argv[1:]:
        for path in sorted(glob.glob(os.path.join(d, "*.csv"))):
            out = plot(path)
            if out:
                print("plot:", out)


if __name__ == "__main__":
    main()
