"""Committed executed notebooks are fresh: every numbered notebook ends with a provenance stamp (the committed
files under results/ and datasets/ it read, with their SHA-256), and each of those files is unchanged in the
working tree. A notebook drawn from results that were regenerated since fails here until it is re-executed.

The unit tests of :func:`praas_kit.provenance.stale` use a temporary notebook and file; one runs a small notebook
with the series runner, to show that the stamp survives papermill and nbclient."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from praas_kit import provenance

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_outputs_match_the_committed_results(notebook: Path) -> None:
    problems = provenance.stale(notebook)
    assert problems == [], "\n".join(problems)


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 9


def _code(source: str, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": 1, "id": f"c{abs(hash(source)) % 10**8}", "metadata": {},
            "outputs": outputs or [], "source": source}


def _stamped(files: dict[str, str]) -> dict[str, Any]:
    st = {"commit": "0" * 40, "dirty": False, "files": files}
    return {"output_type": "display_data", "metadata": {},
            "data": {provenance.MIME: st, "text/plain": provenance.summary(st)}}


def _write(path: Path, cells: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    data = tmp_path / "results" / "swap" / "local" / "swap.csv"
    data.parent.mkdir(parents=True)
    data.write_text("experiment,value\nswap,1.0\n")
    return tmp_path


def test_a_fresh_notebook_has_no_problems(checkout: Path) -> None:
    digest = hashlib.sha256((checkout / "results/swap/local/swap.csv").read_bytes()).hexdigest()
    nb = _write(checkout / "notebooks" / "04_swap.ipynb",
                [_code("x = 1"), _code("provenance.show_stamp()", [_stamped({"results/swap/local/swap.csv": digest})])])
    assert provenance.stale(nb, checkout) == []


def test_a_changed_or_missing_file_is_a_problem(checkout: Path) -> None:
    data = checkout / "results/swap/local/swap.csv"
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    nb = _write(checkout / "notebooks" / "04_swap.ipynb",
                [_code("show_stamp()", [_stamped({"results/swap/local/swap.csv": digest,
                                                  "datasets/paper/swap.csv": digest})])])
    data.write_text("experiment,value\nswap,2.0\n")
    problems = provenance.stale(nb, checkout)
    assert problems == [
        "04_swap.ipynb: datasets/paper/swap.csv no longer exists; re-execute the notebook: praas notebooks "
        "--only 04 --out notebooks (see notebooks/README.md)",
        "04_swap.ipynb: results/swap/local/swap.csv changed since the notebook ran; re-execute the notebook: "
        "praas notebooks --only 04 --out notebooks (see notebooks/README.md)"]


def test_a_notebook_without_a_stamp_is_a_problem(checkout: Path) -> None:
    nb = _write(checkout / "notebooks" / "02_state.ipynb",
                [_code("print(1)", [{"output_type": "stream", "name": "stdout", "text": "1\n"}]),
                 _code("provenance.show_stamp()")])  # the cell is there, but was never executed
    [problem] = provenance.stale(nb, checkout)
    assert problem.startswith("02_state.ipynb: no provenance stamp") and "praas notebooks --only 02" in problem


def test_a_stamp_before_the_last_code_cell_is_a_problem(checkout: Path) -> None:
    nb = _write(checkout / "notebooks" / "03_x.ipynb",
                [_code("show_stamp()", [_stamped({})]), _code("read_more_results()")])
    [problem] = provenance.stale(nb, checkout)
    assert "not in the last code cell" in problem


def test_a_stamp_stored_as_a_string_is_read_too(checkout: Path) -> None:
    out = _stamped({"results/gone.csv": "0" * 64})
    out["data"][provenance.MIME] = json.dumps(out["data"][provenance.MIME])
    nb = _write(checkout / "notebooks" / "05_x.ipynb", [_code("show_stamp()", [out])])
    assert [p.split(";")[0] for p in provenance.stale(nb, checkout)] == ["05_x.ipynb: results/gone.csv no longer "
                                                                        "exists"]


def test_the_stamp_survives_execution_by_the_series_runner(tmp_path: Path) -> None:
    """papermill (parameters) and nbclient (execution) keep the custom mime type; nbformat validates it."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from praas_kit.lab import notebooks

    src = tmp_path / "notebooks"
    src.mkdir()
    from nbformat.v4 import new_markdown_cell

    nb = new_notebook(cells=[new_code_cell("QUICK = True", metadata={"tags": ["parameters"]}),
                             new_markdown_cell("## Reading the paper's numbers"),
                             new_code_cell("from praas_kit.bench.common import paper_csv\n"
                                           "rows = paper_csv('swap.csv')"),
                             new_code_cell(provenance.STAMP_CODE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "01_stamp.ipynb")
    steps: list[tuple[int, int, str]] = []
    run = notebooks.run(src / "01_stamp.ipynb", tmp_path / "out", {"QUICK": False},
                        progress=lambda done, total, section: steps.append((done, total, section)))
    # the progress names the step: each code cell as it completes, under its section's heading
    total = steps[0][1]
    assert [s[:2] for s in steps] == [(i, total) for i in range(1, total + 1)] and total >= 3
    assert steps[-1][2] == "Reading the paper's numbers" and steps[0][2] == ""
    out = nbformat.read(run.output, as_version=4)
    nbformat.validate(out)
    [shown] = out.cells[-1].outputs
    st = shown["data"][provenance.MIME]
    assert st["files"] == {"datasets/paper/swap.csv": hashlib.sha256(
        (REPO / "datasets/paper/swap.csv").read_bytes()).hexdigest()}
    assert shown["data"]["text/plain"] == provenance.summary(st)
    assert provenance.stale(run.output, REPO) == []
    assert str(tmp_path) not in run.output.read_text() and str(REPO) not in run.output.read_text()
