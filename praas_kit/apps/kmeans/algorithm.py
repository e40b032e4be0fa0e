"""The k-means arithmetic shared by every variant: local partial sums, their reduction, the new centroids.

One epoch of the distributed (LambdaML-style) algorithm, on every worker:

1. :func:`partial`: assign each point of the shard to its nearest centroid; per cluster, the sum of its points
   and their count, plus the shard's error (the sum of squared distances to the nearest centroid);
2. the all-reduce: every worker gets every worker's :class:`Partial` (the variants differ only here);
3. :func:`combine`: add the partials **in rank order** and divide; a cluster that got no point keeps its
   centroid.

Everything is float64 and no step depends on BLAS or on thread counts: assignments use per-centroid squared
differences, sums use NumPy reductions over fixed row chunks. Given the same shards, every worker and every
variant computes bit-identical centroids (:func:`reference` does the same in one process).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from praas_kit.apps.kmeans.data import DatasetSpec, Points, shard
from praas_kit.errors import InvalidArgument

CHUNK = 4096  #: rows per step (a constant: the summation order, so the result, depends on it)
_HEAD = struct.Struct("<IId")  # k, features, error


@dataclass(frozen=True)
class Partial:
    """One worker's contribution to an epoch: per-cluster ``sums`` (k x d), ``counts`` (k) and ``error``."""

    sums: Points
    counts: npt.NDArray[np.int64]
    error: float

    def to_bytes(self) -> bytes:
        """``<k, d, error>`` then the counts (int64) and the sums (float64), little-endian."""
        k, d = self.sums.shape
        return (_HEAD.pack(k, d, self.error) + self.counts.astype("<i8").tobytes()
                + self.sums.astype("<f8").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Partial:
        """The partial of :meth:`to_bytes`; :class:`InvalidArgument` if ``data`` is not one."""
        if len(data) < _HEAD.size:
            raise InvalidArgument(f"a k-means partial has at least {_HEAD.size} bytes, not {len(data)}")
        k, d, error = _HEAD.unpack_from(data)
        if len(data) != _HEAD.size + 8 * k + 8 * k * d:
            raise InvalidArgument(f"a k-means partial of k={k}, d={d} has {_HEAD.size + 8 * k * (d + 1)} bytes, "
                                  f"not {len(data)}")
        counts = np.frombuffer(data, "<i8", k, _HEAD.size).astype(np.int64)
        sums = np.frombuffer(data, "<f8", k * d, _HEAD.size + 8 * k).reshape(k, d).astype(np.float64)
        return cls(sums, counts, float(error))


def initial_centroids(first_shard: Points, k: int) -> Points:
    """The first ``k`` points of shard 0 (worker 0 broadcasts them before the first epoch)."""
    check_k(k, len(first_shard))
    return np.array(first_shard[:k], dtype=np.float64)


def check_k(k: int, points_per_worker: int) -> None:
    """:class:`InvalidArgument` unless ``1 <= k <= points_per_worker`` (the initial centroids are points of shard
    0)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= points_per_worker:
        raise InvalidArgument(f"k must be an integer in [1, {points_per_worker}] (points per worker), not {k!r}")


def partial(points: Points, centroids: Points) -> Partial:
    """Assign every point to its nearest centroid (the lowest index on a tie); the per-cluster sums and counts
    and the sum of squared distances."""
    k, d = centroids.shape
    if points.ndim != 2 or points.shape[1] != d:
        raise InvalidArgument(f"points of shape {points.shape} do not match centroids of {d} features")
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    error = 0.0
    dist = np.empty((min(CHUNK, len(points)), k), dtype=np.float64)
    for start in range(0, len(points), CHUNK):
        rows = points[start:start + CHUNK]
        dd = dist[:len(rows)]
        for j in range(k):
            diff = rows - centroids[j]
            np.einsum("ij,ij->i", diff, diff, out=dd[:, j])
        labels = dd.argmin(axis=1)
        error += float(dd[np.arange(len(rows)), labels].sum())
        counts += np.bincount(labels, minlength=k)
        for j in range(k):
            mine = rows[labels == j]
            if len(mine):
                sums[j] += mine.sum(axis=0)
    return Partial(sums, counts, error)


def combine(partials: Sequence[Partial], previous: Points) -> tuple[Points, float]:
    """The new centroids and the total error from every worker's partial, added in the given (rank) order."""
    if not partials:
        raise InvalidArgument("combine needs at least one partial")
    sums = partials[0].sums.copy()
    counts = partials[0].counts.copy()
    error = partials[0].error
    for p in partials[1:]:
        if p.sums.shape != sums.shape:
            raise InvalidArgument(f"partials of shapes {sums.shape} and {p.sums.shape} cannot be combined")
        sums += p.sums
        counts += p.counts
        error += p.error
    out = previous.copy()
    filled = counts > 0
    out[filled] = sums[filled] / counts[filled, None]
    return out, error


def reference(spec: DatasetSpec, k: int, epochs: int) -> tuple[Points, list[float]]:
    """The distributed algorithm run in this process over every shard (for checks): the final centroids and the
    error of every epoch. Holds the whole dataset in memory."""
    check_epochs(epochs)
    shards = [shard(spec, r) for r in range(spec.workers)]
    centroids = initial_centroids(shards[0], k)
    errors = []
    for _ in range(epochs):
        centroids, error = combine([partial(s, centroids) for s in shards], centroids)
        errors.append(error)
    return centroids, errors


def check_epochs(epochs: int) -> None:
    """:class:`InvalidArgument` unless ``epochs`` is a positive integer."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidArgument(f"epochs must be a positive integer, not {epochs!r}")


__all__ = ["Partial", "CHUNK", "initial_centroids", "partial", "combine", "reference", "check_k", "check_epochs"]
