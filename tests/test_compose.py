"""Smoke test of the Compose lab: `docker compose up` gives a control plane (docker backend, S3 swap),
Redis and JupyterLab; a process created through it runs in a container and swaps to S3."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import docker_available, docker_image_exists, require

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


@pytest.fixture(scope="module")
def lab():
    require(docker_available(), "no Docker engine")
    cmd = compose_cmd()
    require(cmd is not None, "neither docker-compose nor the compose plugin is installed")
    for image in ("praas-controlplane", "praas-process", "praas-s3", "praas-redis", "praas-jupyter"):
        require(docker_image_exists(f"{image}:latest"), f"image {image} not built (praas images build)")
    base = [*cmd, "-p", PROJECT, "-f", str(COMPOSE_FILE)]
    env = {"JUPYTER_TOKEN": "smoke-test", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=300, env=env)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        wait_http("http://127.0.0.1:8080/healthz", 120)
        token = subprocess.run([*base, "exec", "-T", "controlplane", "cat", "/var/lib/praas/token"],
                               capture_output=True, text=True, timeout=60, env=env).stdout.strip()
        assert token
        yield base, env, token
    finally:
        logs = subprocess.run([*base, "logs", "--tail", "30"], capture_output=True, text=True, env=env).stdout
        down = subprocess.run([*base, "down", "-v", "--remove-orphans"], capture_output=True, text=True,
                              timeout=300, env=env)
        leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", "label=praas-kit=1"], capture_output=True,
                                   text=True).stdout.split()
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)
        assert down.returncode == 0, down.stderr[-2000:] + logs


def test_lab_control_plane_runs_processes_in_containers(lab):
    _base, _env, token = lab
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
