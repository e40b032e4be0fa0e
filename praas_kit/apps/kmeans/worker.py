"""One k-means worker: read its shard, receive the initial centroids, then ``epochs`` rounds of local partial and
all-reduce; the same loop for every variant (only the :class:`~praas_kit.apps.kmeans.exchange.Exchange` differs).

A :class:`Job` is what the client sends each worker (JSON); a :class:`WorkerReport` is what the worker returns:
its phase times (``read_s``: the shard from S3; ``init_s``: receiving (or, on rank 0, broadcasting) the initial
centroids, which includes waiting for rank 0's read; ``compute_s``: :func:`~praas_kit.apps.kmeans.algorithm.partial`
summed over epochs; ``sync_s``: every epoch's all-reduce and :func:`~praas_kit.apps.kmeans.algorithm.combine`,
summed; ``exchange_s``: the part of it after the last worker published, i.e. without the wait for the slowest
worker), the final centroids and the error of each epoch; and the same split per epoch (:class:`EpochTiming`:
when the epoch began, its compute, its wait for the slowest worker, its exchange), for a timeline of the workers
(:func:`praas_kit.bench.kmeans_timeline.epoch_timeline`).

**Clocks.** Durations are differences of ``time.perf_counter()``. To put several workers on one time axis, a
report carries ``started_at``, the worker's start on the wall clock (``time.time()``, read next to the
``perf_counter`` start), and every epoch's ``start_s`` relative to it: ``started_at + start_s`` is when the epoch
began on the wall clock. ``time.time()`` is one clock for every process and container of a host (they share the
kernel's), and NTP keeps hosts within a few milliseconds, so workers line up exactly on one host and roughly
across hosts. (``perf_counter``, the monotonic clock, would line up one host too, but it means nothing across
hosts. The split of an epoch's sync into wait and exchange compares publish stamps of ``perf_counter``, so it
holds on one host only: see :func:`~praas_kit.apps.kmeans.exchange.allgather`.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from praas_kit.apps.kmeans.algorithm import Partial, check_epochs, check_k, combine, initial_centroids, partial
from praas_kit.apps.kmeans.data import DatasetSpec, Points
from praas_kit.apps.kmeans.exchange import Exchange, allgather, check_world
from praas_kit.errors import InvalidArgument
from praas_kit.limits import check_timeout

VARIANTS = ("praas", "redis", "s3")  #: PraaS channels, FaaS + Redis, FaaS + S3


@dataclass(frozen=True)
class Job:
    """One worker's part of a run. ``names`` (PraaS only) are the run's processes by rank; ``storage`` holds the
    S3 settings (``endpoint``, ``access_key``, ``secret_key``, ``region``), the ``bucket`` of the shards (and of
    the S3 variant's messages) and the ``redis_url``; ``timeout`` bounds every wait for a peer."""

    variant: str
    run: str
    rank: int
    dataset: DatasetSpec
    k: int
    epochs: int
    storage: dict[str, Any]
    names: tuple[str, ...] = ()
    timeout: float = 120.0
    prefix: str = "kmeans"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise InvalidArgument(f"unknown variant {self.variant!r}: choose from {', '.join(VARIANTS)}")
        check_world(self.rank, self.dataset.workers)
        check_k(self.k, self.dataset.points_per_worker)
        check_epochs(self.epochs)
        if self.variant == "praas" and len(self.names) != self.dataset.workers:
            raise InvalidArgument(f"the praas variant needs {self.dataset.workers} process names, not "
                                  f"{len(self.names)}")
        check_timeout(self.timeout, "a worker's")
        if not self.run or "/" in self.run:
            raise InvalidArgument(f"a run id is a non-empty string without '/', not {self.run!r}")

    @property
    def shard_key(self) -> str:
        return self.dataset.key(self.rank, self.prefix)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "dataset": self.dataset.to_json(), "names": list(self.names)}

    @classmethod
    def from_json(cls, data: Any) -> Job:
        """The job of :meth:`to_json`; :class:`InvalidArgument` if ``data`` is not one."""
        if not isinstance(data, dict):
            raise InvalidArgument(f"a k-means job is a JSON object, not {type(data).__name__}")
        try:
            fields = dict(data)
            fields["dataset"] = DatasetSpec.from_json(fields["dataset"])
            fields["names"] = tuple(fields.get("names", ()))
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"bad k-means job: {exc!r}") from None


@dataclass(frozen=True)
class EpochTiming:
    """One epoch of one worker, in seconds: it began ``start_s`` after the worker started (its report's
    ``started_at``), computed its partial for ``compute_s``, then waited ``wait_s`` until the last worker of the
    epoch began to publish its partial (this worker's own publish falls into it, unless this worker was the last:
    then ``wait_s`` is about 0) and spent ``exchange_s`` on the rest of the all-reduce (the last publish, the
    fetches) and :func:`~praas_kit.apps.kmeans.algorithm.combine`. The three follow each other without a gap;
    ``wait_s + exchange_s`` is the epoch's sync (to float rounding)."""

    start_s: float
    compute_s: float
    wait_s: float
    exchange_s: float

    @property
    def sync_s(self) -> float:
        """The epoch's all-reduce: the wait for the slowest worker and the exchange."""
        return self.wait_s + self.exchange_s

    @property
    def end_s(self) -> float:
        """When the epoch ended, seconds after the worker started."""
        return self.start_s + self.compute_s + self.wait_s + self.exchange_s


@dataclass
class WorkerReport:
    """What one worker measured and computed. The sums are the sums of ``epochs`` (to float rounding):
    ``compute_s == Σ e.compute_s``, ``exchange_s == Σ e.exchange_s``, ``sync_s == Σ (e.wait_s + e.exchange_s)``.
    ``epochs`` is empty and ``started_at`` ``None`` in a report from before they were recorded."""

    rank: int
    read_s: float
    init_s: float
    sync_s: float
    compute_s: float
    total_s: float
    requests: int
    centroids: list[list[float]]
    errors: list[float] = field(default_factory=list)
    exchange_s: float = 0.0  #: Σ over epochs of the all-reduce after the last worker published (sync_s less waiting)
    started_at: float | None = None  #: the worker's start, ``time.time()`` (seconds since the Unix epoch)
    epochs: list[EpochTiming] = field(default_factory=list)  #: every epoch's timing, in order

    @property
    def wait_s(self) -> float:
        """Σ over epochs of the wait for the slowest worker: ``sync_s`` less ``exchange_s``."""
        return self.sync_s - self.exchange_s

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the epochs as objects {"start_s", "compute_s", "wait_s", "exchange_s"}

    @classmethod
    def from_json(cls, data: Any) -> WorkerReport:
        """The report of :meth:`to_json` (also one without ``started_at`` and ``epochs``, from an older worker);
        :class:`InvalidArgument` if ``data`` is not one."""
        if not isinstance(data, dict):
            raise InvalidArgument(f"a k-means worker report is a JSON object, not {type(data).__name__}")
        try:
            fields = dict(data)
            fields["epochs"] = [EpochTiming(**e) for e in fields.get("epochs", ())]
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"bad k-means worker report: {exc!r}") from None


def run_worker(job: Job, read: Callable[[], Points], ex: Exchange) -> WorkerReport:
    """Run ``job``: ``read()`` the shard (timed as the read phase), then the epochs over ``ex``."""
    started_at, t_start = time.time(), time.perf_counter()
    points = read()
    t_read = time.perf_counter()
    if points.shape != (job.dataset.points_per_worker, job.dataset.features):
        raise InvalidArgument(f"shard {job.shard_key} has shape {points.shape}, expected "
                              f"({job.dataset.points_per_worker}, {job.dataset.features})")
    k, d = job.k, job.dataset.features
    if job.rank == 0:
        centroids = initial_centroids(points, k)
        ex.publish("init", centroids.astype("<f8").tobytes())
    else:
        centroids = np.frombuffer(ex.fetch("init", 0), "<f8").reshape(k, d).astype(np.float64)
    init = time.perf_counter() - t_read
    sync = compute = exchange = 0.0
    errors, epochs = [], []
    for epoch in range(job.epochs):
        t0 = time.perf_counter()
        mine = partial(points, centroids)
        t1 = time.perf_counter()
        everyone, last_published = allgather(ex, f"e{epoch}", mine.to_bytes())
        centroids, error = combine([Partial.from_bytes(b) for b in everyone], centroids)
        t2 = time.perf_counter()
        ready = max(t1, last_published)  # the last worker's partial is out: from here on, no more waiting
        compute += t1 - t0
        sync += t2 - t1
        exchange += t2 - ready
        errors.append(error)
        epochs.append(EpochTiming(t0 - t_start, t1 - t0, ready - t1, t2 - ready))
    return WorkerReport(job.rank, t_read - t_start, init, sync, compute, time.perf_counter() - t_start, ex.requests,
                        centroids.tolist(), errors, exchange, started_at, epochs)


__all__ = ["Job", "WorkerReport", "EpochTiming", "run_worker", "VARIANTS"]
