"""The scale measurements (issue 12, ``praas_kit.bench.scaling``): quick mode writes valid results, and the world
updates it counts grow exactly as the control plane's code makes them grow (N(N+1)/2 frames for N allocations, one
per running peer each time). Counts are asserted exactly; no timing is asserted. The S3 part needs the Swift S3
server (skipped on a machine without it, a failure in CI). The time limits are generous because the quick run
shares the machine with whatever else runs (it takes under a minute on a quiet 2-vCPU machine)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import children_of, servers_ready

from praas_kit import wire


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from praas_kit.bench import scaling

    out = tmp_path_factory.mktemp("scaling")
    return scaling.run_scaling(out, quick=True, s3=False)


@pytest.mark.timeout(300)
def test_quick_run_writes_valid_results(quick_run: Any) -> None:
    from praas_kit.bench import scaling
    from praas_kit.bench.validate import ROW_COLUMNS

    out = quick_run.csv.parent
    for name in ("scaling.csv", "scaling.meta.json", "scaling.png", "scaling.pdf"):
        assert (out / name).stat().st_size > 0, name
    with open(quick_run.csv, newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == ROW_COLUMNS
    meta = json.loads(quick_run.meta.read_text())
    assert meta["git_commit"] and meta["params"]["quick"] is True and meta["params"]["s3"] is False
    cells = {(line["experiment"], line["variant"], int(line["size"])) for line in lines}
    want = scaling.expected(meta["params"])
    assert {("registry", op, 10_000) for op in scaling.REGISTRY_OPS} <= want
    assert want <= cells, sorted(want - cells)[:5]
    assert all(float(line["value"]) >= 0 for line in lines)
    names = {f.name for f in scaling.summarise(quick_run.rows)}
    assert {"registry get_process", "registry list_app", "world-push", "world-alloc full_frames",
            "world frame"} <= names


def _value(rows: list[Any], experiment: str, variant: str, size: int) -> float:
    row = next(r for r in rows if (r.experiment, r.variant, r.size) == (experiment, variant, size))
    return float(row.values[0])


@pytest.mark.timeout(300)
def test_world_frames_grow_quadratically(quick_run: Any) -> None:
    from praas_kit.bench import scaling

    rows = quick_run.rows
    for n in scaling.SIZES:
        assert _value(rows, "world-alloc", "full_frames", n) == n * (n + 1) // 2
        push = next(r for r in rows if (r.experiment, r.size) == ("world-push", n))
        assert push.extra["frames_per_push"] == n  # one frame per running peer
    for n in scaling.SIM_SIZES[True]:  # pushes really made by World.push, counted
        assert _value(rows, "world-alloc", "sim_frames", n) == n * (n + 1) // 2
        assert _value(rows, "world-alloc", "sim_bytes", n) == _value(rows, "world-alloc", "full_bytes", n)
    # ten times the processes: a hundred times the frames, about a thousand times the bytes
    assert _value(rows, "world-alloc", "full_frames", 10_000) == 100 * _value(rows, "world-alloc", "full_frames",
                                                                               1_000) - 45_000
    ratio = _value(rows, "world-alloc", "full_bytes", 10_000) / _value(rows, "world-alloc", "full_bytes", 1_000)
    assert 900 < ratio < 1100
    growth = scaling.growth(rows)
    assert growth["world-alloc full_frames"]["exponent"] == pytest.approx(2.0, abs=0.02)
    assert growth["world-alloc delta_bytes"]["exponent"] < growth["world-alloc full_bytes"]["exponent"] - 0.9
    assert all(_value(rows, "world-alloc", "lazy_frames", n) == 0 for n in scaling.SIZES)
    # the world travels in the payload: the runtime accepts a world of 10,000 processes (as a header, over
    # wire.MAX_HEADER, it refused every world of more than 561)
    pushes = {r.size: r for r in rows if r.experiment == "world-push"}
    assert all(r.extra["runtime_accepts"] for r in pushes.values())
    assert pushes[10_000].extra["frame_bytes"] > wire.MAX_HEADER


def test_world_bench_counts_every_push(tmp_path: Path) -> None:
    from praas_kit.bench import scaling

    bench = scaling.WorldBench(tmp_path)
    try:
        for k in range(1, 21):
            bench.allocate()
            bench.push()
            assert bench.endpoint.frames == k * (k + 1) // 2
        empty, sizes = scaling.entry_sizes(bench.endpoint.last)
        assert len(sizes) == 20 and scaling.frame_bytes(empty, sizes)[-1] == sum(len(f) for f in bench.endpoint.last)
        cost = scaling.allocation_cost(empty, sizes, [empty + s for s in sizes])
        assert cost["full_frames"] == 210 and cost["full_bytes"] == bench.endpoint.bytes
    finally:
        bench.close()


def test_fits() -> None:
    from praas_kit.bench import scaling

    c, k = scaling.fit_power([10, 100, 1000], [3 * 10**2, 3 * 100**2, 3 * 1000**2])
    assert k == pytest.approx(2.0) and c == pytest.approx(3.0)
    assert scaling.interpolate({10: 1.0, 100: 10.0}, 55) == pytest.approx(5.5)
    assert scaling.interpolate({10: 1.0, 100: 10.0}, 1) == 1.0


@pytest.mark.s3
@pytest.mark.timeout(300)
def test_s3_part_measures_every_cell(tmp_path: Path) -> None:
    from praas_kit.bench import scaling

    servers_ready(s3=True)
    before = children_of(os.getpid())
    rows = scaling.s3_rows(tmp_path, quick=True)
    assert children_of(os.getpid()) <= before  # the Swift S3 server is gone
    cells = {(r.experiment, r.extra.get("clients"), r.size) for r in rows}
    assert cells >= {(f"s3-{op}", c, size) for op in ("put", "get") for c in scaling.S3_CLIENTS
                     for size in scaling.S3_SIZES}
    for r in rows:
        if r.experiment in ("s3-put", "s3-get"):
            assert len(r.values) == r.extra["requests"] >= r.extra["clients"] and r.extra["ops_per_s"] > 0
    swap = {r.variant: r.values[0] for r in rows if r.experiment == "s3-swap"}
    assert swap["swap-out"] >= 3 and swap["swap-in"] >= 3  # state, messages and the manifest, at least
    names = {f.name for f in scaling.summarise(rows)}
    assert "10,000 swap-outs on one endpoint" in names
