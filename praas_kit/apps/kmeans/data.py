"""The synthetic k-means dataset: HIGGS-like points (28 float features) drawn from a few Gaussian clusters.

The paper's k-means (§6.5) read HIGGS (11 M events, 28 kinematic features) from S3. This generator makes data
of the same shape without a download, deterministically from a :class:`DatasetSpec`:

* ``clusters`` centres uniform in ``[-box, box]^features`` (from the seed alone);
* point ``i`` (of ``workers * points_per_worker``) belongs to a uniformly drawn cluster and is its centre plus
  ``spread`` x standard normal noise, per feature.

Points are generated in fixed blocks of :data:`BLOCK` points, each from its own seeded stream
(``[seed, 1, block]``), so a point's value depends only on the spec's seed, features, clusters and its global
index, never on how the data is split: worker ``r``'s shard is points ``[r * n, (r + 1) * n)`` and can be
produced alone (:func:`shard`). Values are float64. A shard travels as ``.npy`` bytes (:func:`encode`,
:func:`decode`); :func:`upload` writes every shard to an S3 bucket under :meth:`DatasetSpec.key`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from praas_kit.errors import InvalidArgument

Points = npt.NDArray[np.float64]

BLOCK = 1 << 16  #: points per generated block (a constant of the format: changing it changes the data)
FEATURES = 28  #: HIGGS's number of features
MAX_POINTS = 1 << 31  #: the largest dataset (points over all workers) a spec may describe


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate: ``workers`` shards of ``points_per_worker`` points each.

    Raises :class:`~praas_kit.errors.InvalidArgument` on a non-positive size, fewer than one cluster or feature,
    a non-positive ``spread`` or ``box``, or a negative seed.
    """

    points_per_worker: int
    workers: int
    features: int = FEATURES
    clusters: int = 8
    seed: int = 2024
    spread: float = 1.0
    box: float = 3.0

    def __post_init__(self) -> None:
        for name in ("points_per_worker", "workers", "features", "clusters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"dataset {name} must be a positive integer, not {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidArgument(f"dataset seed must be a non-negative integer, not {self.seed!r}")
        for name in ("spread", "box"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise InvalidArgument(f"dataset {name} must be a positive number, not {value!r}")
        if self.points > MAX_POINTS:
            raise InvalidArgument(f"{self.points} points in all is more than {MAX_POINTS}")

    @property
    def points(self) -> int:
        """Points over all shards."""
        return self.points_per_worker * self.workers

    @property
    def shard_bytes(self) -> int:
        """The float64 payload of one shard (without the ``.npy`` header)."""
        return self.points_per_worker * self.features * 8

    @property
    def name(self) -> str:
        """A name that differs for every spec generating different data."""
        spread, box = f"{self.spread:g}", f"{self.box:g}"
        return (f"n{self.points_per_worker}x{self.workers}-d{self.features}-c{self.clusters}-s{self.seed}"
                f"-sd{spread}-b{box}")

    def key(self, rank: int, prefix: str = "kmeans") -> str:
        """The S3 object key of shard ``rank``."""
        self.check_rank(rank)
        return f"{prefix}/{self.name}/shard-{rank:04d}-of-{self.workers:04d}.npy"

    def check_rank(self, rank: int) -> None:
        """:class:`InvalidArgument` unless ``0 <= rank < workers``."""
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < self.workers:
            raise InvalidArgument(f"shard rank must be in [0, {self.workers}), not {rank!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetSpec:
        """The spec of :meth:`to_json`; :class:`InvalidArgument` on unknown or bad fields."""
        if not isinstance(data, dict):
            raise InvalidArgument(f"a dataset spec is a JSON object, not {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"unknown dataset fields {unknown}; known: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidArgument(f"bad dataset spec {data!r}: {exc}") from None


def centres(spec: DatasetSpec) -> Points:
    """The ``clusters x features`` true cluster centres."""
    rng = np.random.default_rng([spec.seed, 0])
    return rng.uniform(-spec.box, spec.box, size=(spec.clusters, spec.features))


def _block(spec: DatasetSpec, index: int, mids: Points) -> Points:
    rng = np.random.default_rng([spec.seed, 1, index])
    labels = rng.integers(0, spec.clusters, size=BLOCK)
    noise = rng.standard_normal((BLOCK, spec.features))
    noise *= spec.spread
    noise += mids[labels]
    return noise


def points(spec: DatasetSpec, start: int, count: int) -> Points:
    """Points ``[start, start + count)`` of the whole dataset, a C-contiguous ``count x features`` array."""
    if start < 0 or count < 0 or start + count > spec.points:
        raise InvalidArgument(f"points [{start}, {start + count}) are outside the dataset's [0, {spec.points})")
    out = np.empty((count, spec.features), dtype=np.float64)
    mids = centres(spec)
    done = 0
    while done < count:
        index, offset = divmod(start + done, BLOCK)
        take = min(BLOCK - offset, count - done)
        out[done:done + take] = _block(spec, index, mids)[offset:offset + take]
        done += take
    return out


def shard(spec: DatasetSpec, rank: int) -> Points:
    """Worker ``rank``'s shard: points ``[rank * n, (rank + 1) * n)`` with ``n = points_per_worker``."""
    spec.check_rank(rank)
    return points(spec, rank * spec.points_per_worker, spec.points_per_worker)


def encode(data: Points) -> bytes:
    """``.npy`` bytes of a float64 array (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(data, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def decode(data: bytes, features: int | None = None) -> Points:
    """The float64 2-D array in ``.npy`` bytes; :class:`InvalidArgument` if it is not one (of ``features``
    columns, when given)."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidArgument(f"not a .npy array: {exc}") from None
    if arr.dtype != np.float64 or arr.ndim != 2 or (features is not None and arr.shape[1] != features):
        raise InvalidArgument(f"expected a float64 array of shape (n, {features or 'd'}), got {arr.dtype} "
                              f"{arr.shape}")
    return np.ascontiguousarray(arr)


def digest(data: Points) -> str:
    """SHA-256 of the array's float64 bytes (C order): equal digests, equal data."""
    return hashlib.sha256(np.ascontiguousarray(data, dtype=np.float64).tobytes()).hexdigest()


def upload(spec: DatasetSpec, s3: Any, bucket: str, ranks: range | list[int] | None = None,
           prefix: str = "kmeans") -> list[str]:
    """Generate shards ``ranks`` (default all) and put each into ``bucket`` with the boto3 client ``s3``
    (one shard in memory at a time); their keys."""
    keys = []
    for rank in ranks if ranks is not None else range(spec.workers):
        key = spec.key(rank, prefix)
        s3.put_object(Bucket=bucket, Key=key, Body=encode(shard(spec, rank)))
        keys.append(key)
    return keys


__all__ = ["DatasetSpec", "Points", "BLOCK", "FEATURES", "centres", "points", "shard", "encode", "decode", "digest",
           "upload"]
