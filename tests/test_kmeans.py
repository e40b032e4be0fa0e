"""Distributed k-means (paper §6.5): the dataset generator, the arithmetic, the exchanges, the three variants on
real servers (they must agree bit for bit with the single-process reference), and ``praas bench kmeans`` end to
end in quick mode (no timing assertions)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import servers_ready

# the k-means extra (pip install 'praas-kit[kmeans]'): without numpy the module is skipped (a failure in CI, where a
# skip fails the run: conftest.py's pytest_sessionfinish); praas_kit.apps.kmeans imports it too
np = pytest.importorskip("numpy", reason="numpy is not installed (pip install 'praas-kit[kmeans]')")

from praas_kit.apps.kmeans import DatasetSpec, KMeans, RunResult, reference, shard  # noqa: E402
from praas_kit.apps.kmeans.algorithm import Partial, combine, initial_centroids, partial  # noqa: E402
from praas_kit.apps.kmeans.data import BLOCK, decode, digest, encode, points  # noqa: E402
from praas_kit.apps.kmeans.exchange import Backoff, RedisExchange, allgather  # noqa: E402
from praas_kit.apps.kmeans.worker import EpochTiming, Job, WorkerReport, run_worker  # noqa: E402
from praas_kit.bench import BENCHMARKS  # noqa: E402
from praas_kit.bench.common import Row, save  # noqa: E402
from praas_kit.errors import InvalidArgument, PraasError, Timeout  # noqa: E402


# ------------------------------------------------------------------------------------------------ dataset
def test_generator_is_deterministic_and_independent_of_sharding() -> None:
    spec = DatasetSpec(points_per_worker=BLOCK // 2 + 7, workers=4, seed=7)
    a, b = shard(spec, 2), shard(DatasetSpec(points_per_worker=BLOCK // 2 + 7, workers=4, seed=7), 2)
    assert a.shape == (BLOCK // 2 + 7, 28) and a.dtype == np.float64 and a.flags.c_contiguous
    assert digest(a) == digest(b)
    # the same points, split differently (and across a block boundary), are the same values
    other = DatasetSpec(points_per_worker=spec.points // 2, workers=2, seed=7)
    assert np.array_equal(np.concatenate([shard(spec, r) for r in range(4)]),
                          np.concatenate([shard(other, r) for r in range(2)]))
    assert np.array_equal(points(spec, BLOCK - 3, 6), np.concatenate([shard(spec, 0), shard(spec, 1)])[BLOCK - 3:
                                                                                                        BLOCK + 3])
    assert digest(shard(DatasetSpec(1000, 4, seed=8), 0)) != digest(shard(DatasetSpec(1000, 4, seed=7), 0))
    assert np.array_equal(decode(encode(a), 28), a)
    assert spec.key(3).endswith("/shard-0003-of-0004.npy") and spec.name in spec.key(0)
    assert DatasetSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("fields", [
    {"points_per_worker": 0, "workers": 4}, {"points_per_worker": 10, "workers": -1},
    {"points_per_worker": 10, "workers": 2, "seed": -1}, {"points_per_worker": 10, "workers": 2, "spread": 0},
    {"points_per_worker": 10, "workers": 2, "features": 0}, {"points_per_worker": 1.5, "workers": 2},
    {"points_per_worker": True, "workers": 2}, {"points_per_worker": 10, "workers": 2, "colour": "red"},
])
def test_bad_dataset_specs_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        DatasetSpec.from_json(fields)


def test_bad_inputs_give_typed_errors() -> None:
    spec = DatasetSpec(100, 2)
    for bad in (lambda: shard(spec, 2), lambda: points(spec, 150, 100), lambda: decode(b"not numpy"),
                lambda: decode(encode(np.zeros((3, 4))), 28), lambda: initial_centroids(shard(spec, 0), 101),
                lambda: Partial.from_bytes(b"\x01\x02"), lambda: reference(spec, 4, 0),
                lambda: Job("mpi", "r1", 0, spec, 4, 3, {}),
                lambda: Job("praas", "r1", 0, spec, 4, 3, {}, names=("only-one",)),
                lambda: Job("redis", "r/1", 0, spec, 4, 3, {}), lambda: Job.from_json({"variant": "s3"})):
        with pytest.raises(InvalidArgument):
            bad()
    assert issubclass(InvalidArgument, PraasError)


# ------------------------------------------------------------------------------------------------ arithmetic
def test_partial_and_combine() -> None:
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0], [11.0, 10.0]])
    cents = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]])  # the third gets no point
    p = partial(pts, cents)
    assert p.counts.tolist() == [2, 2, 0] and p.error == pytest.approx(2.0)
    assert Partial.from_bytes(p.to_bytes()).sums.tolist() == p.sums.tolist()
    new, err = combine([p, p], cents)
    assert new.tolist() == [[0.5, 0.0], [10.5, 10.0], [100.0, 100.0]] and err == pytest.approx(4.0)
    with pytest.raises(InvalidArgument):
        combine([], cents)


def test_reference_converges() -> None:
    centroids, errors = reference(DatasetSpec(2000, 3, clusters=4), k=4, epochs=8)
    assert centroids.shape == (4, 28)
    assert all(b <= a * (1 + 1e-12) for a, b in zip(errors, errors[1:], strict=False))  # Lloyd never gets worse


class _FakeRedis:
    """A dict with Redis's SET/GET (thread-safe), for the worker loop without a server."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def set(self, key: str, value: bytes, ex: int | None = None) -> None:
        with self.lock:
            self.data[key] = value

    def get(self, key: str) -> bytes | None:
        with self.lock:
            return self.data.get(key)


def _check_epochs(r: WorkerReport, epochs: int) -> None:
    """``r``'s per-epoch timings: one per epoch, in order without overlap, after the read and the initial
    centroids, and summing to the report's totals."""
    assert len(r.epochs) == epochs and r.started_at is not None and r.started_at > 1e9
    assert all(e.compute_s > 0 and e.wait_s >= 0 and e.exchange_s >= 0 for e in r.epochs)
    assert r.epochs[0].start_s >= r.read_s + r.init_s
    assert all(b.start_s >= a.end_s for a, b in zip(r.epochs, r.epochs[1:], strict=False))
    assert r.epochs[-1].end_s <= r.total_s
    assert sum(e.compute_s for e in r.epochs) == pytest.approx(r.compute_s, abs=1e-9)
    assert sum(e.exchange_s for e in r.epochs) == pytest.approx(r.exchange_s, abs=1e-9)
    assert sum(e.wait_s for e in r.epochs) == pytest.approx(r.wait_s, abs=1e-9)
    assert sum(e.sync_s for e in r.epochs) == pytest.approx(r.sync_s, abs=1e-9)


def test_worker_loop_matches_reference_bit_for_bit() -> None:
    spec, client = DatasetSpec(500, 3, seed=3), _FakeRedis()
    reports: list[Any] = [None] * 3

    def work(rank: int) -> None:
        job = Job("redis", "run1", rank, spec, 5, 6, {})
        reports[rank] = run_worker(job, lambda: shard(spec, rank), RedisExchange(client, rank, 3, "run1", 10.0))

    threads = [threading.Thread(target=work, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    want, errors = reference(spec, 5, 6)
    for r in reports:
        assert np.array_equal(np.array(r.centroids), want) and r.errors == errors
        assert r.read_s >= 0 and r.sync_s >= 0 and r.compute_s > 0 and r.requests >= 7
        assert 0 <= r.exchange_s <= r.sync_s
        _check_epochs(r, 6)
    assert max(r.started_at for r in reports) - min(r.started_at for r in reports) < 5  # one wall clock
    with pytest.raises(Timeout):
        RedisExchange(client, 1, 3, "run2", 0.05).fetch("e0", 0)
    backoff = Backoff("nothing", 0.0)
    with pytest.raises(Timeout):
        backoff.wait()


def test_allgather_stamps_publish_times_so_the_wait_for_a_straggler_is_not_exchange() -> None:
    client, got = _FakeRedis(), {}

    def gather(rank: int, delay: float) -> None:
        time.sleep(delay)
        t1 = time.perf_counter()
        data, last = allgather(RedisExchange(client, rank, 2, "run", 10.0), "e0", bytes([rank]) * 3)
        got[rank] = (data, t1, last, time.perf_counter())

    threads = [threading.Thread(target=gather, args=(r, 0.3 * r)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for rank in range(2):
        data, t1, last, t2 = got[rank]
        assert data == [b"\x00" * 3, b"\x01" * 3]  # the stamps are stripped
        assert last == pytest.approx(got[1][1], abs=0.01)  # the straggler (rank 1) published last
    _, t1, last, t2 = got[0]
    assert t2 - t1 >= 0.29  # rank 0's sync waited for rank 1...
    assert t2 - max(t1, last) < 0.1  # ...its exchange did not (one back-off step at most)
    with pytest.raises(InvalidArgument, match="stamp"):
        client.set("run/e1/1", b"x")
        allgather(RedisExchange(client, 0, 2, "run", 1.0), "e1", b"y")


def _report(rank: int, epochs: int, started_at: float | None = 100.0) -> WorkerReport:
    """A report of ``epochs`` epochs of 10 ms compute, ``rank`` ms wait and 2 ms exchange each."""
    timings, t = [], 0.05
    for _ in range(epochs):
        timings.append(EpochTiming(t, 0.01, rank / 1000, 0.002))
        t = timings[-1].end_s
    return WorkerReport(rank, 0.04, 0.01, epochs * (rank / 1000 + 0.002), epochs * 0.01, t, 0, [[0.0]],
                        [1.0] * epochs, epochs * 0.002, started_at, timings)


def test_worker_report_json_round_trip_and_older_reports() -> None:
    r = _report(2, 3, started_at=1.7e9 + 0.25)
    assert WorkerReport.from_json(json.loads(json.dumps(r.to_json()))) == r
    assert r.to_json()["epochs"][0] == {"start_s": 0.05, "compute_s": 0.01, "wait_s": 0.002, "exchange_s": 0.002}
    assert r.wait_s == pytest.approx(3 * 0.002) and r.epochs[0].sync_s == pytest.approx(0.004)
    old = {"rank": 1, "read_s": 0.5, "init_s": 0.1, "sync_s": 0.3, "compute_s": 0.2, "total_s": 1.2, "requests": 4,
           "centroids": [[1.0, 2.0]], "errors": [3.0], "exchange_s": 0.1}  # a worker from before the timings
    got = WorkerReport.from_json(old)
    assert got.epochs == [] and got.started_at is None and got.wait_s == pytest.approx(0.2)
    assert WorkerReport.from_json({k: v for k, v in old.items() if k not in ("errors", "exchange_s")}).exchange_s == 0
    for bad in ([1, 2], {**old, "colour": "red"}, {"rank": 1}, {**old, "epochs": [{"start_s": 0.0}]}):
        with pytest.raises(InvalidArgument):
            WorkerReport.from_json(bad)


def test_epoch_timeline_draws_a_lane_per_worker_and_three_bars_per_epoch() -> None:
    import matplotlib.pyplot as plt

    from praas_kit.bench import kmeans_timeline as kt

    reports = [_report(rank, 4, started_at=100.0 + rank / 100) for rank in range(3)]
    fig = kt.epoch_timeline(reports, title="three workers")
    try:
        ax = fig.axes[0]
        gids = [p.get_gid() for p in ax.patches]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["rank 0", "rank 1", "rank 2"]
        for rank in range(3):
            mine = [g for g in gids if g.startswith(f"rank{rank}/")]
            assert len([g for g in mine if "/e" in g]) == 3 * 4 and len(mine) == 2 + 3 * 4
            assert [g.rsplit("/", 1)[1] for g in mine if "/e1/" in g] == list(kt.EPOCH_PARTS)
        bars = {p.get_gid(): p for p in ax.patches}
        # on the shared axis: rank 2 started 20 ms after rank 0; an epoch's three bars follow each other
        assert bars["rank2/read"].get_x() == pytest.approx(0.02) and bars["rank0/read"].get_x() == 0
        compute, wait, exchange = (bars[f"rank1/e0/{p}"] for p in kt.EPOCH_PARTS)
        assert compute.get_x() == pytest.approx(0.01 + 0.05) and compute.get_width() == pytest.approx(0.01)
        assert wait.get_x() == pytest.approx(compute.get_x() + 0.01) and wait.get_width() == pytest.approx(0.001)
        assert exchange.get_x() == pytest.approx(wait.get_x() + 0.001)
        assert ax.get_xlabel() == "seconds since the first worker started" and ax.get_title() == "three workers"
        assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"waiting for the slowest worker"}
    finally:
        plt.close(fig)
    fig = kt.epoch_timeline([_report(0, 2, None), _report(1, 2)])  # an older report: each on its own start
    try:
        assert fig.axes[0].get_xlabel() == "seconds since each worker started"
        assert min(p.get_x() for p in fig.axes[0].patches) == 0
    finally:
        plt.close(fig)
    runs = [RunResult(v, DatasetSpec(100, 3), 1, 4, 0.5, reports) for v in ("praas", "redis")]
    fig = kt.run_timelines(runs, title="two variants")
    try:
        assert len(fig.axes) == 2 and all(len(ax.patches) == 3 * (2 + 3 * 4) for ax in fig.axes)
        assert fig.axes[1].get_title().startswith("FaaS + Redis: 4 epochs")
        assert fig.axes[0].get_legend() is None and fig.axes[1].get_legend() is not None  # one, under the last
    finally:
        plt.close(fig)
    rows = kt.epoch_summary(reports)
    assert [r["rank"] for r in rows] == [0, 1, 2] and rows[2]["wait_s"] == pytest.approx(4 * 0.002)
    assert rows[0]["wait_share"] == pytest.approx(0.0, abs=1e-12) and rows[1]["compute_s"] == pytest.approx(0.04)
    assert "| FaaS + Redis | 2 | 4 | 0.0400 | 0.0080 | 0.0080 | 14% |" in kt.format_epoch_summary(runs)
    with pytest.raises(InvalidArgument):
        kt.epoch_timeline([])
    with pytest.raises(InvalidArgument):
        kt.run_timelines([])


# ------------------------------------------------------------------------------------------------ variants on servers
@pytest.fixture(scope="module")
def cluster() -> Iterator[KMeans]:
    servers_ready(redis=True, s3=True)
    import praas_kit
    from praas_kit.tools.services import RedisServer, SwiftS3Server

    with RedisServer() as redis, SwiftS3Server() as s3, praas_kit.local() as cp, \
            KMeans(cp, s3, redis.url, workers=3, name="km-test", timeout=120) as km:
        yield km


@pytest.mark.redis
@pytest.mark.s3
def test_three_variants_agree_with_the_reference(cluster: KMeans) -> None:
    spec = DatasetSpec(3000, 3, seed=11)
    keys = cluster.prepare(spec)
    assert keys == [spec.key(r) for r in range(3)]
    want, errors = reference(spec, k=6, epochs=4)
    for variant in ("praas", "redis", "s3"):
        res = cluster.run(variant, spec, k=6, epochs=4)
        assert np.array_equal(res.centroids, want), variant  # bit-identical, not just close
        assert res.errors == errors
        assert [r.rank for r in res.reports] == [0, 1, 2]
        assert res.wall_s > 0 and set(res.phases) == {"read", "init", "compute", "sync"}
        assert res.phases["read"] > 0 and res.phases["compute"] > 0 and res.phases["sync"] > 0
        assert (sum(r.requests for r in res.reports) == 0) == (variant == "praas")
        for r in res.reports:  # the per-epoch timings travel back from the processes
            _check_epochs(r, 4)
    with pytest.raises(InvalidArgument):
        cluster.run("mpi", spec)
    with pytest.raises(InvalidArgument):
        cluster.run("praas", DatasetSpec(3000, 4))  # 4 shards for 3 workers
    with pytest.raises(InvalidArgument):
        cluster.run("praas", spec, k=0)


def test_driver_refuses_bad_parameters() -> None:
    for kwargs in ({"workers": 0}, {"timeout": -1}, {"name": "Bad Name"}):
        with pytest.raises(PraasError):
            KMeans(None, "http://127.0.0.1:1", **kwargs)


# ------------------------------------------------------------------------------------------------ the benchmark
def test_registered_and_bad_parameters(tmp_path: Path) -> None:
    from praas_kit.bench import kmeans

    record = BENCHMARKS["kmeans"]
    assert (record.module, record.run) == ("praas_kit.bench.kmeans", "run_kmeans_benchmark")
    for kwargs in ({"variants": ("praas", "mpi")}, {"workers": 0}, {"points": [3], "k": 8}, {"reps": 0},
                   {"epochs": -1}, {"backend": "mainframe"}):
        with pytest.raises(InvalidArgument):
            kmeans.run_kmeans_benchmark(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_analysis_of_synthetic_rows(tmp_path: Path) -> None:
    from praas_kit.bench import kmeans

    rows = []
    for n in (50_000, 100_000):
        for v, wall, sync in (("praas", 1.0, 0.1), ("redis", 1.5, 0.4), ("s3", 6.0, 5.0)):
            extra = {"workers": 4, "epochs": 10, "k": 8, "backend": "local"}
            rows.append(Row("kmeans", v, n, "s", [wall * n / 1e5] * 3, extra))
            for e, value in (("kmeans-read", 0.2), ("kmeans-init", 0.01), ("kmeans-compute", 0.5),
                             ("kmeans-sync", sync), ("kmeans-requests", 0.0)):
                rows.append(Row(e, v, n, "s", [value] * 3, extra))
    params = {"variants": list(kmeans.VARIANTS), "points": [50_000, 100_000]}
    csv_path, _ = save(rows, tmp_path, "kmeans", params)
    got = {(c["what"], c["condition"].split()[0]): c for c in kmeans.comparison(rows)}
    assert got[("Redis/PraaS", "100k")]["ours"] == pytest.approx(1.5)
    assert got[("Redis/PraaS", "100k")]["paper"] == pytest.approx(28.47 / 19.51, abs=1e-3)
    assert got[("Σsync Redis/PraaS", "100k")]["paper"] == pytest.approx(89.8 / 23.0, abs=1e-3)
    assert got[("S3/PraaS", "50k")]["paper"] is None  # the paper starts at 100k
    figures = kmeans.summarise(rows)
    assert all(f.met for f in figures if "/ PraaS," in f.name and "Σsync" not in f.name)
    assert [f.met for f in figures if f.name.startswith("Σsync")] == [True, True]  # 4x >= 3x
    assert kmeans.expected(params) == {(e, v, n) for e in kmeans.EXPERIMENTS for v in kmeans.VARIANTS
                                       for n in (50_000, 100_000)}
    assert "| 100000 | PraaS | 1.000 |" in kmeans.format_medians(rows)
    paths = kmeans.plot(csv_path)
    assert [p.name for p in paths] == ["kmeans.png", "kmeans.pdf"] and all(p.stat().st_size > 0 for p in paths)


@pytest.mark.redis
@pytest.mark.s3
@pytest.mark.slow
def test_quick_run_local_validates(tmp_path: Path) -> None:
    servers_ready(redis=True, s3=True)
    from praas_kit.bench import kmeans
    from praas_kit.bench.validate import validate

    out = tmp_path / "kmeans"
    run = kmeans.run_kmeans_benchmark(out, quick=True, points=[200, 600], workers=2, epochs=3, k=4, reps=2)
    assert validate(out, "kmeans") == []
    meta = json.loads(run.meta.read_text())
    assert meta["params"]["points"] == [200, 600] and meta["params"]["workers"] == 2
    assert all(c["identical"] for c in meta["params"]["centroids"].values())
    exchange = {(kmeans.EXCHANGE, v, n) for v in ("praas", "redis", "s3") for n in (200, 600)}
    assert {(r.experiment, r.variant, r.size) for r in run.rows if len(r.values) == 2} == \
        kmeans.expected(meta["params"]) | exchange
    medians = kmeans.medians(run.rows)
    # generous sanity bound, not a target: S3 polling is never faster than channels by 10x
    assert medians[("kmeans-sync", "s3", 600)] * 10 > medians[("kmeans-sync", "praas", 600)]
    sync = {(r.variant, r.size): r.values for r in run.rows if r.experiment == "kmeans-sync"}
    assert all(0 <= x <= y for r in run.rows if r.experiment == kmeans.EXCHANGE
               for x, y in zip(r.values, sync[(r.variant, r.size)], strict=True))  # a part of sync, run by run
    assert len(kmeans.comparison(run.rows)) == 2 * 2 * 3
