"""What a computation read (praas_kit.provenance): which files count as committed inputs, the readers that record
them, the stamp a notebook shows, and the script that adds the stamp's cells."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from praas_kit import provenance
from praas_kit.bench import common, invocations, report
from praas_kit.bench.common import Row, save
from praas_kit.bench.validate import validate

REPO = Path(__file__).resolve().parent.parent
PARAMS = {"quick": True, "backend": "local", "auths": ["curve"], "sizes": [10], "rounds": 1,
          "variants": ["raw", "direct", "control-plane", "faas", "local"], "contention": False,
          "throughput_clients": 8, "reps": {}}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    provenance.reset()
    yield
    provenance.reset()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in checkout: the recorder takes ``tmp_path`` for the repository."""
    monkeypatch.setattr(provenance, "repository", lambda: tmp_path.resolve())
    return tmp_path


def test_the_package_finds_its_checkout() -> None:
    assert provenance.repository() == REPO


def test_only_committed_inputs_count(tmp_path: Path) -> None:
    name = provenance.committed_name
    assert name(tmp_path / "results" / "swap" / "local" / "swap.csv", tmp_path) == "results/swap/local/swap.csv"
    assert name(tmp_path / "datasets" / "paper" / "swap.csv", tmp_path) == "datasets/paper/swap.csv"
    for scratch in ("results/quick/swap/local/swap.csv", "results/notebooks/07_reproduce_paper.ipynb",
                    "results/tmp/x.csv", "results/browser/shot.png", "results/quick"):
        assert name(tmp_path / scratch, tmp_path) is None, scratch
    assert name(tmp_path / "results" / "quickly.csv", tmp_path) == "results/quickly.csv"  # a name, not a folder
    assert name(tmp_path / "notebooks" / "x.csv", tmp_path) is None
    assert name(tmp_path.parent / "elsewhere.csv", tmp_path) is None
    assert name(tmp_path / "results" / ".." / "README.md", tmp_path) is None


def test_the_scratch_folders_are_what_git_ignores_under_results() -> None:
    ignored = {line.strip().rstrip("/") for line in (REPO / ".gitignore").read_text().splitlines()
               if line.strip().startswith("results/")}
    assert ignored == set(provenance.SCRATCH)


def test_record_keeps_the_latest_bytes_and_reset_forgets(checkout: Path) -> None:
    f = checkout / "results" / "a.csv"
    f.parent.mkdir()
    f.write_text("one")
    assert provenance.record(f) == "results/a.csv"
    f.write_text("two")
    provenance.record(f)
    assert provenance.recorded() == {"results/a.csv": sha(f)}
    assert provenance.record(checkout / "results" / "missing.csv") is None
    assert provenance.record(checkout / "results" / "quick" / "b.csv", b"x") is None
    provenance.reset()
    assert provenance.recorded() == {}


def test_the_readers_record_what_they_read(checkout: Path) -> None:
    results = checkout / "results"
    out = results / "invocations" / "local"
    rows = [Row("invoke", v, 10, "s", [1e-4 * (i + 1) for i in range(3)], {"auth": "curve", "contention": False})
            for v in PARAMS["variants"]]
    csv_path, meta_path = save(rows, out, "invocations", PARAMS)
    invocations.plot(csv_path)
    quick = results / "quick" / "invocations" / "local"
    save(rows, quick, "invocations", PARAMS)
    provenance.reset()  # plot read the CSV

    common.load_rows(quick / "invocations.csv")
    assert provenance.recorded() == {}
    common.load_rows(csv_path)
    assert provenance.recorded() == {"results/invocations/local/invocations.csv": sha(csv_path)}
    provenance.reset()
    validate(out, "invocations")
    assert set(provenance.recorded()) == {"results/invocations/local/invocations.csv",
                                          "results/invocations/local/invocations.meta.json"}
    provenance.reset()
    report.write(results, readme=None)  # collect (load_rows) and render (the metadata)
    assert provenance.recorded() == {"results/invocations/local/invocations.csv": sha(csv_path),
                                     "results/invocations/local/invocations.meta.json": sha(meta_path)}
    provenance.reset()
    report.regenerate_figures(results)  # the figures it draws and copies are outputs, not inputs
    assert set(provenance.recorded()) == {"results/invocations/local/invocations.csv"}


def test_the_papers_numbers_are_recorded() -> None:
    assert common.paper_csv("swap.csv")
    assert common.paper_csv("no-such-file.csv") == []
    assert provenance.recorded() == {"datasets/paper/swap.csv": sha(REPO / "datasets" / "paper" / "swap.csv")}


def test_the_stamp_names_the_commit_and_the_files(checkout: Path) -> None:
    f = checkout / "datasets" / "x.csv"
    f.parent.mkdir()
    f.write_text("x")
    provenance.record(f)
    st = provenance.stamp()
    assert st["files"] == {"datasets/x.csv": sha(f)} and st["dirty"] in (True, False)
    assert len(st["commit"]) == 40
    text = provenance.summary(st)
    assert text.startswith(f"computed from 1 committed file at commit {st['commit'][:7]} (")
    assert provenance.summary({"commit": "unknown", "dirty": None, "files": {}}) == \
        "computed from 0 committed files at commit unknown (not a git checkout)"


def test_show_stamp_displays_the_mime_type_and_a_summary(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.append((objs, kw)))
    provenance.show_stamp()
    [(objs, kw)] = shown
    bundle = objs[0]
    assert kw == {"raw": True} and isinstance(bundle, dict)
    assert bundle[provenance.MIME]["files"] == {} and bundle["text/plain"].startswith("computed from 0 committed")
    assert str(checkout) not in json.dumps(bundle)


def test_add_cells_appends_the_stamp_once_and_changes_nothing_else(tmp_path: Path) -> None:
    for src in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        copy = tmp_path / src.name
        shutil.copyfile(src, copy)
        before = json.loads(copy.read_text())
        had = any("show_stamp(" in "".join(c["source"]) for c in before["cells"])
        assert provenance.add_cells(copy) is not had
        after = json.loads(copy.read_text())
        if not had:
            assert after["cells"][:-2] == before["cells"], src.name
            text, code = after["cells"][-2:]
            assert text["cell_type"] == "markdown" and "".join(text["source"]).startswith(provenance.HEADING)
            assert code["cell_type"] == "code" and code["outputs"] == [] and code["execution_count"] is None
            assert "".join(code["source"]) == "from praas_kit import provenance\nprovenance.show_stamp()"
            assert "NBVAL_CHECK_OUTPUT" not in "".join(code["source"])  # nbval-lax does not compare the stamp
            assert len({c["id"] for c in after["cells"]}) == len(after["cells"])
        once = copy.read_text()
        assert provenance.add_cells(copy) is False and copy.read_text() == once


def test_add_cells_leaves_the_rest_of_the_file_byte_for_byte(tmp_path: Path) -> None:
    import nbformat

    src = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))[0]
    real = json.loads(src.read_text())  # a real executed notebook, without its stamp cells
    real["cells"] = [c for c in real["cells"] if provenance.HEADING not in "".join(c["source"])
                     and "show_stamp(" not in "".join(c["source"])]
    before = json.dumps(real, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    copy = tmp_path / src.name
    copy.write_text(before)
    assert provenance.add_cells(copy)
    nbformat.validate(nbformat.read(copy, as_version=4))
    nb = json.loads(copy.read_text())
    nb["cells"] = nb["cells"][:-2]
    assert json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n" == before
    assert not provenance.add_cells(copy)  # a second time: nothing to add


def test_the_command_adds_cells_and_checks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nb = tmp_path / "01_x.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert provenance.main(["add-cells", str(nb)]) == 0
    assert provenance.main(["check", str(nb)]) == 1  # added, not executed: no stamp yet
    assert "no provenance stamp" in caplog.text
