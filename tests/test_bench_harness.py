"""The benchmarks' registry and harness (``praas_kit.bench``, ``praas_kit.bench.harness``): one record per
experiment that the CLI, the report and the validator read, the targets stated once, the shared end of a run, and
where the storage comes from. No benchmark runs here."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest

from praas_kit.bench import BENCHMARKS, LATEX_COLUMNS, ROW_COLUMNS, Benchmark, benchmark, check_backend
from praas_kit.bench.common import LOAD_AVERAGE, Row, Target, run_load_average
from praas_kit.errors import InvalidArgument

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_every_record_names_code_that_is_there() -> None:
    for name, bench in BENCHMARKS.items():
        assert bench.name == name and callable(bench.code(bench.run)) and callable(bench.code(bench.summarise))
        for ref in (bench.comparison, bench.plot, bench.expected):
            assert ref is None or callable(bench.code(ref)), (name, ref)
        assert callable(bench.code(bench.read))
        if bench.targets is not None:
            targets = bench.code(bench.targets)
            assert targets and all(isinstance(t, Target) for t in targets.values()), name  # type: ignore[attr-defined]
        assert set(bench.backends) <= {"local", "docker", "swarm"}
        assert all(other in BENCHMARKS for _, other in bench.instead)
    assert BENCHMARKS["latex"].columns == LATEX_COLUMNS and BENCHMARKS["state"].columns == tuple(ROW_COLUMNS)


def test_the_registry_imports_no_benchmark() -> None:
    code = ("import sys, praas_kit.bench; print(sorted(m for m in sys.modules if m.startswith('praas_kit.bench.') "
            "or m.split('.')[0] in ('tqdm', 'zmq', 'matplotlib', 'numpy', 'httpx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_record_names_its_code() -> None:
    state = BENCHMARKS["state"]
    assert (state.module, state.run) == ("praas_kit.bench.state", "run_state_benchmark")
    assert callable(state.code(state.run)) and callable(state.code("praas_kit.bench.common:load_rows"))
    assert Benchmark("x", "m", "r") == Benchmark("x", "m", "r") != Benchmark("x", "m", "r", backends=("docker",))


def test_the_report_order_comes_from_the_registry() -> None:
    from praas_kit.bench import report

    assert report.ORDER == ("invocations", "channels", "state", "swap", "allocation", "latex", "kmeans")
    assert all(BENCHMARKS[name].comparison and BENCHMARKS[name].plot for name in report.ORDER)


def test_one_backend_check_names_the_valid_ones() -> None:
    with pytest.raises(InvalidArgument, match="unknown backend 'swarm' for state; valid: local, docker"):
        BENCHMARKS["state"].check_backend("swarm")
    with pytest.raises(InvalidArgument, match="unknown backend 'k8s'; valid: local, docker, swarm"):
        check_backend("k8s", ("local", "docker", "swarm"))
    with pytest.raises(InvalidArgument, match="unknown benchmark 'nope'; known: core, "):
        benchmark("nope")
    BENCHMARKS["allocation"].check_backend("swarm")


def test_cells_are_read_as_each_record_says() -> None:
    line = {"experiment": "state", "variant": "redis", "size": "10", "extra": json.dumps({"invocations": 25})}
    assert BENCHMARKS["state"].cell_of(line) == ("state", "redis", 10, 25)
    assert BENCHMARKS["swap"].cell_of(line) == ("state", "redis", 10)  # the extra is not part of its cells
    latex = {"operation": "compile", "plot_label": "No Update", "system": "praas", "vcpus": "0.25"}
    assert BENCHMARKS["latex"].cell_of(latex) == ("compile", "No Update", "praas", 0.25)


def test_a_target_is_stated_once_and_reads_as_before() -> None:
    from praas_kit.bench import core, invocations, swap

    assert [str(core.TARGETS[k]) for k in core.TARGETS] == [
        "<= 1.5x", "<= 1.3x", "<= 5x", "<= 0.5 s", "<= 1.0 s", ">= 300 MiB/s", ">= 12,000 /s", "<= 50 MiB"]
    assert core.TARGETS["ratio-10"] is invocations.TARGETS["direct/raw 10 B"]  # the same statement, not a copy
    assert core.TARGETS["throughput"].met(12000) and not core.TARGETS["throughput"].met(11999.9)
    assert str(invocations.TARGETS["contention"]) == "within 1.3x of quiet"
    s3 = swap.TARGETS["s3"].at(10.2)
    assert str(s3) == "> 10 MiB/s (paper, AWS S3)" and s3.met(10.3) and not s3.met(10.2)
    figure = Target("<=", 2.0).figure("allocate 20", "1 s", 2.5, "why", " docker service create")
    assert (figure.target, figure.met, figure.verdict) == ("<= 2x docker service create", False, "MISSED")


@pytest.mark.parametrize("folder", ["kmeans/local", "allocation/swarm", "scaling/local"])
def test_the_load_average_is_read_from_every_spelling(folder: str) -> None:
    """One spelling is written (``load_average_1_5_15_min``); the committed files of older runs used others."""
    meta = json.loads(next((RESULTS / folder).glob("*.meta.json")).read_text())
    load = run_load_average(meta)
    assert len(load["start"] or []) == 3 and len(load["end"] or []) == 3
    assert run_load_average({"params": {}}) == {"start": None, "end": None}


def test_finish_saves_records_the_load_and_keeps_the_csv_without_matplotlib(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from praas_kit.bench.harness import finish, start

    def plot(csv_path: Path) -> list[Path]:
        raise ImportError("no matplotlib here")

    started = start("swap", "local")
    with caplog.at_level(logging.WARNING, logger="praas_kit.bench"):
        run = finish([Row("swap-out", "dir", 1 << 20, "s", [0.01, 0.02])], tmp_path, "swap", {"quick": True}, plot,
                     started=started)
    assert run.csv == tmp_path / "swap.csv" and run.csv.is_file() and len(run.rows) == 1
    assert "no figure drawn" in caplog.text
    params = json.loads(run.meta.read_text())["params"]
    assert params["quick"] is True and params[LOAD_AVERAGE]["start"] == started.load
    assert run_load_average({"params": params})["end"] is not None
    with pytest.raises(InvalidArgument, match="unknown backend 'mainframe' for swap"):
        start("swap", "mainframe")


def test_a_deployments_own_storage_comes_first() -> None:
    from praas_kit.bench.harness import s3_settings, storage
    from praas_kit.storage.s3_endpoint import S3Endpoint

    s3 = S3Endpoint("http://10.0.0.2:9000", "ak", "sk")
    cp = SimpleNamespace(storage=SimpleNamespace(s3=s3, redis_url="redis://10.0.0.3:6379/0"))
    with ExitStack() as stack:
        assert storage(cp, stack) == (s3, "redis://10.0.0.3:6379/0")  # type: ignore[arg-type]
        assert storage(cp, stack, redis=False).redis_url is None  # type: ignore[arg-type]
        without = SimpleNamespace(storage=SimpleNamespace(s3=None, redis_url=None))
        assert storage(without, stack) == (None, None)  # type: ignore[arg-type]  # never a server of this machine
    assert s3_settings(s3, "b") == {"endpoint": "http://10.0.0.2:9000", "access_key": "ak", "secret_key": "sk",
                                    "region": "us-east-1", "bucket": "b"}


def test_the_cli_refuses_what_a_benchmark_does_not_take(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from praas_kit import cli

    runner = CliRunner()
    for args, message in ((["state", "--no-s3"], "has no option 's3'"), (["core", "--backend", "local"],
                                                                          "has no option 'backend'"),
                          (["swap", "--backend", "swarm"], "unknown backend 'swarm' for swap")):
        got = runner.invoke(cli.app, ["bench", *args, "--out", str(tmp_path)])
        assert got.exit_code == 1 and message in got.output, got.output
    assert not any(tmp_path.iterdir())


def test_a_result_records_the_code_it_started_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit and the tree's state are read when the run starts; a commit made (or a file changed) while it
    runs is recorded apart, and a dirty tree's diff is saved beside the result."""
    from praas_kit.bench import common, harness

    state = {"commit": "a" * 40, "dirty": True, "diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-1\n+2\n"}
    monkeypatch.setattr(common, "git_commit", lambda: state["commit"])
    monkeypatch.setattr(common, "git_dirty", lambda: state["dirty"])
    monkeypatch.setattr(common, "git_diff", lambda: state["diff"])
    started = harness.start("state")
    state.update(commit="b" * 40, dirty=False, diff="")  # committed while it ran
    run = harness.finish([Row("e", "v", 1, "s", [0.5])], tmp_path, "state", {"quick": True}, started=started)
    meta = json.loads(run.meta.read_text())
    assert (meta["git_commit"], meta["git_dirty"]) == ("a" * 40, True)
    assert meta["git_at_save"] == {"commit": "b" * 40, "dirty": False}
    assert meta["started"]["at"] == started.at and "started" not in meta["params"]
    diff = tmp_path / meta["started"]["diff"]["file"]
    assert diff.read_text() == started.diff
    import hashlib

    assert meta["started"]["diff"]["sha256"] == hashlib.sha256(started.diff.encode()).hexdigest()

    clean = harness.start("state")  # a clean tree: no diff file, no git_at_save
    meta = json.loads(harness.finish([Row("e", "v", 1, "s", [0.5])], tmp_path / "clean", "state", {},
                                     started=clean).meta.read_text())
    assert meta["started"]["diff"] is None and "git_at_save" not in meta
    assert not list((tmp_path / "clean").glob("*.diff"))
