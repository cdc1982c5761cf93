#!/usr/bin/env python3
"""What active expiry costs and how far behind the deadlines it runs.

    python3 scripts/expiry-cost.py --port 7171 [--keys 10000000] [--spread 60]

Writes KEYS keys (16-byte keys, 16-byte values) over RESP with deadlines
spread evenly over SPREAD seconds starting 10 s after the fill ends, then,
every second until all should be gone, reads INFO and prints how many keys
have passed their deadline, how many the server has expired
(`expired_keys`), DBSIZE, and the CPU the expiry thread has used
(`expire_cycle_cpu_milliseconds`). The lag is the time between the moment
a key count's deadlines passed and the moment `expired_keys` reached it.
Needs redis-py.
"""
import argparse, time
import redis

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=7171)
ap.add_argument("--keys", type=int, default=10_000_000)
ap.add_argument("--spread", type=float, default=60.0)
args = ap.parse_args()

r = redis.Redis(host=args.host, port=args.port)
r.flushall()
n = args.keys
# Deadlines are fixed before the fill (PEXPIREAT-style absolute times), so
# the expected expiry curve is known exactly.
fill_estimate = n / 100_000 + 5
t0 = time.time() + fill_estimate + 10
step = args.spread / n
started = time.time()
batch = 10_000
for base in range(0, n, batch):
    p = r.pipeline(transaction=False)
    for i in range(base, min(base + batch, n)):
        p.execute_command("SET", b"key:%011d" % i, b"value-%010d" % i, "PXAT", int((t0 + i * step) * 1000))
    p.execute()
fill = time.time() - started
print(f"filled {n:,} keys in {fill:.1f} s; deadlines from +{t0 - time.time():.1f} s over {args.spread:.0f} s")

def stat(info, key):
    return int(info.get(key, 0))

reached = {}  # expired count -> when it was first reached
rows = []
print("t(s) | due | expired | dbsize | expire CPU ms | capped ticks")
while True:
    now = time.time()
    due = min(n, max(0, int((now - t0) / step) + 1)) if now >= t0 else 0
    info = r.info("stats")
    expired = stat(info, "expired_keys")
    size = r.dbsize()
    cpu = stat(info, "expire_cycle_cpu_milliseconds")
    capped = stat(info, "expired_time_cap_reached_count")
    rows.append((now, due, expired))
    print(f"{now - t0:6.1f} | {due:,} | {expired:,} | {size:,} | {cpu:,} | {capped:,}", flush=True)
    if expired >= n or now > t0 + args.spread + 30:
        break
    time.sleep(1)

# Lag: for each sample, when had `expired` keys become due?
lags = []
for now, due, expired in rows:
    if expired == 0 or now < t0:
        continue
    became_due = t0 + (expired - 1) * step
    lags.append(now - became_due)
cpu = stat(r.info("stats"), "expire_cycle_cpu_milliseconds")
print(f"expired {expired:,} of {n:,}; expiry CPU {cpu / 1000:.2f} s over {args.spread:.0f} s of deadlines "
      f"({cpu / 10 / args.spread:.1f}% of a core); lag at samples: max {max(lags, default=0):.2f} s, "
      f"median {sorted(lags)[len(lags) // 2] if lags else 0:.2f} s (includes up to 1 s of sampling)")
