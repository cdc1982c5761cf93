#!/usr/bin/env python3
"""redis-py, unchanged, against a capkv that wants a password: exits
non-zero on any mismatch.

    python3 scripts/redis_py_auth_check.py requirepass PORT PASSWORD
    python3 scripts/redis_py_auth_check.py aclfile PORT

`requirepass`: capkv started with --requirepass PASSWORD; redis-py's
`password=` (AUTH, or HELLO 3 AUTH default ... on RESP3).
`aclfile`: capkv started with scripts/auth-check.sh's ACL file; redis-py's
`username=`/`password=` for a read-only user restricted to `cache:*`.
Both with redis-py's default protocol (RESP3) and protocol=2.
"""

import sys

import redis

failures = []


def check(what, got, expected):
    if got == expected:
        print(f"ok   {what}")
    else:
        failures.append(what)
        print(f"FAIL {what}: expected {expected!r}, got {got!r}")


def raises(what, error, call):
    try:
        got = call()
    except error as e:
        print(f"ok   {what}: {type(e).__name__}: {e}")
        return
    except Exception as e:  # noqa: BLE001 - report whatever else came
        failures.append(what)
        print(f"FAIL {what}: expected {error.__name__}, got {type(e).__name__}: {e}")
        return
    failures.append(what)
    print(f"FAIL {what}: expected {error.__name__}, got the reply {got!r}")


def client(port, protocol, **auth):
    options = {} if protocol is None else {"protocol": protocol}
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **options, **auth)


def requirepass(port, password, protocol):
    r = client(port, protocol, password=password)
    check("PING with password=", r.ping(), True)
    check("SET", r.set("k", "v"), True)
    check("GET", r.get("k"), b"v")
    check("ACL WHOAMI", r.acl_whoami(), "default")
    raises("no password", redis.AuthenticationError, lambda: client(port, protocol).get("k"))
    raises(
        "wrong password",
        redis.AuthenticationError,
        lambda: client(port, protocol, password="wrong").get("k"),
    )
    check("FLUSHALL", r.flushall(), True)


def aclfile(port, protocol):
    admin = client(port, protocol, username="admin", password="adminpw")
    check("admin SET", admin.set("cache:1", "hit"), True)
    reader = client(port, protocol, username="reader", password="readpw")
    check("reader GET cache:1", reader.get("cache:1"), b"hit")
    check("reader MGET", reader.mget(["cache:1", "cache:2"]), [b"hit", None])
    raises("reader SET", redis.exceptions.NoPermissionError, lambda: reader.set("cache:1", "x"))
    raises("reader GET other", redis.exceptions.NoPermissionError, lambda: reader.get("other"))
    raises(
        "reader wrong password",
        redis.AuthenticationError,
        lambda: client(port, protocol, username="reader", password="x").get("cache:1"),
    )
    raises(
        "unknown user",
        redis.AuthenticationError,
        lambda: client(port, protocol, username="nobody", password="x").get("cache:1"),
    )
    pipe = reader.pipeline(transaction=False)
    for i in range(100):
        pipe.get("cache:1")
    check("reader pipeline", pipe.execute(), [b"hit"] * 100)
    check("admin FLUSHALL", admin.flushall(), True)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("requirepass", "aclfile"):
        sys.exit(__doc__)
    mode, port = sys.argv[1], int(sys.argv[2])
    for protocol in (None, 2):
        print(f"\nredis-py {redis.__version__}, {mode}, protocol {protocol or 'default'}")
        if mode == "requirepass":
            requirepass(port, sys.argv[3], protocol)
        else:
            aclfile(port, protocol)
    if failures:
        print(f"\nredis-py auth check: {len(failures)} FAILED: {', '.join(failures)}")
        return 1
    print("\nredis-py auth check: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
