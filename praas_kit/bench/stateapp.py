"""Functions of the state benchmark (``praas bench state``, paper §6.3): a reduction into an accumulator.

Each ``reduce_*`` invocation receives a vector of little-endian int64 values (the payload, ``8 * elements``
bytes), adds it into the accumulator of that length and stores the accumulator again:

* ``reduce_praas``: in process state, ``ctx.state(key)`` then ``ctx.state(key, accumulator)``;
* ``reduce_redis``: Redis ``GET`` then ``SET``;
* ``reduce_s3``: S3 ``GetObject`` then ``PutObject`` in a bucket.

The addition (:func:`add_vectors`) is the same code for all three, so only the storage differs. The
accumulator's key is ``acc-<elements>`` under ``<app>/<process>/``; a missing accumulator counts as zeros.

``state_setup`` (JSON ``{"redis_url", "s3": {"endpoint", "access_key", "secret_key", "region", "bucket"}}``,
either may be absent) configures the baselines once per process, like a Lambda's environment: it opens the
connections, creates the bucket if needed and keeps both in a module-level cache that every later invocation
reuses. ``state_peek`` (JSON ``{"system", "elements"}``) returns the last lane of an accumulator (or ``None``),
so the client can check that the reductions really happened.
"""

from __future__ import annotations

import threading
from typing import Any

from praas_kit import Invocation, function

#: the baselines' configuration and connections, set by ``state_setup`` and reused by every invocation
_CONFIG: dict[str, Any] = {}
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def add_vectors(acc: bytes | None, vec: bytes) -> bytes:
    """``acc + vec`` lane by lane, both little-endian int64 vectors of the same length (``None``: zeros).

    Contract: every lane is non-negative and every sum stays below 2**63. The vectors are then added as two
    unsigned integers of ``8 * elements`` bytes: no lane carries into the next, so this is the elementwise
    sum, computed in C (a Python loop over 100,000 elements would cost more than the storage being measured).
    Raises ``ValueError`` on vectors of different lengths or a length that is not a multiple of 8, and
    ``OverflowError`` if the last lane overflows.
    """
    if len(vec) % 8:
        raise ValueError(f"a vector of int64 has a multiple of 8 bytes, not {len(vec)}")
    if acc is None:
        return bytes(vec)
    if len(acc) != len(vec):
        raise ValueError(f"accumulator of {len(acc)} bytes, vector of {len(vec)} bytes")
    total = int.from_bytes(acc, "little") + int.from_bytes(vec, "little")
    return total.to_bytes(len(vec), "little")


def _key(ctx: Any, vec: bytes) -> str:
    return f"{ctx.app}/{ctx.process_id}/acc-{len(vec) // 8}"


def _client(kind: str) -> Any:
    """The cached Redis or S3 client; ``RuntimeError`` if ``state_setup`` did not configure ``kind``."""
    client = _CLIENTS.get(kind)
    if client is None:
        raise RuntimeError(f"the {kind} baseline is not configured in this process: invoke state_setup first")
    return client


def _s3_get(key: str) -> bytes | None:
    s3 = _client("s3")
    try:
        body = s3.get_object(Bucket=_CONFIG["bucket"], Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    try:
        return bytes(body.read())
    finally:
        body.close()


@function
def state_setup(inv: Invocation, ctx: Any) -> list[str]:
    """Open (once) the connections the payload describes and create the S3 bucket; the configured baselines."""
    args = inv.json()
    with _LOCK:
        if args.get("redis_url") and "redis" not in _CLIENTS:
            import redis

            client = redis.Redis.from_url(args["redis_url"])
            client.ping()
            _CLIENTS["redis"] = client
        s3cfg = args.get("s3")
        if s3cfg and "s3" not in _CLIENTS:
            from praas_kit.storage.s3 import make_client

            s3 = make_client(s3cfg["endpoint"], s3cfg.get("access_key"), s3cfg.get("secret_key"),
                             s3cfg.get("region") or "us-east-1")
            bucket = s3cfg["bucket"]
            try:
                s3.head_bucket(Bucket=bucket)
            except Exception:  # noqa: BLE001 - not there (or not visible): create it, which reports real errors
                s3.create_bucket(Bucket=bucket)
            _CONFIG["bucket"] = bucket
            _CLIENTS["s3"] = s3
        return sorted(_CLIENTS)


@function
def reduce_praas(inv: Invocation, ctx: Any) -> None:
    """Add the payload into the accumulator in process state."""
    key = _key(ctx, inv.payload)
    ctx.state(key, add_vectors(ctx.state(key), inv.payload))


@function
def reduce_redis(inv: Invocation, ctx: Any) -> None:
    """Add the payload into the accumulator in Redis (GET, add, SET)."""
    r, key = _client("redis"), _key(ctx, inv.payload)
    r.set(key, add_vectors(r.get(key), inv.payload))


@function
def reduce_s3(inv: Invocation, ctx: Any) -> None:
    """Add the payload into the accumulator in S3 (GetObject, add, PutObject)."""
    key = _key(ctx, inv.payload)
    _client("s3").put_object(Bucket=_CONFIG["bucket"], Key=key, Body=add_vectors(_s3_get(key), inv.payload))


@function
def state_peek(inv: Invocation, ctx: Any) -> int | None:
    """The last lane of the accumulator of ``elements`` int64 values in ``system``, or ``None`` if absent."""
    args = inv.json()
    key = f"{ctx.app}/{ctx.process_id}/acc-{int(args['elements'])}"
    system = args["system"]
    if system == "praas":
        acc = ctx.state(key)
    elif system == "redis":
        acc = _client("redis").get(key)
    elif system == "s3":
        acc = _s3_get(key)
    else:
        raise ValueError(f"unknown system {system!r}: praas, redis or s3")
    return None if acc is None else int.from_bytes(bytes(acc[-8:]), "little", signed=True)
