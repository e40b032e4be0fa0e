"""``praas bench allocation`` (paper §6.6) end to end on each backend with the smallest parameters; its output is
validated (files, columns, cells, figure, comparison rows). No timing is asserted beyond a generous sanity ratio."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from helpers import BACKEND_NEEDS, children_of


@pytest.mark.parametrize("backend", ["local", "docker", "swarm"])
def test_allocation_benchmark_writes_valid_results(backend: str, tmp_path: Path) -> None:
    from praas_kit.bench import allocation
    from praas_kit.bench.common import load_rows
    from praas_kit.bench.validate import ROW_COLUMNS, validate

    BACKEND_NEEDS[backend]()
    before = children_of(os.getpid())
    run = allocation.run_allocation_benchmark(tmp_path, quick=True, backend=backend, sizes=[1, 2], reps=1,
                                              cold_reps=1)
    assert children_of(os.getpid()) <= before  # control plane, processes and baseline subprocesses are gone

    with open(run.csv, newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == ROW_COLUMNS
    meta = json.loads(run.meta.read_text())
    ours, base = f"praas-{backend}", allocation.BASELINES[backend]
    assert meta["params"]["systems"] == [ours, base] and meta["params"]["sizes"] == [1, 2]
    cells = {(line["experiment"], line["variant"], int(line["size"])) for line in lines}
    want = allocation.expected(meta["params"])
    assert want == {("allocate", s, n) for s in (ours, base) for n in (1, 2)} | {("cold-start", s, 1)
                                                                               for s in (ours, base)}
    assert want <= cells
    assert all(float(line["value"]) > 0 for line in lines)
    for name in ("allocation.png", "allocation.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert validate(tmp_path, "allocation") == []

    rows = load_rows(run.csv)
    comparison = allocation.comparison(rows)
    assert {r["condition"] for r in comparison} == {"1 process", "2 processes"}
    cold = next(r for r in comparison if r["what"].endswith("cold start"))
    assert cold["paper"] == round(1424 / 1232, 2)  # datasets/paper/allocation.csv, no pods running
    assert all(0 < r["ours"] < 100 for r in comparison)  # a sanity bound, not a performance target
    figures = allocation.summarise(rows)
    assert figures[0].name == f"cold start ({ours})"
    assert (figures[0].met is not None) == (backend == "swarm")


def test_mean_ci_and_expected_cells() -> None:
    from praas_kit.bench import allocation

    assert allocation.mean_ci([2.0]) == (2.0, 2.0, 2.0)
    mean, lo, hi = allocation.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and 1.0 <= lo < mean < hi <= 4.0
    assert allocation.mean_ci([1.0, 2.0, 3.0, 4.0]) == (mean, lo, hi)  # a fixed seed: the same interval
    cells = allocation.expected({"systems": ["praas-swarm", "docker service create"], "sizes": [20]})
    assert cells == {("allocate", "praas-swarm", 20), ("allocate", "docker service create", 20),
                     ("cold-start", "praas-swarm", 1), ("cold-start", "docker service create", 1)}
    assert allocation.paper_cold_start() == {"kubernetes": 1.232, "praas-k8s": 1.424, "praas-knative": 1.299}
    with pytest.raises(Exception, match="unknown backend"):
        allocation.run_allocation_benchmark(Path("unused"), backend="kubernetes")
