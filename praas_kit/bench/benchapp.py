"""Functions the benchmarks run inside processes.

Channel ping-pong comes in four transports run by the same two functions' processes: praas-kit channels
(``context.send``/``recv``), raw pyzmq between the same two processes (the transport's limit), Redis
lists (``RPUSH``/``BLPOP``, the fair blocking baseline; ``SET`` + polling ``GET`` with the paper's linear
back-off), and S3 (``PutObject`` + polling ``GetObject`` with the same back-off, as the paper's S3 baseline).
Each ``ping`` returns the round-trip times in seconds; its ``pong`` answers ``n`` times.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from praas_kit import Invocation, function

T = TypeVar("T")


@function
def echo(inv: Invocation, ctx: Any) -> bytes:
    return inv.payload


@function
def noop(inv: Invocation, ctx: Any) -> None:
    return None


@function
def pid(inv: Invocation, ctx: Any) -> int:
    """The process id of this runtime (on the local backend, as this machine sees it: ``praas bench profile``)."""
    return os.getpid()


@function
def fill(inv: Invocation, ctx: Any) -> None:
    """Hold ``MiB`` of state: 1 MiB objects of random bytes."""
    mib = int(inv.text)
    for i in range(mib):
        ctx.state(f"obj-{i}", os.urandom(1 << 20))


@function
def size(inv: Invocation, ctx: Any) -> int:
    return sum(len(ctx.state(k)) for k, _ in ctx.state_keys())


@function
def self_echo(inv: Invocation, ctx: Any) -> list[float]:
    """Invoke ``echo`` in this process ``n`` times with ``size`` bytes (PraaS "local" invocation, timed inside)."""
    args = inv.json()
    payload = b"x" * int(args["size"])
    for _ in range(5):
        ctx.invoke("SELF", "echo", payload)
    out = []
    for _ in range(int(args["n"])):
        t0 = time.perf_counter()
        ctx.invoke("SELF", "echo", payload)
        out.append(time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------ channels
def _with_arguments(fn: Callable[[dict[str, Any], Any], T]) -> Callable[[Invocation, Any], T]:
    """Register ``fn(arguments, ctx)`` as the function of its name, called with the invocation's JSON payload (the
    benchmark's arguments: ``n``, ``size``, ``warmup``, ``peer``...)."""

    @functools.wraps(fn)
    def call(inv: Invocation, ctx: Any) -> T:
        return fn(inv.json(), ctx)

    return function(call)


def _round_trips(a: dict[str, Any], step: Callable[[int], Any]) -> list[float]:
    """Run ``step(i)`` for ``warmup`` + ``n`` rounds (the benchmark's arguments ``a``); the seconds of each round
    after the warm-up."""
    warmup, out = int(a.get("warmup", 10)), []
    for i in range(warmup + int(a["n"])):
        t0 = time.perf_counter()
        step(i)
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def _rounds(a: dict[str, Any]) -> range:
    """The round numbers of an answering side: warm-up and measured rounds alike."""
    return range(int(a.get("warmup", 10)) + int(a["n"]))


def _poll(fetch: Callable[[], bytes | None], what: str, limit: float) -> bytes:
    """Call ``fetch()`` until it returns bytes, sleeping 1, 2, 3... ms between tries (the paper's back-off);
    ``TimeoutError`` after ``limit`` seconds."""
    delay, deadline = 0.001, time.monotonic() + limit
    while time.monotonic() < deadline:
        value = fetch()
        if value is not None:
            return value
        time.sleep(delay)
        delay += 0.001
    raise TimeoutError(f"no {what}")


@_with_arguments
def ping(a: dict[str, Any], ctx: Any) -> list[float]:
    """Send to ``peer`` and wait for the answer, ``n`` times (after ``warmup``); the round-trip times."""
    payload, peer, key = b"x" * int(a["size"]), a["peer"], a.get("key", "pp")

    def step(_: int) -> None:
        ctx.send(peer, key, payload)
        ctx.recv(peer, key, timeout=30)

    return _round_trips(a, step)


@_with_arguments
def pong(a: dict[str, Any], ctx: Any) -> None:
    for _ in _rounds(a):
        ctx.send(a["peer"], a.get("key", "pp"), ctx.recv(a["peer"], a.get("key", "pp"), timeout=30))


def _raw_context() -> Any:
    """A ZeroMQ context of the raw baseline's own: the runtime's context authenticates CurveZMQ peers with its
    ZAP handler, which would refuse the baseline's keys."""
    import zmq

    global _RAW
    if _RAW is None:
        _RAW = zmq.Context()
    return _RAW


_RAW: Any = None


@_with_arguments
def raw_pong(a: dict[str, Any], ctx: Any) -> None:
    """Bind a raw pyzmq socket (CurveZMQ when ``curve``), tell ``peer`` where, and echo ``n`` messages."""
    import zmq

    sock: Any = _raw_context().socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30_000)  # a lost peer fails the run instead of hanging it
    if a.get("curve"):
        pub, sec = zmq.curve_keypair()
        sock.curve_server, sock.curve_secretkey = True, sec
    else:
        pub = b""
    host = a.get("host", "127.0.0.1")
    port = sock.bind_to_random_port(f"tcp://{'0.0.0.0' if host != '127.0.0.1' else host}")
    ctx.send(a["peer"], "raw-addr", f"tcp://{host}:{port} {pub.decode()}")
    try:
        for _ in _rounds(a):
            sock.send(sock.recv())
    finally:
        # linger: the last echo may still be queued (a large CurveZMQ message is encrypted in libzmq's I/O thread);
        # closing with LINGER=0 would drop it and leave raw_ping waiting for it until its timeout
        sock.close(linger=5000)


@_with_arguments
def raw_ping(a: dict[str, Any], ctx: Any) -> list[float]:
    import zmq

    addr, _, key = ctx.recv(a["peer"], "raw-addr", timeout=30).decode().partition(" ")
    sock: Any = _raw_context().socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30_000)  # a lost peer fails the run instead of hanging it
    if key:
        pub, sec = zmq.curve_keypair()
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = key.encode(), pub, sec
    sock.connect(addr)
    payload = b"x" * int(a["size"])

    def step(_: int) -> None:
        sock.send(payload)
        sock.recv()

    try:
        return _round_trips(a, step)
    finally:
        sock.close()


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


@_with_arguments
def redis_ping(a: dict[str, Any], ctx: Any) -> list[float]:
    """Round trips through Redis lists: RPUSH to the peer's list, BLPOP from ours (``poll``: SET + polling GET
    with a linear back-off of 1, 2, 3... ms, as the paper's benchmark did)."""
    r, payload = _redis(a["url"]), b"x" * int(a["size"])
    mine, theirs = f"{a['key']}:ping", f"{a['key']}:pong"

    def step(i: int) -> None:
        if a.get("poll"):
            r.set(f"{theirs}:{i}", payload)
            _poll_get(r, f"{mine}:{i}")
        else:
            r.rpush(theirs, payload)
            r.blpop([mine], timeout=30)

    return _round_trips(a, step)


@_with_arguments
def redis_pong(a: dict[str, Any], ctx: Any) -> None:
    r = _redis(a["url"])
    mine, theirs = f"{a['key']}:pong", f"{a['key']}:ping"
    for i in _rounds(a):
        if a.get("poll"):
            r.set(f"{theirs}:{i}", _poll_get(r, f"{mine}:{i}"))
        else:
            data = r.blpop([mine], timeout=30)
            r.rpush(theirs, data[1] if data else b"")


def _poll_get(r: Any, key: str, limit: float = 30.0) -> bytes:
    """GET ``key`` until it exists (the back-off of :func:`_poll`), delete it; its bytes."""

    def fetch() -> bytes | None:
        value = r.get(key)
        if value is None:
            return None
        r.delete(key)
        return bytes(value)

    return _poll(fetch, f"{key} in Redis", limit)


# ------------------------------------------------------------------ S3 baseline
_S3: dict[tuple[str, str | None], Any] = {}


def _s3(a: dict[str, Any]) -> Any:
    """This process's boto3 client for the endpoint in the arguments (made once per process: a client costs
    about 0.2 s, more than a round trip)."""
    from praas_kit.storage.s3 import make_client

    key = (str(a["endpoint"]), a.get("access_key"))
    if key not in _S3:
        _S3[key] = make_client(a["endpoint"], a.get("access_key"), a.get("secret_key"), a.get("region", "us-east-1"),
                               connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"})
    return _S3[key]


@_with_arguments
def s3_ping(a: dict[str, Any], ctx: Any) -> list[float]:
    """Round trips through S3, as the paper's benchmark did: PutObject of the message under the peer's key, then
    poll GetObject of ours with a linear back-off of 1, 2, 3... ms, delete it. Arguments: ``endpoint``,
    ``bucket`` (existing), ``access_key``, ``secret_key``, ``key`` (prefix), ``size``, ``n``, ``warmup``."""
    s3, payload = _s3(a), b"x" * int(a["size"])
    mine, theirs = f"{a['key']}/ping", f"{a['key']}/pong"

    def step(i: int) -> None:
        s3.put_object(Bucket=a["bucket"], Key=f"{theirs}/{i}", Body=payload)
        _poll_get_s3(s3, a["bucket"], f"{mine}/{i}")

    return _round_trips(a, step)


@_with_arguments
def s3_pong(a: dict[str, Any], ctx: Any) -> None:
    """Answer ``s3_ping``: poll for each message (the same back-off), delete it, PutObject it back."""
    s3 = _s3(a)
    mine, theirs = f"{a['key']}/pong", f"{a['key']}/ping"
    for i in _rounds(a):
        s3.put_object(Bucket=a["bucket"], Key=f"{theirs}/{i}", Body=_poll_get_s3(s3, a["bucket"], f"{mine}/{i}"))


def _poll_get_s3(s3: Any, bucket: str, key: str, limit: float = 60.0) -> bytes:
    """GetObject ``key`` until it exists (the back-off of :func:`_poll`), delete it; its bytes."""

    def fetch() -> bytes | None:
        try:
            resp = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        body = resp["Body"]
        try:
            data = bytes(body.read())
        finally:
            body.close()
        s3.delete_object(Bucket=bucket, Key=key)
        return data

    return _poll(fetch, f"{key} in S3 bucket {bucket}", limit)
