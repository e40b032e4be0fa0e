"""One k-means worker: read its shard, receive the initial centroids, then ``epochs`` rounds of local partial and
all-reduce; the same loop for every variant (only the :class:`~praas_kit.apps.kmeans.exchange.Exchange` differs).

A :class:`Job` is what the client sends each worker (JSON); a :class:`WorkerReport` is what the worker returns:
its phase times (``read_s``: the shard from S3; ``init_s``: receiving (or, on rank 0, broadcasting) the initial
centroids, which includes waiting for rank 0's read; ``compute_s``: :func:`~praas_kit.apps.kmeans.algorithm.partial`
summed over epochs; ``sync_s``: every epoch's all-reduce and :func:`~praas_kit.apps.kmeans.algorithm.combine`,
summed; ``exchange_s``: the part of it after the last worker published, i.e. without the wait for the slowest
worker), the final centroids and the error of each epoch.
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
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or not self.timeout > 0:
            raise InvalidArgument(f"timeout must be a positive number of seconds, not {self.timeout!r}")
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


@dataclass
class WorkerReport:
    """What one worker measured and computed."""

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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerReport:
        return cls(**data)


def run_worker(job: Job, read: Callable[[], Points], ex: Exchange) -> WorkerReport:
    """Run ``job``: ``read()`` the shard (timed as the read phase), then the epochs over ``ex``."""
    t_start = time.perf_counter()
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
    errors = []
    for epoch in range(job.epochs):
        t0 = time.perf_counter()
        mine = partial(points, centroids)
        t1 = time.perf_counter()
        everyone, last_published = allgather(ex, f"e{epoch}", mine.to_bytes())
        centroids, error = combine([Partial.from_bytes(b) for b in everyone], centroids)
        t2 = time.perf_counter()
        compute += t1 - t0
        sync += t2 - t1
        exchange += t2 - max(t1, last_published)
        errors.append(error)
    return WorkerReport(job.rank, t_read - t_start, init, sync, compute, time.perf_counter() - t_start, ex.requests,
                        centroids.tolist(), errors, exchange)


__all__ = ["Job", "WorkerReport", "run_worker", "VARIANTS"]
