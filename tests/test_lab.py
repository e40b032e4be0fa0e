"""The notebooks' helpers: parameters from the environment, the series runner, the process explorer widget."""

from __future__ import annotations

from pathlib import Path

import pytest

from praas_kit import lab
from praas_kit.errors import InvalidArgument


def test_parameters_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRAAS_QUICK", "0")
    assert lab.default_quick() is False
    monkeypatch.setenv("PRAAS_QUICK", "yes")
    assert lab.default_quick() is True
    monkeypatch.setenv("PRAAS_BACKEND", "Local")
    assert lab.default_backend() == "local"
    monkeypatch.setenv("PRAAS_BACKEND", "kubernetes")
    with pytest.raises(InvalidArgument, match="PRAAS_BACKEND='kubernetes'"):
        lab.default_backend()
    with pytest.raises(InvalidArgument, match="unknown backend"):
        with lab.deployment("cloud"):
            pass


def _notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(src, metadata={"tags": tags}) for _, src, tags in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_the_runner_injects_parameters_and_allows_expected_errors(tmp_path: Path) -> None:
    import nbformat

    from praas_kit import notebooks

    src = tmp_path / "nb"
    src.mkdir()
    _notebook(src / "01_first.ipynb", [("p", "QUICK = True", ["parameters"]),
                                       ("e", "raise ValueError('expected')", ["raises-exception"]),
                                       ("o", "print('quick' if QUICK else 'full')", [])])
    _notebook(src / "02_broken.ipynb", [("x", "1 / 0", [])])
    (src / "notes.ipynb").write_text("{}")  # not numbered: not part of the series
    assert [p.name for p in notebooks.series(src)] == ["01_first.ipynb", "02_broken.ipynb"]
    run = notebooks.run(src / "01_first.ipynb", tmp_path / "out", {"QUICK": False})
    out = nbformat.read(run.output, as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == "full"
    with pytest.raises(notebooks.NotebookFailed, match="02_broken.ipynb"):
        notebooks.run_series(src, tmp_path / "out")
    with pytest.raises(InvalidArgument, match="no numbered notebooks"):
        notebooks.series(tmp_path / "out" / "..")


def test_the_process_explorer_lists_and_acts_on_processes() -> None:
    import praas_kit
    from praas_kit.widgets import ProcessExplorer, render_table

    assert "no processes" in render_table([])
    with praas_kit.local() as cp:
        app = cp.create_application("explore", code=lab.EXAMPLES / "lessons.py")
        app.create_process("p1")
        explorer = ProcessExplorer(cp, interval=0.2)
        try:
            rows = explorer.refresh()
            assert [(r["app"], r["process"], r["status"]) for r in rows] == [("explore", "p1", "ALLOCATED")]
            assert "p1" in explorer.table.value and explorer.choice.options == ("explore/p1",)
            explorer.choice.value = "explore/p1"
            explorer.function.value, explorer.payload.value = "whoami", "{}"
            explorer._act(explorer._invoke)
            assert "whoami" in explorer.message.value and "pid" in explorer.message.value
            explorer.function.value = "no-such-function"
            explorer._act(explorer._invoke)
            assert "FunctionNotFound" in explorer.message.value
            explorer._act(explorer._swap)
            assert "SWAPPED_OUT" in explorer.table.value
        finally:
            explorer.close()
        assert not explorer._thread.is_alive()
