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

    from praas_kit.lab import notebooks

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


def test_executed_notebooks_name_no_path_of_this_machine(tmp_path: Path) -> None:
    """Tracebacks and papermill's metadata are rewritten relative to the checkout (executed notebooks are
    committed)."""
    import nbformat

    from praas_kit.lab import notebooks

    src = tmp_path / "notebooks"
    src.mkdir()
    _notebook(src / "01_paths.ipynb", [("p", "QUICK = True", ["parameters"]),
                                       ("e", "import os; raise ValueError(os.getcwd())", ["raises-exception"])])
    run = notebooks.run(src / "01_paths.ipynb", src, {})
    text = run.output.read_text()
    assert str(tmp_path) not in text
    out = nbformat.read(run.output, as_version=4)
    assert out.metadata.papermill["input_path"] == "notebooks/01_paths.ipynb"
    assert out.cells[-1].outputs[0]["evalue"] == "notebooks"


def test_the_process_explorer_lists_and_acts_on_processes() -> None:
    import praas_kit
    from praas_kit.lab.widgets import ProcessExplorer, render_table

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


def test_the_scale_out_notebook_uses_swarm_only_where_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.scaleout, "swarm_ready", lambda: True)  # where scale_out_backend looks it up
    for value in ("", "docker", "swarm", "Swarm"):
        monkeypatch.setenv("PRAAS_BACKEND", value)
        assert lab.scale_out_backend() == "swarm"
    monkeypatch.setenv("PRAAS_BACKEND", "local")
    assert lab.scale_out_backend() == "local"  # asked for: the README's main job, no Docker
    monkeypatch.setattr(lab.scaleout, "swarm_ready", lambda: False)
    for value in ("", "docker", "swarm"):
        monkeypatch.setenv("PRAAS_BACKEND", value)
        assert lab.scale_out_backend() == "local"
    monkeypatch.setenv("PRAAS_BACKEND", "kubernetes")
    with pytest.raises(InvalidArgument, match="PRAAS_BACKEND='kubernetes'"):
        lab.scale_out_backend()
    assert lab.scale_out_backend("local") == "local"  # a papermill parameter wins over the environment


def test_swarm_is_not_ready_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # nothing listens there
    assert lab.swarm_ready() is False


def test_kmeans_runs_are_saved_as_the_benchmark_saves_them(tmp_path: Path) -> None:
    from praas_kit.apps.kmeans import DatasetSpec, RunResult, WorkerReport
    from praas_kit.bench import kmeans
    from praas_kit.bench.common import load_rows

    def run(variant: str, wall: float, sync: float) -> RunResult:
        reports = [WorkerReport(rank, 0.5, 0.1, sync, 0.2, wall, 3, [[1.0, 2.0]], exchange_s=sync / 4)
                   for rank in range(2)]
        return RunResult(variant, DatasetSpec(100, 2), k=1, epochs=3, wall_s=wall, reports=reports)

    runs = [run("praas", 1.0, 0.1), run("praas", 3.0, 0.3), run("redis", 4.0, 0.6), run("s3", 8.0, 1.0)]
    csv_path = lab.save_kmeans_runs(runs, tmp_path, "swarm")
    rows = load_rows(csv_path)
    m = kmeans.medians(rows)
    assert m[("kmeans", "praas", 100)] == 2.0 and m[("kmeans-sync", "redis", 100)] == pytest.approx(1.2)
    assert m[("kmeans-read", "s3", 100)] == 1.0 and m[("kmeans-requests", "praas", 100)] == 6.0
    assert {r.experiment for r in rows} == {*kmeans.EXPERIMENTS, kmeans.EXCHANGE}
    assert m[(kmeans.EXCHANGE, "redis", 100)] == pytest.approx(0.3)
    assert next(r.extra for r in rows) == {"backend": "swarm", "workers": 2, "epochs": 3, "k": 1}
    assert {(c["what"], c["ours"]) for c in kmeans.comparison(rows) if not c["what"].startswith("Σ")} == {
        ("Redis/PraaS", 2.0), ("S3/PraaS", 4.0)}


@pytest.mark.docker
def test_the_control_plane_runs_as_a_container_and_is_removed() -> None:
    before = {c["name"] for c in lab.containers()}
    with lab.control_plane_container() as remote:
        assert remote.healthz()["backend"] == "local"  # its processes run inside the container
        app = remote.create_application("hello", code=lab.EXAMPLES / "counter.py")
        app.create_process("p1")
        assert app.invoke("add", {"n": 2}, process="p1").json() == {"total": 2}
        started = [c for c in lab.containers() if c["name"] not in before]
        assert [c["image"].split(":")[0] for c in started] == ["praas-controlplane"]
    assert not {c["name"] for c in started} & {c["name"] for c in lab.containers()}


@pytest.mark.docker
def test_containers_on_a_network_are_only_that_deployments() -> None:
    with lab.deployment("docker", redis=False) as cp:
        app = cp.create_application("hello", code=lab.EXAMPLES / "counter.py")
        app.create_process("p1")
        mine = lab.containers(network=cp.network)
        assert sorted(c["image"].split(":")[0] for c in mine) == ["praas-process", "praas-s3"]
        assert lab.containers(network="praas-no-such-network") == []


def test_the_readme_lab_command_starts_jupyterlab_as_this_user(tmp_path: Path) -> None:
    """``bash scripts/lab.sh`` (the README's command) serves the notebooks, as root too (before: `jupyter lab
    notebooks/` refused to run as root, and the command installing Jupyter was named nowhere)."""
    import os
    import subprocess
    import time

    import httpx

    from praas_kit._net import free_port

    root = Path(__file__).resolve().parent.parent
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    lab = subprocess.Popen(["bash", str(root / "scripts" / "lab.sh"), "--no-browser", f"--port={port}",
                            "--ServerApp.token=lab-test", "--ServerApp.open_browser=False"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert lab.poll() is None, lab.communicate()[1][-3000:]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/contents/00_setup.ipynb",
                              params={"content": "0"}, headers={"Authorization": "token lab-test"}, timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not come up"
            time.sleep(0.5)
    finally:
        lab.terminate()
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(10)
        if lab.stderr is not None:
            lab.stderr.close()
