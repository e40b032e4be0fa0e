"""Smoke test of the Compose lab: `docker compose up` gives a control plane (docker backend, S3 swap),
Redis and JupyterLab; a process created through it runs in a container and swaps to S3."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from helpers import docker_available, docker_image_exists, require

import praas_kit

pytestmark = pytest.mark.docker

ROOT = Path(__file__).parent.parent
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
PROJECT = "praas-test"


def compose_cmd() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def _praas_containers(*filters: str) -> list[str]:
    """Ids of the containers praas-kit started (``label=praas-kit=1``), narrowed by more ``docker ps`` filters."""
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label=praas-kit=1", *filters], capture_output=True,
                          text=True).stdout.split()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


FOREIGN_UID = 12345  # a host user that is neither root nor the image's lab user (10001)


@pytest.fixture(scope="module", params=[FOREIGN_UID, 0], ids=["foreign-owner", "root-owner"])
def lab(request, tmp_path_factory):
    require(docker_available(), "no Docker engine")
    cmd = compose_cmd()
    require(cmd is not None, "neither docker-compose nor the compose plugin is installed")
    for image in ("praas-controlplane", "praas-process", "praas-s3", "praas-redis", "praas-jupyter"):
        require(docker_image_exists(f"{image}:latest"), f"image {image} not built (praas images build)")
    base = [*cmd, "-p", PROJECT, "-f", str(COMPOSE_FILE)]
    # the notebooks folder as a student's checkout has it: owned by a host user the image knows nothing of, or
    # by root (a clone as root, the README's setup: before the fix the lab could not save there, HTTP 403)
    notebooks = tmp_path_factory.mktemp("lab") / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    for path in [notebooks, *notebooks.rglob("*")]:
        os.chown(path, request.param, request.param)
    env = {"JUPYTER_TOKEN": "smoke-test", "PATH": "/usr/local/bin:/usr/bin:/bin", "PRAAS_NOTEBOOKS": str(notebooks)}
    up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=300, env=env)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        wait_http("http://127.0.0.1:8080/healthz", 120)
        token = subprocess.run([*base, "exec", "-T", "controlplane", "cat", "/var/lib/praas/token"],
                               capture_output=True, text=True, timeout=60, env=env).stdout.strip()
        assert token
        yield base, env, token, notebooks, request.param
    finally:
        logs = subprocess.run([*base, "logs", "--tail", "30"], capture_output=True, text=True, env=env).stdout
        # the lab's process containers: those on its network (other tests' processes may still be shutting down)
        ours = _praas_containers("--filter", "network=praas-lab")
        down = subprocess.run([*base, "down", "-v", "--remove-orphans"], capture_output=True, text=True,
                              timeout=300, env=env)
        leftovers = sorted(set(ours) & set(_praas_containers()))
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)
        assert down.returncode == 0, down.stderr[-2000:] + logs
        assert not leftovers, f"process containers left after down -v: {leftovers}"
        names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                               text=True).stdout.split()
        networks = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True,
                                  text=True).stdout.split()
        volumes = subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True,
                                 text=True).stdout.split()
        assert not [n for n in names if n.startswith(PROJECT)], names
        assert "praas-lab" not in networks and not [v for v in volumes if v.startswith(PROJECT)], (networks, volumes)


def test_lab_control_plane_runs_processes_in_containers(lab):
    _base, _env, token, _notebooks, _owner = lab
    with praas_kit.connect("http://127.0.0.1:8080", token=token) as cp:
        assert cp.healthz()["backend"] == "docker"
        app = cp.create_application("smoke", code="/examples/counter.py")
        p = app.create_process("alice", vcpus=0.5, memory_mb=256)
        assert app.invoke("add", {"n": 2}, process="alice").json() == {"total": 2}
        report = p.swap()  # to the compose S3 server (Swift)
        assert report.bytes > 0
        r = app.invoke("add", {"n": 3}, process="alice")  # swaps alice back in from S3
        assert r.json() == {"total": 5}
        app.delete_process("alice")
        app.delete()


def test_lab_jupyter_and_storage_answer(lab):
    wait_http("http://127.0.0.1:8888/api", 120)
    assert httpx.get("http://127.0.0.1:8888/api/contents?token=smoke-test", timeout=10).status_code == 200
    import redis

    assert redis.Redis(host="127.0.0.1", port=6379).ping()
    from praas_kit.storage.s3 import make_client

    s3 = make_client("http://127.0.0.1:9000", "test:tester", "testing")
    s3.create_bucket(Bucket="smoke")
    s3.put_object(Bucket="smoke", Key="k", Body=b"v")
    assert s3.get_object(Bucket="smoke", Key="k")["Body"].read() == b"v"


def test_a_student_saves_a_notebook_and_uses_the_sdk_from_the_lab(lab):
    """The lab user can write the mounted folder whatever the host uid (the entrypoint adopts the owner's uid),
    and code from the shipped examples reaches the control plane at the same path as from the lab."""
    base, env, _token, notebooks, owner = lab
    wait_http("http://127.0.0.1:8888/api", 120)
    api = "http://127.0.0.1:8888/api/contents/Untitled.ipynb?token=smoke-test"
    empty = {"type": "notebook", "format": "json",
             "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    assert httpx.put(api, json=empty, timeout=30).status_code in (200, 201)
    saved = notebooks / "Untitled.ipynb"
    assert saved.is_file() and saved.stat().st_uid == owner  # the folder's owner, whoever it is
    assert (notebooks.stat().st_uid, notebooks.stat().st_gid) == (owner, owner)  # the host folder is unchanged
    assert httpx.get("http://127.0.0.1:8888/api/contents/01_cloud_processes.ipynb?token=smoke-test",
                     timeout=30).status_code == 200
    code = ("import praas_kit\nfrom praas_kit import lab\ncp = praas_kit.connect()\n"
            "app = cp.create_application('from-lab', code=lab.EXAMPLES / 'counter.py')\n"
            "p = app.create_process('a')\nprint(p.invoke('add', {'n': 2}).json())\n"
            "p.delete()\napp.delete()\n")
    done = subprocess.run([*base, "exec", "-T", "jupyter", "/opt/praas/bin/python", "-c", code], capture_output=True,
                          text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "{'total': 2}"


@pytest.mark.browser
def test_the_lab_in_a_browser(lab):
    """As a student: Chromium opens JupyterLab with the token, a new notebook connects with the SDK, creates an
    application from the shipped examples and shows an invocation's result, the notebook is saved, and
    01_cloud_processes opens. Screenshots go to results/browser/."""
    import json

    from helpers import chromium, open_and_run_all
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _base, _env, token, notebooks, owner = lab
    wait_http("http://127.0.0.1:8888/api", 120)
    shots = ROOT / "results" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    source = ("import praas_kit\nfrom praas_kit import lab\ncp = praas_kit.connect()\n"
              "app = cp.create_application('browser', code=lab.EXAMPLES / 'counter.py')\n"
              "print('RESULT', app.create_process('b').invoke('add', {'n': 40}).json())")
    nb = {"cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    put = httpx.put("http://127.0.0.1:8888/api/contents/student.ipynb?token=smoke-test",
                    json={"type": "notebook", "format": "json", "content": nb}, timeout=30)
    assert put.status_code in (200, 201), put.text
    driver = chromium()
    try:
        open_and_run_all(driver, "http://127.0.0.1:8888/lab/tree/student.ipynb?token=smoke-test")
        deadline, shown = time.monotonic() + 180, ""
        while time.monotonic() < deadline and "RESULT" not in shown:
            shown = " ".join(e.text for e in driver.find_elements(  # type: ignore[attr-defined]
                By.CSS_SELECTOR, ".jp-OutputArea-output"))
            time.sleep(0.5)
        driver.save_screenshot(str(shots / "lab_student_notebook.png"))  # type: ignore[attr-defined]
        assert "RESULT {'total': 40}" in shown, shown
        driver.find_element(By.CSS_SELECTOR, ".jp-Notebook").click()  # type: ignore[attr-defined]
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.CONTROL, "s")  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            saved = json.loads((notebooks / "student.ipynb").read_text())
            if saved["cells"][0].get("outputs"):
                break
            time.sleep(0.5)
        assert saved["cells"][0]["outputs"], "the notebook was not saved with its output"
        assert (notebooks / "student.ipynb").stat().st_uid == owner
        driver.get("http://127.0.0.1:8888/lab/tree/01_cloud_processes.ipynb?token=smoke-test")  # type: ignore
        deadline = time.monotonic() + 60
        while "Cloud processes" not in driver.page_source:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "01_cloud_processes did not open"
            time.sleep(0.5)
        driver.save_screenshot(str(shots / "lab_01_cloud_processes.png"))  # type: ignore[attr-defined]
    finally:
        driver.quit()  # type: ignore[attr-defined]
        with praas_kit.connect("http://127.0.0.1:8080", token=token) as cp:
            for p in cp.application("browser").processes():
                cp.application("browser").delete_process(p.name)
