"""The series in a real browser: JupyterLab started headless, Debian's Chromium (driven by Selenium) opens
``01_cloud_processes``, runs all its cells, and the process explorer widget shows its rows. A screenshot goes to
``results/browser/`` (a CI artefact). The notebook runs on the local backend, so this needs no Docker."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import chromium, have, open_and_run_all, require

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "results" / "browser"


def _free_port() -> int:
    from praas_kit._net import free_port

    return free_port()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A headless JupyterLab on a copy of the notebooks; its URL with the token."""
    require(have("chromium", "chromedriver"), "Debian's chromium and chromium-driver are not installed")
    try:
        import selenium  # noqa: F401
    except ImportError:
        require(False, "selenium is not installed")
    require(shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is not None, "jupyterlab missing")
    import nbformat

    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    nb = nbformat.read(root / "01_cloud_processes.ipynb", as_version=4)
    for cell in nb.cells:  # no stored outputs or widget state: what the browser shows comes from this run
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, root / "01_cloud_processes.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PRAAS_BACKEND="local", PRAAS_QUICK="1")
    cmd = [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp_path / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/01_cloud_processes.ipynb?token={token}"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
        log.close()


#: the process explorer's rows as text (cells joined by one space); the first table is scrolled into view once a
#: row names alice
_EXPLORER_ROWS = """
const tables = [...document.querySelectorAll('table')].filter(
    t => [...t.querySelectorAll('th')].some(th => th.textContent.trim() === 'process'));
const rows = tables.flatMap(t => [...t.querySelectorAll('tr')].slice(1).map(
    r => [...r.cells].map(c => c.textContent.trim()).join(' ')));
if (rows.some(r => r.includes('alice'))) { tables[0].scrollIntoView({block: 'center'}); }
return rows;
"""


def test_jupyterlab_runs_01_and_the_process_explorer_shows_rows(lab: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver = chromium()
    try:
        open_and_run_all(driver, lab)
        rows: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            # one script reads the rows and scrolls: the widget redraws its table on every refresh, so element
            # handles kept between Selenium calls go stale
            rows = driver.execute_script(_EXPLORER_ROWS)  # type: ignore[attr-defined]
            if any("alice" in r for r in rows):
                driver.save_screenshot(str(SHOTS / "01_process_explorer.png"))  # type: ignore[attr-defined]
                break
            time.sleep(0.1)
        else:
            driver.save_screenshot(str(SHOTS / "01_failed.png"))  # type: ignore[attr-defined]
        assert any("lessons alice ALLOCATED" in r for r in rows), rows
    finally:
        driver.quit()  # type: ignore[attr-defined]
