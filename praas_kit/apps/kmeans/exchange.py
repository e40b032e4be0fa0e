"""How the workers of one run exchange bytes: the all-reduce's transport, one class per variant.

Every worker of a run has a rank ``0 .. workers - 1``. :meth:`Exchange.publish` makes this worker's bytes for a
``tag`` (``"init"``, ``"e0"``, ``"e1"``...) visible to all peers; :meth:`Exchange.fetch` blocks until rank
``r``'s bytes for ``tag`` are there and returns them. :func:`allgather` builds the all-reduce's exchange from
the two. Tags are unique within a run and runs have unique ids, so nothing is overwritten or read twice.

* :class:`ChannelExchange` (PraaS): ``context.send`` to every peer, ``context.recv`` from each: the bytes go
  process to process.
* :class:`RedisExchange` (FaaS + Redis): ``SET <run>/<tag>/<rank>``, peers poll ``GET``.
* :class:`S3Exchange` (FaaS + S3): ``PutObject``, peers poll ``GetObject``.

The storage variants poll with the paper's back-off (:class:`Backoff`: sleep 1, 2, 3... ms between tries, as
the channel benchmark's Redis and S3 baselines) and count their requests (:attr:`Exchange.requests`).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from praas_kit.errors import InvalidArgument, Timeout

if TYPE_CHECKING:
    from praas_kit.process.context import Context


class Exchange(Protocol):
    """The transport of one worker in one run."""

    rank: int
    workers: int
    requests: int  #: storage requests made (0 for channels)

    def publish(self, tag: str, data: bytes) -> None:
        """Make ``data`` visible to every peer under ``tag``."""

    def fetch(self, tag: str, rank: int) -> bytes:
        """Rank ``rank``'s bytes under ``tag``, waiting for them; :class:`~praas_kit.errors.Timeout` after the
        exchange's timeout."""


_STAMP = struct.Struct("<d")  #: a publish time (seconds of time.perf_counter()) before the bytes


def allgather(ex: Exchange, tag: str, data: bytes) -> tuple[list[bytes], float]:
    """Publish ``data`` (ours) and return every rank's bytes for ``tag``, in rank order (ours included), and when
    the last of the ranks published (``time.perf_counter()``, ours included).

    Each rank's bytes travel behind an 8-byte stamp of its publish time. ``perf_counter`` is the machine's
    monotonic clock, the same in every process and container of one host, so the time from the last publish to
    the end of the all-gather is the exchange's own cost, without the wait for the slowest worker (on several
    hosts the stamps of the others are not comparable)."""
    now = time.perf_counter()
    ex.publish(tag, _STAMP.pack(now) + data)
    out, last = [], now
    for r in range(ex.workers):
        if r == ex.rank:
            out.append(data)
            continue
        got = ex.fetch(tag, r)
        if len(got) < _STAMP.size:
            raise InvalidArgument(f"rank {r}'s {tag!r} has {len(got)} bytes, less than its stamp")
        last = max(last, _STAMP.unpack_from(got)[0])
        out.append(got[_STAMP.size:])
    return out, last


def check_world(rank: int, workers: int) -> None:
    """:class:`InvalidArgument` unless ``0 <= rank < workers``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers must be a positive integer, not {workers!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < workers:
        raise InvalidArgument(f"rank must be in [0, {workers}), not {rank!r}")


class Backoff:
    """Linear back-off: :meth:`wait` sleeps 1 ms, then 2 ms, 3 ms... until ``limit`` seconds have passed since
    construction (then :meth:`wait` raises :class:`~praas_kit.errors.Timeout` naming ``what``)."""

    def __init__(self, what: str, limit: float, step: float = 0.001) -> None:
        self.what, self.step = what, step
        self.deadline = time.monotonic() + limit
        self.delay = step
        self.limit = limit

    def wait(self) -> None:
        if time.monotonic() >= self.deadline:
            raise Timeout(f"waited {self.limit} s for {self.what}")
        time.sleep(self.delay)
        self.delay += self.step


class ChannelExchange:
    """PraaS channels between the run's processes; ``names[r]`` is rank ``r``'s process."""

    def __init__(self, ctx: Context, names: Sequence[str], rank: int, run: str, timeout: float) -> None:
        check_world(rank, len(names))
        self.ctx, self.names, self.rank, self.workers = ctx, list(names), rank, len(names)
        self.run, self.timeout, self.requests = run, timeout, 0

    def publish(self, tag: str, data: bytes) -> None:
        key = f"{self.run}/{tag}"
        for r, name in enumerate(self.names):
            if r != self.rank:
                self.ctx.send(name, key, data)

    def fetch(self, tag: str, rank: int) -> bytes:
        return bytes(self.ctx.recv(self.names[rank], f"{self.run}/{tag}", timeout=self.timeout))


class _Polling:
    """A storage exchange: ``put(key, data)`` once, ``get(key)`` (``None``: not there yet) until it answers."""

    def __init__(self, rank: int, workers: int, run: str, timeout: float, where: str) -> None:
        check_world(rank, workers)
        self.rank, self.workers, self.run, self.timeout, self.where = rank, workers, run, timeout, where
        self.requests = 0

    def key(self, tag: str, rank: int) -> str:
        return f"{self.run}/{tag}/{rank}"

    def publish(self, tag: str, data: bytes) -> None:
        self.requests += 1
        self._put(self.key(tag, self.rank), data)

    def fetch(self, tag: str, rank: int) -> bytes:
        key = self.key(tag, rank)
        backoff = Backoff(f"{key} in {self.where}", self.timeout)
        while True:
            self.requests += 1
            data = self._get(key)
            if data is not None:
                return data
            backoff.wait()

    _put: Callable[[str, bytes], None]
    _get: Callable[[str], bytes | None]


class RedisExchange(_Polling):
    """``SET`` + polling ``GET`` on a Redis client; keys expire after ``ttl`` seconds."""

    def __init__(self, client: Any, rank: int, workers: int, run: str, timeout: float, ttl: int = 3600) -> None:
        super().__init__(rank, workers, run, timeout, "Redis")
        self.client, self.ttl = client, ttl

    def _put(self, key: str, data: bytes) -> None:
        self.client.set(key, data, ex=self.ttl)

    def _get(self, key: str) -> bytes | None:
        value = self.client.get(key)
        return None if value is None else bytes(value)


class S3Exchange(_Polling):
    """``PutObject`` + polling ``GetObject`` in ``bucket`` with a boto3 client."""

    def __init__(self, client: Any, bucket: str, rank: int, workers: int, run: str, timeout: float) -> None:
        super().__init__(rank, workers, run, timeout, f"S3 bucket {bucket}")
        self.client, self.bucket = client, bucket

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def _get(self, key: str) -> bytes | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey:
            return None
        try:
            return bytes(body.read())
        finally:
            body.close()


__all__ = ["Exchange", "allgather", "Backoff", "ChannelExchange", "RedisExchange", "S3Exchange", "check_world"]
