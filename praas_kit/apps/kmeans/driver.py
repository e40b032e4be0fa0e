"""Running the distributed k-means from a client: :class:`KMeans` deploys the application, prepares datasets
in S3 and runs the three variants, using only the SDK (so it works on every backend).

* ``praas``: one application (``<name>``) with ``workers`` processes ``w0 .. w<W-1>``, invoked directly over the
  data plane, all at once; they exchange partials with ``context.send``/``recv``.
* ``redis`` and ``s3``: one application (``<name>-faas``) invoked FaaS-style through the control plane, ``workers``
  calls at once, so its pool holds one pooled process per worker; they exchange partials through Redis or S3.

Every variant reads its shard from S3 (``storage["bucket"]``); :meth:`KMeans.prepare` generates the shards
inside the pool's processes (the data never passes through the client). A run returns a :class:`RunResult`
with the client's wall time and every worker's :class:`~praas_kit.apps.kmeans.worker.WorkerReport`, its
per-epoch timings (``epochs``, ``started_at``) included: the reports come back as the invocations' JSON replies
(:meth:`WorkerReport.to_json` in the process, :meth:`WorkerReport.from_json` here), the same for every variant.
:func:`praas_kit.bench.kmeans_timeline.run_timelines` draws a run's workers on one time axis.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from praas_kit.apps.kmeans.data import DatasetSpec, Points
from praas_kit.apps.kmeans.worker import VARIANTS, Job, WorkerReport
from praas_kit.errors import InvalidArgument, Timeout
from praas_kit.limits import check_timeout
from praas_kit.names import validate_name
from praas_kit.storage.s3_endpoint import S3Endpoint

if TYPE_CHECKING:
    from praas_kit.sdk.client import ControlPlaneClient

log = logging.getLogger("praas_kit.apps.kmeans")

APP_CODE = Path(__file__).parent / "kmeans_app.py"  #: the application code (pass as ``code=``)
BUCKET = "praas-kmeans"
PHASES = ("read", "init", "compute", "sync")  #: the phases a worker times


@dataclass
class RunResult:
    """One run of one variant: the client's wall time and each worker's report (by rank, with its epochs'
    timings)."""

    variant: str
    dataset: DatasetSpec
    k: int
    epochs: int
    wall_s: float
    reports: list[WorkerReport]

    @property
    def phases(self) -> dict[str, float]:
        """Σ over workers of each phase in seconds: ``read`` (the shard from S3), ``init`` (the initial centroids,
        including the wait for rank 0's read), ``compute`` (local partials) and ``sync`` (the all-reduce), every
        epoch."""
        return {p: sum(getattr(r, f"{p}_s") for r in self.reports) for p in PHASES}

    @property
    def exchange(self) -> float:
        """Σ over workers of the all-reduce after the last worker published, every epoch: ``sync`` without the
        wait for the slowest worker (seconds)."""
        return sum(r.exchange_s for r in self.reports)

    @property
    def centroids(self) -> Points:
        """The final centroids (rank 0's; every rank has the same, :meth:`KMeans.run` checks)."""
        return np.array(self.reports[0].centroids, dtype=np.float64)

    @property
    def errors(self) -> list[float]:
        """The total error (sum of squared distances) after each epoch's assignment."""
        return list(self.reports[0].errors)


class KMeans:
    """The k-means application on control plane ``cp`` (a context manager: :meth:`close` deletes its processes
    and applications, also after an error).

    ``s3``: where the shards (and the S3 variant's messages) live, as
    :meth:`S3Endpoint.of <praas_kit.storage.s3_endpoint.S3Endpoint.of>` accepts (an ``S3Endpoint``, a URL, a dict
    with ``endpoint``..., a running Swift S3 server, a docker deployment's ``storage``);
    ``redis_url``: the Redis variant's server (``None``: that variant is unavailable). The URLs must be
    reachable from the processes. ``workers`` processes of ``vcpus`` and ``memory_mb`` each per variant.
    ``timeout`` bounds a run (seconds); a worker waits for a peer at most ``timeout / 2``.
    """

    def __init__(self, cp: ControlPlaneClient, s3: Any, redis_url: str | None = None, *, workers: int = 4,
                 name: str = "kmeans", bucket: str = BUCKET, vcpus: float = 1.0, memory_mb: int = 1024,
                 timeout: float = 600.0) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgument(f"workers must be a positive integer, not {workers!r}")
        if check_timeout(timeout, "a run's") is None:
            raise InvalidArgument("a run's timeout must be a positive number of seconds, not None")
        validate_name(name, "application name")
        validate_name(f"{name}-faas", "application name")
        self.cp, self.workers, self.timeout = cp, workers, float(timeout)
        self.storage: dict[str, Any] = S3Endpoint.of(s3).settings(bucket=bucket, redis_url=redis_url)
        self.names = tuple(f"w{r}" for r in range(workers))
        self.praas: Any = None
        self.faas: Any = None
        self.processes: list[Any] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kmeans")
        try:
            self.praas = cp.create_application(name, code=APP_CODE, vcpus=vcpus, memory_mb=memory_mb)
            self.processes = [self.praas.create_process(n, vcpus=vcpus, memory_mb=memory_mb) for n in self.names]
            self._wait_for_world()
            self.faas = cp.create_application(f"{name}-faas", code=APP_CODE, vcpus=vcpus, memory_mb=memory_mb)
        except BaseException:
            self.close()
            raise

    def _wait_for_world(self, limit: float = 60.0) -> None:
        """Wait until every PraaS process sees all the others running (the control plane tells processes about
        their peers asynchronously; a ``send`` to a peer not yet known fails); :class:`Timeout` after ``limit``."""
        deadline = time.monotonic() + limit
        for p in self.processes:
            while not set(self.names) <= set(p.invoke("kmeans-peers", timeout=limit).json()):
                if time.monotonic() > deadline:
                    raise Timeout(f"process {p.name} did not see all of {list(self.names)} within {limit} s")
                time.sleep(0.05)

    def __enter__(self) -> KMeans:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Delete every process and both applications (best effort: what fails is logged)."""
        self._pool.shutdown(wait=True)
        for app in (self.praas, self.faas):
            if app is None:
                continue
            try:
                for info in app.processes():
                    app.delete_process(info.name)
                app.delete()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on with the next application
                log.warning("could not delete application %s: %s", app.name, exc)
        self.praas = self.faas = None

    def _spec(self, dataset: DatasetSpec) -> None:
        if dataset.workers != self.workers:
            raise InvalidArgument(f"dataset of {dataset.workers} shards for {self.workers} workers")

    def _all(self, call: Any, args: list[Any]) -> list[Any]:
        """``call(a)`` for every ``a`` at once; the results in order (the first error raised, after all ended)."""
        futures = [self._pool.submit(call, a) for a in args]
        results, errors = [], []
        for f in futures:
            try:
                results.append(f.result())
            except Exception as exc:  # noqa: BLE001 - raised below, once every call ended
                errors.append(exc)
        if errors:
            raise errors[0]
        return results

    def prepare(self, dataset: DatasetSpec, prefix: str = "kmeans") -> list[str]:
        """Generate ``dataset``'s shards in the FaaS pool's processes (one per worker, in parallel) and put them
        into the bucket; their keys."""
        self._spec(dataset)
        body = {"dataset": dataset.to_json(), "storage": self.storage, "prefix": prefix}
        results = self._all(lambda r: self.faas.invoke("kmeans-prepare", {**body, "ranks": [r]},
                                                       timeout=self.timeout).json(), list(range(self.workers)))
        return [key for res in results for key in res["keys"]]

    def run(self, variant: str, dataset: DatasetSpec, k: int = 8, epochs: int = 10, prefix: str = "kmeans"
            ) -> RunResult:
        """One run of ``variant`` over a prepared ``dataset``; raises ``RuntimeError`` if the workers disagree on
        the final centroids, :class:`InvalidArgument` on a bad parameter (before anything runs)."""
        self._spec(dataset)
        if variant == "redis" and not self.storage["redis_url"]:
            raise InvalidArgument("the redis variant needs a redis_url")
        run = f"{variant}-{uuid.uuid4().hex[:12]}"
        jobs = [Job(variant, run, r, dataset, k, epochs, self.storage, self.names, self.timeout / 2, prefix)
                for r in range(self.workers)]

        def one(job: Job) -> dict[str, Any]:
            if variant == "praas":
                return dict(self.processes[job.rank].invoke("kmeans-worker", job.to_json(),
                                                            timeout=self.timeout).json())
            return dict(self.faas.invoke("kmeans-worker", job.to_json(), timeout=self.timeout).json())

        t0 = time.perf_counter()
        try:
            replies = self._all(one, jobs)
            wall = time.perf_counter() - t0
        finally:
            if variant != "praas":
                self.faas.invoke("kmeans-cleanup", {"run": run, "variant": variant, "workers": self.workers,
                                                    "epochs": epochs, "storage": self.storage}, timeout=self.timeout)
        reports = sorted((WorkerReport.from_json(r) for r in replies), key=lambda r: r.rank)
        if any(r.centroids != reports[0].centroids for r in reports):
            raise RuntimeError(f"the workers of {run} disagree on the final centroids")
        return RunResult(variant, dataset, k, epochs, wall, reports)


__all__ = ["KMeans", "RunResult", "APP_CODE", "BUCKET", "VARIANTS", "PHASES"]
