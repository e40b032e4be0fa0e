"""The k-means application code (pass this file as ``code=``; :class:`~praas_kit.apps.kmeans.driver.KMeans`
does). The same code serves the PraaS processes and the FaaS pool:

* ``kmeans-worker`` (a :class:`~praas_kit.apps.kmeans.worker.Job` as JSON): one worker of a run, over the job's
  variant (channels to the peer processes, or Redis, or S3); replies a
  :class:`~praas_kit.apps.kmeans.worker.WorkerReport` as JSON.
* ``kmeans-prepare`` ``{"dataset", "ranks", "storage", "prefix"}``: generate those shards and put them into the
  bucket (created if missing); replies ``{"keys", "bytes"}``.
* ``kmeans-peers``: the names of the application's processes this process sees running (its world).
* ``kmeans-cleanup`` ``{"run", "variant", "workers", "epochs", "storage"}``: delete what a run left in Redis or
  S3; replies the number of keys deleted.

Storage clients are made once per process and reused by later invocations (a warm function's connections).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from praas_kit.apps.kmeans import data
from praas_kit.apps.kmeans.exchange import ChannelExchange, Exchange, RedisExchange, S3Exchange
from praas_kit.apps.kmeans.worker import Job, run_worker
from praas_kit.errors import InvalidArgument
from praas_kit.function import Invocation, function
from praas_kit.lifecycle import Status

if TYPE_CHECKING:
    from praas_kit.process.context import Context

_CLIENTS: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


def _s3(storage: dict[str, Any]) -> Any:
    from praas_kit.storage.s3_endpoint import S3Endpoint

    key = ("s3", str(storage["endpoint"]), str(storage.get("access_key")))
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = S3Endpoint.of(storage).client(connect_timeout=5, read_timeout=60,
                                                          retries={"max_attempts": 3, "mode": "standard"})
        return _CLIENTS[key]


def _redis(storage: dict[str, Any]) -> Any:
    url = storage.get("redis_url")
    if not url:
        raise InvalidArgument("the redis variant needs storage['redis_url']")
    key = ("redis", str(url))
    with _LOCK:
        if key not in _CLIENTS:
            import redis

            _CLIENTS[key] = redis.Redis.from_url(url)
        return _CLIENTS[key]


def _exchange(job: Job, ctx: Context) -> Exchange:
    workers = job.dataset.workers
    if job.variant == "praas":
        return ChannelExchange(ctx, job.names, job.rank, job.run, job.timeout)
    if job.variant == "redis":
        return RedisExchange(_redis(job.storage), job.rank, workers, job.run, job.timeout)
    return S3Exchange(_s3(job.storage), job.storage["bucket"], job.rank, workers, job.run, job.timeout)


@function(name="kmeans-worker")
def kmeans_worker(inv: Invocation, ctx: Context) -> dict[str, Any]:
    job = Job.from_json(inv.json())
    s3 = _s3(job.storage)
    bucket = job.storage["bucket"]

    def read() -> data.Points:
        body = s3.get_object(Bucket=bucket, Key=job.shard_key)["Body"]
        try:
            return data.decode(body.read(), job.dataset.features)
        finally:
            body.close()

    return run_worker(job, read, _exchange(job, ctx)).to_json()


@function(name="kmeans-prepare")
def kmeans_prepare(inv: Invocation, ctx: Context) -> dict[str, Any]:
    args = inv.json()
    spec = data.DatasetSpec.from_json(args["dataset"])
    storage = args["storage"]
    s3 = _s3(storage)
    try:
        s3.head_bucket(Bucket=storage["bucket"])
    except Exception:  # noqa: BLE001 - not there (or not visible): creating it reports real errors
        try:
            s3.create_bucket(Bucket=storage["bucket"])
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass  # a concurrent prepare made it
    ranks = [int(r) for r in args.get("ranks", range(spec.workers))]
    keys = data.upload(spec, s3, storage["bucket"], ranks, args.get("prefix", "kmeans"))
    return {"keys": keys, "bytes": len(keys) * spec.shard_bytes}


@function(name="kmeans-peers")
def kmeans_peers(inv: Invocation, ctx: Context) -> list[str]:
    return sorted(p["name"] for p in ctx.processes() if p.get("status") == Status.ALLOCATED.value)


@function(name="kmeans-cleanup")
def kmeans_cleanup(inv: Invocation, ctx: Context) -> int:
    args = inv.json()
    run, workers, storage = str(args["run"]), int(args["workers"]), args["storage"]
    if not run or "/" in run:
        raise InvalidArgument(f"bad run id {run!r}")
    keys = [f"{run}/{tag}/{r}" for tag in ["init", *(f"e{e}" for e in range(int(args["epochs"])))]
            for r in range(workers)]
    if args["variant"] == "redis":
        return int(_redis(storage).delete(*keys))
    if args["variant"] == "s3":
        s3 = _s3(storage)
        for key in keys:  # one by one: Swift's multi-object delete wants a Content-MD5 botocore does not send
            s3.delete_object(Bucket=storage["bucket"], Key=key)
        return len(keys)
    return 0
