"""Distributed k-means (paper §6.5): LambdaML-style k-means over W workers, in three variants with identical
arithmetic.

* ``praas``: W processes of one application exchange partial sums with ``context.send``/``recv``;
* ``redis``: W FaaS invocations exchange them through Redis (``SET`` + polling ``GET``);
* ``s3``: W FaaS invocations exchange them through S3 (``PutObject`` + polling ``GetObject``).

Every worker reads its shard of a synthetic HIGGS-like dataset (:mod:`~praas_kit.apps.kmeans.data`) from S3,
then runs the epochs (:mod:`~praas_kit.apps.kmeans.worker`); all variants reach bit-identical centroids, equal to
:func:`reference`'s. ::

    with KMeans(cp, s3=swift, redis_url=redis.url, workers=4) as km:
        spec = DatasetSpec(points_per_worker=10_000, workers=4)
        km.prepare(spec)
        result = km.run("praas", spec, k=8, epochs=10)
        result.wall_s, result.read_s, result.sync_s, result.compute_s, result.centroids
"""

from __future__ import annotations

from praas_kit.apps.kmeans.algorithm import reference
from praas_kit.apps.kmeans.data import DatasetSpec, shard
from praas_kit.apps.kmeans.driver import APP_CODE, BUCKET, KMeans, RunResult
from praas_kit.apps.kmeans.worker import VARIANTS, EpochTiming, WorkerReport

__all__ = ["KMeans", "RunResult", "WorkerReport", "EpochTiming", "DatasetSpec", "shard", "reference", "VARIANTS",
           "APP_CODE", "BUCKET"]
