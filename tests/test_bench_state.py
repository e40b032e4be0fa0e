"""The state micro-benchmark (``praas bench state``, paper §6.3): its reduction, its analysis and a tiny real run
against a real redis-server and Swift S3 server on the local backend (no timed assertions)."""

from __future__ import annotations

import csv
import importlib
import json
import math
import struct
from pathlib import Path

import pytest
from helpers import servers_ready

from praas_kit.bench import BENCHMARKS
from praas_kit.bench.common import Row, save
from praas_kit.bench.stateapp import add_vectors


def _vec(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def _lanes(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 8}q", data))


def test_registered() -> None:
    record = BENCHMARKS["state"]
    assert callable(getattr(importlib.import_module(record.module), record.run))


def test_add_vectors_is_elementwise() -> None:
    from praas_kit.bench.state import vector

    a, b = [0, 1, 2**62, 7, 2**32 - 1], [5, 2**40, 2**62 - 1, 0, 1]
    assert _lanes(add_vectors(_vec(a), _vec(b))) == [x + y for x, y in zip(a, b, strict=True)]
    assert add_vectors(None, _vec(b)) == _vec(b)
    assert _lanes(vector(4)) == [1, 2, 3, 4]
    with pytest.raises(ValueError):
        add_vectors(_vec([1, 2]), _vec([1]))
    with pytest.raises(ValueError):
        add_vectors(None, b"1234567")


def _synthetic(tmp: Path) -> tuple[list[Row], Path]:
    rows = []
    for e in (10, 100000):
        for n in (1, 7):
            for system, per_call in (("praas", 1.0), ("redis", 2.0), ("s3", 40.0)):
                rows.append(Row("state", system, e, "s", [per_call * n * 1e-3 * (1 + e / 1e5)] * 3,
                                {"invocations": n, "backend": "local"}))
    csv_path, _ = save(rows, tmp, "state", {"systems": ["praas", "redis", "s3"], "elements": [10, 100000],
                                            "invocations": [1, 7]})
    return rows, csv_path


def test_analysis_of_synthetic_rows(tmp_path: Path) -> None:
    from praas_kit.bench import state

    rows, csv_path = _synthetic(tmp_path)
    got = {(c["what"], c["condition"]): c for c in state.comparison(rows)}
    assert len(got) == 8
    assert got[("Redis/PraaS", "10 elements, N=1")]["ours"] == pytest.approx(2.0)
    assert got[("Redis/PraaS", "10 elements, N=1")]["paper"] == pytest.approx(1.95)
    assert got[("S3/PraaS", "100000 elements, N=1")]["paper"] == pytest.approx(12.65)
    assert got[("S3/PraaS", "10 elements, N=7")]["paper"] is None  # the paper has no N=7
    assert {c["benchmark"] for c in got.values()} == {"state"}
    figures = state.summarise(rows)
    small = [f for f in figures if "<= 80 KB" in f.name]
    assert len(small) == 4 and all(f.met for f in small)
    assert any(f.met is None and "> 80 KB" in f.name for f in figures)
    paths = state.plot(csv_path)
    assert [p.name for p in paths] == ["state.png", "state.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    params = {"systems": ["praas", "s3"], "elements": [10], "invocations": [1, 25]}
    assert state.expected(params) == {("state", s, 10, n) for s in ("praas", "s3") for n in (1, 25)}


@pytest.mark.redis
@pytest.mark.s3
def test_quick_run_local(tmp_path: Path) -> None:
    servers_ready(redis=True, s3=True)
    from praas_kit.bench import state
    from praas_kit.bench.validate import validate

    out = tmp_path / "state"
    run = state.run_state_benchmark(out, quick=True, elements=[10, 1000], invocations=[1, 3], reps=2, warmup=1)
    assert run.csv == out / "state.csv" and run.meta == out / "state.meta.json"

    # the validator's view: files, columns, provenance, every expected cell measured, the figure
    assert validate(out, "state") == []
    with open(run.csv, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["experiment", "variant", "size", "unit", "repetition", "value", "extra"]
        lines = list(reader)
    meta = json.loads(run.meta.read_text())
    assert meta["git_commit"] and meta["params"]["elements"] == [10, 1000]
    cells: dict[tuple[str, str, int, int], list[float]] = {}
    for line in lines:
        cell = (line["experiment"], line["variant"], int(line["size"]), json.loads(line["extra"])["invocations"])
        cells.setdefault(cell, []).append(float(line["value"]))
    assert set(cells) == state.expected(meta["params"])
    for values in cells.values():
        assert len(values) == 2 and all(math.isfinite(v) and 0 < v < 60 for v in values)  # sanity, not a target
    for suffix in (".png", ".pdf"):
        assert (out / f"state{suffix}").stat().st_size > 0

    comparison = state.comparison(run.rows)
    assert len(comparison) == 2 * 2 * 2  # (Redis, S3) x 2 sizes x 2 N
    paper = {(c["what"], c["condition"]): c["paper"] for c in comparison}
    assert paper[("Redis/PraaS", "10 elements, N=1")] == pytest.approx(1.95)
    assert paper[("S3/PraaS", "1000 elements, N=1")] == pytest.approx(44.42)
    assert paper[("Redis/PraaS", "1000 elements, N=3")] is None
    assert all(c["ours"] > 0 for c in comparison)
    assert {f.name.split(",")[0] for f in state.summarise(run.rows)} == {"Redis / PraaS", "S3 / PraaS"}
