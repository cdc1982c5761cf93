"""Locust load test for capkv's line protocol (and the Go seed's).

The same workload as the seed's locustfile: every simulated user keeps one
persistent TCP connection (TCP_NODELAY), waits 0-5 ms between requests and
sends PUT or GET with equal weight, with the seed's key pattern:

    PUT key_<ms> test_value      -> OK
    GET key_<ms - 1>             -> test_value | NOTFOUND

where <ms> is time.perf_counter() in milliseconds, so most GETs ask for a
key written about a millisecond earlier and many of them miss.

What this file does that the seed's did not:
  * replies are read up to their '\\n' from a per-connection buffer (the
    seed took whatever one recv(4096) returned, so a reply split across
    segments, or two replies in one, were misread);
  * a GET that answers NOTFOUND is a success recorded under its own name,
    "get_miss", apart from hits ("get_hit"): a miss is a normal cache answer;
  * real failures are failures, each with its reason: an ERROR reply, a reply
    that is not OK to a PUT, a value other than the one every PUT writes,
    a closed or reset connection, a timeout. After a transport failure the
    connection is dropped and reopened (its replies may be out of step);
  * errors are reported with the exception's text, and connection attempts
    are recorded (as "connect") when they fail.

Run (see scripts/locust-smoke.sh for a headless run with a summary):

    locust -f capkv-bench/locustfile.py --host tcp://127.0.0.1:7171 \\
        --headless --users 500 --spawn-rate 100 --run-time 60s

Environment: KV_TIMEOUT (seconds per request, default 5).
"""

from __future__ import annotations

import os
import socket
import time

from locust import User, between, task

PUT_VALUE = "test_value"
DEFAULT_PORT = 7171
# A reply longer than this without a newline is a protocol error, not a
# reason to buffer forever (capkv's values are at most 256 KiB by default).
MAX_REPLY_BYTES = 1 << 20
TIMEOUT_S = float(os.getenv("KV_TIMEOUT", "5"))


class ReplyError(Exception):
    """The server answered, but not what the request calls for."""


class ConnectionClosed(Exception):
    """The server closed the connection before a whole reply arrived."""


class TransportError(Exception):
    """Connecting, sending or receiving failed (text: the cause)."""


def parse_host(host: str | None) -> tuple[str, int]:
    """`tcp://HOST[:PORT]` (Locust's --host) to (HOST, PORT)."""
    if not host:
        return os.getenv("KV_HOST", "127.0.0.1"), int(os.getenv("KV_PORT", str(DEFAULT_PORT)))
    if not host.startswith("tcp://"):
        raise ValueError(f"--host must look like tcp://HOST:PORT, got {host!r}")
    rest = host[len("tcp://") :].rstrip("/")
    if rest.startswith("["):  # tcp://[::1]:7171
        addr, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        addr, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return addr, int(port) if port else DEFAULT_PORT


class LineConnection:
    """One TCP connection speaking the newline-terminated protocol."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()

    def request(self, line: bytes) -> bytes:
        """Send one command line, return the reply without its '\\n'."""
        self.sock.sendall(line)
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                reply = bytes(self.buf[:end])
                del self.buf[: end + 1]
                return reply
            if len(self.buf) > MAX_REPLY_BYTES:
                raise ReplyError(f"reply longer than {MAX_REPLY_BYTES} bytes without a newline")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self.buf += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def describe(exc: BaseException) -> str:
    """Error text for Locust's failure table: the class and the message."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timeout after {TIMEOUT_S:g} s"
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


def shown(reply: bytes) -> str:
    """A reply, shortened, for an error message."""
    return repr(reply[:60]) + ("..." if len(reply) > 60 else "")


class KvUser(User):
    """One client with one persistent connection."""

    wait_time = between(0.0, 0.005)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.addr = parse_host(self.host)
        self.conn: LineConnection | None = None

    # -- connection management ---------------------------------------------

    def connection(self) -> LineConnection | None:
        if self.conn is not None:
            return self.conn
        start = time.perf_counter()
        try:
            self.conn = LineConnection(*self.addr, timeout=TIMEOUT_S)
        except OSError as exc:
            self.record("CONNECT", "connect", start, 0, TransportError(describe(exc)))
            # Do not hammer a server that refuses connections.
            time.sleep(0.5)
            return None
        return self.conn

    def drop_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def on_start(self) -> None:
        self.connection()

    def on_stop(self) -> None:
        self.drop_connection()

    # -- reporting -----------------------------------------------------------

    def record(self, kind: str, name: str, start: float, length: int, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=length,
            exception=exc,
            context={},
        )

    def call(self, kind: str, line: bytes) -> tuple[float, bytes | None, Exception | None]:
        """Send a line; on a transport failure return the failure and reconnect later."""
        conn = self.connection()
        start = time.perf_counter()
        if conn is None:
            return start, None, None
        try:
            return start, conn.request(line), None
        except (OSError, ConnectionClosed, ReplyError) as exc:
            # Replies on this connection may now be out of step: start over.
            self.drop_connection()
            return start, None, TransportError(describe(exc))

    # -- the workload ----------------------------------------------------------

    @task
    def put(self) -> None:
        key = f"key_{int(time.perf_counter() * 1000)}"
        start, reply, exc = self.call("PUT", f"PUT {key} {PUT_VALUE}\n".encode())
        if reply is None and exc is None:
            return  # could not connect; already recorded as "connect"
        if exc is None:
            if reply.startswith(b"ERROR"):
                exc = ReplyError(f"ERROR reply: {shown(reply)}")
            elif reply != b"OK":
                exc = ReplyError(f"expected OK, got {shown(reply)}")
        self.record("PUT", "put", start, len(reply or b""), exc)

    @task
    def get(self) -> None:
        key = f"key_{int(time.perf_counter() * 1000) - 1}"
        start, reply, exc = self.call("GET", f"GET {key}\n".encode())
        if reply is None and exc is None:
            return
        # Successes are split into hits and misses; failures of either kind
        # are recorded as "get".
        name = "get"
        if exc is None:
            if reply == b"NOTFOUND":
                name = "get_miss"
            elif reply == PUT_VALUE.encode():
                name = "get_hit"
            elif reply.startswith(b"ERROR"):
                exc = ReplyError(f"ERROR reply: {shown(reply)}")
            else:
                exc = ReplyError(f"wrong value: expected {PUT_VALUE!r}, got {shown(reply)}")
        self.record("GET", name, start, len(reply or b""), exc)
