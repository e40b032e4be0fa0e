"""``praas bench swap`` (paper §6.6) end to end on the local backend, to the directory store and to a real Swift S3
server, with the smallest parameters; then its output is validated (files, columns, cells, figure, paper numbers).
No timing is asserted."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from helpers import children_of, servers_ready


@pytest.mark.s3
def test_swap_benchmark_writes_valid_results(tmp_path: Path) -> None:
    from praas_kit.bench import swap
    from praas_kit.bench.common import load_rows
    from praas_kit.bench.validate import ROW_COLUMNS, validate

    servers_ready(s3=True)
    before = children_of(os.getpid())
    run = swap.run_swap_benchmark(tmp_path, quick=True, backend="local", sizes=[1], reps=1)
    assert children_of(os.getpid()) <= before  # the Swift S3 server and the control planes are gone

    with open(run.csv, newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == ROW_COLUMNS
    meta = json.loads(run.meta.read_text())
    assert meta["git_commit"] and meta["params"]["sizes_mib"] == [1] and meta["params"]["stores"] == ["dir", "s3"]
    cells = {(line["experiment"], line["variant"], int(line["size"])) for line in lines}
    want = swap.expected(meta["params"])
    assert want == {(e, s, 1 << 20) for e in swap.EXPERIMENTS for s in ("dir", "s3")}
    assert want <= cells
    assert all(float(line["value"]) > 0 for line in lines)
    for name in ("swap.png", "swap.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert validate(tmp_path, "swap") == []

    rows = load_rows(run.csv)
    comparison = swap.comparison(rows)
    assert {r["what"] for r in comparison} >= {"swap-out MiB/s, S3", "swap-out MiB/s, directory store"}
    s3 = next(r for r in comparison if r["what"] == "swap-out MiB/s, S3")
    assert s3["benchmark"] == "swap" and s3["condition"] == "1 MiB" and s3["ours"] > 0
    assert s3["paper"] == round(1 / 0.0984, 1)  # datasets/paper/swap.csv: Fargate, 1 thread, 98.4 ms
    assert all(r["paper"] is None for r in comparison if r["what"] != "swap-out MiB/s, S3")
    figures = swap.summarise(rows)
    targeted = {f.name: f for f in figures if f.target}
    assert set(targeted) == {"swap-out 1 MiB (directory store)", "swap-out 1 MiB (S3)"}
    assert all(f.met is not None for f in targeted.values())


def test_swap_expected_cells_and_paper_numbers() -> None:
    from praas_kit.bench import swap

    cells = swap.expected({"stores": ["dir"], "sizes_mib": [1, 100], "experiments": ["swap-out"]})
    assert cells == {("swap-out", "dir", 1 << 20), ("swap-out", "dir", 100 << 20)}
    paper = swap.paper_swap_out()
    assert sorted(paper) == swap.SIZES_MIB and paper[100] == pytest.approx(1.7193)
    assert swap.paper_swap_out("ec2", 2)[200] == pytest.approx(2.5047)
