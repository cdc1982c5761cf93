#!/usr/bin/env python3
"""redis-py, unchanged, against a running capkv: exits non-zero on any
mismatch.

    python3 scripts/redis_py_check.py PORT [HOST]

Needs the `redis` package (scripts/redis-py-check.sh installs it in a
throwaway virtualenv and starts capkv). Covers what applications do with
redis-py: SET with EX/PX/NX, GET, MGET/MSET, DELETE, INCR, TTL/PTTL and
EXPIRE, keys really expiring, binary values, pipelines (with and without MULTI/EXEC), a WATCH transaction
(`r.transaction`) retried after another client's write, INFO and CONFIG GET parsed by redis-py itself, and
the connection pool's handshake (CLIENT SETINFO) on every new connection.
All of it twice: with redis-py's default protocol (RESP3 since redis-py 8:
every connection opens with HELLO 3) and with protocol=2.
"""

import sys
import time
import warnings

import redis

failures = []


def check(what, got, expected):
    if got == expected:
        print(f"ok   {what}")
    else:
        failures.append(what)
        print(f"FAIL {what}: expected {expected!r}, got {got!r}")


def check_true(what, condition, detail=""):
    if condition:
        print(f"ok   {what}")
    else:
        failures.append(what)
        print(f"FAIL {what} {detail}")


def run(host, port, protocol):
    options = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(host=host, port=port, socket_timeout=10, **options)
    name = "default" if protocol is None else str(protocol)
    print(f"\nredis-py {redis.__version__} against {host}:{port}, protocol {name}")

    check("PING", r.ping(), True)
    r.flushall()

    # SET with options, GET.
    check("SET", r.set("greeting", "hello world"), True)
    check("GET", r.get("greeting"), b"hello world")
    check("GET missing", r.get("missing"), None)
    check("SET EX", r.set("session", "abc", ex=100), True)
    ttl = r.ttl("session")
    check_true("TTL after SET EX 100", 99 <= ttl <= 100, f"(got {ttl})")
    check("SET PX", r.set("short", "x", px=150), True)
    pttl = r.pttl("short")
    check_true("PTTL after SET PX 150", 0 < pttl <= 150, f"(got {pttl})")
    check("SET NX on existing", r.set("greeting", "other", nx=True), None)
    check("SET XX on existing", r.set("greeting", "hi", xx=True), True)
    check("SET GET", r.set("greeting", "hey", get=True), b"hi")
    check("SETEX", r.setex("setex", 50, "v"), True)
    check_true("TTL after SETEX 50", 49 <= r.ttl("setex") <= 50)
    check("TTL persistent", r.ttl("greeting"), -1)
    check("TTL missing", r.ttl("missing"), -2)
    check("EXPIRE", r.expire("greeting", 30), True)
    check_true("TTL after EXPIRE 30", 29 <= r.ttl("greeting") <= 30)
    check("PERSIST", r.persist("greeting"), True)
    check("GETEX PX", r.getex("greeting", px=100_000), b"hey")

    # A short TTL really expires (polled with a deadline, no fixed wait).
    deadline = time.monotonic() + 10
    while r.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    check("key with PX 150 expired", r.get("short"), None)
    check("TTL of expired key", r.ttl("short"), -2)

    # MSET / MGET / DEL / EXISTS.
    check("MSET", r.mset({"a": "1", "b": "2", "c": "3"}), True)
    check("MGET", r.mget(["a", "missing", "c"]), [b"1", None, b"3"])
    check("EXISTS", r.exists("a", "b", "missing"), 2)
    check("DELETE", r.delete("a", "missing"), 1)

    # Counters, strings.
    check("INCR", r.incr("counter"), 1)
    check("INCRBY", r.incrby("counter", 41), 42)
    check("DECR", r.decr("counter"), 41)
    check("APPEND", r.append("text", "abc"), 3)
    check("STRLEN", r.strlen("text"), 3)
    try:
        r.incr("text")
        check_true("INCR on text raises", False)
    except redis.ResponseError as e:
        check("INCR on text error", str(e), "value is not an integer or out of range")

    # Binary values.
    every_byte = bytes(range(256))
    r.set(b"bin\x00key", every_byte)
    check("binary value round-trip", r.get(b"bin\x00key"), every_byte)

    # A pipeline, without MULTI/EXEC.
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.set(f"p:{i}", f"value-{i}", ex=100)
    for i in range(1000):
        pipe.get(f"p:{i}")
    pipe.ttl("p:0")
    results = pipe.execute()
    check("pipeline SET replies", results[:1000], [True] * 1000)
    check(
        "pipeline GET replies",
        results[1000:2000],
        [f"value-{i}".encode() for i in range(1000)],
    )
    check_true("pipeline TTL reply", 99 <= results[2000] <= 100, f"(got {results[2000]})")

    # The default pipeline: MULTI ... EXEC.
    pipe = r.pipeline()
    pipe.set("tx:k", "v").incr("tx:n").incr("tx:n").get("tx:k")
    check("transaction pipeline", pipe.execute(), [True, 1, 2, b"v"])

    # A runtime error inside EXEC is returned, and the rest still ran.
    pipe = r.pipeline()
    pipe.incr("tx:k").set("tx:after", "1")
    try:
        pipe.execute()
        check_true("EXEC with a failing command raises", False)
    except redis.ResponseError as e:
        check_true("EXEC error names the command", "value is not an integer" in str(e), str(e))
    check("command after the failing one ran", r.get("tx:after"), b"1")

    # r.transaction: WATCH, read, MULTI, write, EXEC; retried when another
    # client changes the watched key in between.
    other = redis.Redis(host=host, port=port, socket_timeout=10, **options)
    r.set("tx:balance", "10")
    attempts = []

    def withdraw(p):
        attempts.append(1)
        balance = int(p.get("tx:balance"))
        if len(attempts) == 1:
            other.set("tx:balance", "100")
        p.multi()
        p.set("tx:balance", balance - 3)

    r.transaction(withdraw, "tx:balance")
    check("WATCH transaction retried once", len(attempts), 2)
    check("WATCH transaction result", r.get("tx:balance"), b"97")

    # What redis-py parses for itself.
    info = r.info()
    for field in ("redis_version", "connected_clients", "used_memory", "keyspace_hits"):
        check_true(f"INFO has {field}", field in info)
    check_true("INFO keyspace db0", "db0" in info and info["db0"]["keys"] > 0, f"(got {info.get('db0')!r})")
    memory = r.info("memory")
    check_true("INFO memory section", "maxmemory" in memory and "used_memory" in memory)
    config = r.config_get("maxmemory*")
    check_true("CONFIG GET maxmemory*", "maxmemory" in config, f"(got {config!r})")
    size = r.dbsize()
    check_true("DBSIZE counts the keys", size > 1000, f"(got {size})")

    # New pooled connections (each sends CLIENT SETINFO) keep working.
    pool = redis.ConnectionPool(host=host, port=port, socket_timeout=10, **options)
    clients = [redis.Redis(connection_pool=pool) for _ in range(4)]
    conns = [pool.get_connection() for _ in range(4)]
    for c in conns:
        pool.release(c)
    check("pooled clients", [c.get("greeting") for c in clients], [b"hey"] * 4)

    check("FLUSHALL", r.flushall(), True)
    check("DBSIZE after FLUSHALL", r.dbsize(), 0)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) == 3 else "127.0.0.1"
    # SETEX is what is being checked, deprecated or not.
    warnings.simplefilter("ignore", DeprecationWarning)
    for protocol in (None, 2):
        run(host, port, protocol)
    if failures:
        print(f"\nredis-py check: {len(failures)} FAILED: {', '.join(failures)}")
        return 1
    print("\nredis-py check: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
