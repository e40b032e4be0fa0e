"""Output validators and the paper-vs-machine report, on result files written by the benchmarks' own ``save``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from praas_kit.bench import invocations, report
from praas_kit.bench.common import Row, save
from praas_kit.bench.validate import check, validate
from praas_kit.errors import InvalidArgument

PARAMS = {"quick": True, "backend": "local", "auths": ["curve"], "sizes": [10, 1024], "rounds": 1,
          "variants": ["raw", "direct", "control-plane", "faas", "local"], "contention": False,
          "throughput_clients": 8, "reps": {}}
TIMES = {"raw": 1e-4, "direct": 1.2e-4, "control-plane": 8e-4, "faas": 9e-4, "local": 2e-6}


def _results(root: Path, drop: str | None = None) -> Path:
    out = root / "invocations" / "local"
    rows = [Row("invoke", v, size, "s", [t * (1 + i / 100) for i in range(5)], {"auth": "curve", "contention": False})
            for v, t in TIMES.items() if v != drop for size in PARAMS["sizes"]]
    rows.append(Row("throughput", "noop", 8, "1/s", [5000.0, 5100.0], {"auth": "curve"}))
    csv_path, _ = save(rows, out, "invocations", PARAMS)
    invocations.plot(csv_path)
    return out


def test_a_complete_run_validates_and_reports_beside_the_paper(tmp_path: Path) -> None:
    out = _results(tmp_path)
    assert validate(out, "invocations") == []
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n")
    table = report.write(tmp_path, readme)
    text = table.read_text()
    assert "remote / raw transport (paper: TCP_RR) | 10 B | 1.2 | 1.09 |" in text, text
    assert "results/invocations/local/invocations.csv" in text.replace("`", "")
    body = readme.read_text()
    assert "old" not in body and "after" in body and "1.09" in body
    figures = report.regenerate_figures(tmp_path)
    assert {f.name for f in figures} == {"invocations-local.png", "invocations-local.pdf"}


def test_validation_names_what_is_missing(tmp_path: Path) -> None:
    out = _results(tmp_path, drop="faas")
    (out / "invocations.png").unlink()
    problems = validate(out, "invocations")
    assert "no samples for ('invoke', 'faas', 10)" in problems and "missing figure invocations.png" in problems
    meta = json.loads((out / "invocations.meta.json").read_text())
    del meta["git_commit"]
    (out / "invocations.meta.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidArgument, match="lacks 'git_commit'"):
        check(out, "invocations")
    (out / "invocations.csv").write_text("experiment,variant\ninvoke,direct\n")
    assert any("columns" in p for p in validate(out, "invocations"))
    with pytest.raises(InvalidArgument, match="unknown benchmark"):
        validate(out, "nope")
    assert validate(tmp_path / "empty", "swap")[0].startswith("missing")
