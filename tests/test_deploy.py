"""The Docker deployment end to end: process containers, S3 swap in a Swift container, failures.

Marked ``docker``: skipped on a machine without a Docker engine, required in CI.
"""

from __future__ import annotations

import threading
import time

import pytest
from helpers import APP_CODE, docker_available, docker_image_exists, require

import praas_kit

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    require(docker_available(), "no Docker engine")
    for image in ("praas-process:latest", "praas-s3:latest"):
        require(docker_image_exists(image), f"image {image} not built (praas images build)")
    with praas_kit.docker_deployment(swap="s3", home=tmp_path_factory.mktemp("deploy"),
                                     s3_options={"read_timeout": 5, "max_attempts": 1}) as cp:
        network = cp.network
        mine = {"label": f"praas-kit.deployment={cp.containers[0].labels['praas-kit.deployment']}"}
        yield cp
    import docker

    client = docker.from_env()
    # this deployment's storage containers only (the session's swarm deployment keeps its S3 task, labelled too);
    # the engine removes a container asynchronously
    assert wait_for(lambda: client.containers.list(all=True, filters=mine) == [], timeout=60), \
        client.containers.list(all=True, filters=mine)
    assert [n for n in client.networks.list(names=[network]) if n.name == network] == []  # its own, removed


def test_bad_option_is_refused_before_anything_starts(tmp_path):
    import docker

    client = docker.from_env()
    before = {n.name for n in client.networks.list()}
    with pytest.raises(praas_kit.InvalidArgument, match="unknown control-plane option 'idle_secs'"):
        praas_kit.docker_deployment(idle_secs=3)
    assert {n.name for n in client.networks.list()} == before


def wait_for(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_limits_and_isolation_on_the_container(deployment):
    app = deployment.create_application("limits", code=APP_CODE)
    p = app.create_process("p", vcpus=0.5, memory_mb=256)
    rec = deployment.controller.registry.get_process("limits", "p")
    info = deployment.controller.backend.inspect(rec.handle)
    assert info["nano_cpus"] == 500_000_000 and info["memory"] == 256 << 20
    assert info["user"] not in ("", "root", "0", "0:0")
    assert not any("docker.sock" in str(m) for m in info["mounts"])
    assert p.invoke("echo", b"in a container").payload == b"in a container"
    app.delete_process("p")
    app.delete()


def test_swap_to_s3_restores_state_files_and_messages(deployment):
    app = deployment.create_application("s3swap", code=APP_CODE)
    a, b = app.create_process("a"), app.create_process("b")
    b.invoke("put-state", {"key": "k", "value": "v"})
    b.invoke("write_file", {"path": "d/f.txt", "text": "file"})
    a.invoke("send", {"to": "b", "key": "m", "values": ["pending"]})
    time.sleep(0.3)
    report = b.swap()
    assert report.bytes > 0
    assert deployment.controller.store.spec()["kind"] == "s3"
    a.invoke("send", {"to": "b", "key": "m", "values": ["while-swapped"]})
    b = app.swapin("b")
    assert b.invoke("get-state", "k").payload == b"v"
    assert b.invoke("read_file", "d/f.txt").text == "file"
    assert b.invoke("recv", {"src": "a", "key": "m", "n": 2}).json() == ["pending", "while-swapped"]
    for n in ("a", "b"):
        app.delete_process(n)
    app.delete()


def test_docker_kill_mid_invocation_then_swapin_from_s3(deployment):
    import docker

    app = deployment.create_application("killed", code=APP_CODE)
    p = app.create_process("p")
    p.invoke("put-state", {"key": "k", "value": "snapshotted"})
    p.swap()
    p = app.swapin("p")
    errors: list[Exception] = []
    t = threading.Thread(target=lambda: _call(p, errors))
    t.start()
    time.sleep(0.5)
    rec = deployment.controller.registry.get_process("killed", "p")
    docker.from_env().containers.get(rec.handle["container"]).kill()
    t.join(20)
    assert errors
    assert wait_for(lambda: app.process("p").status == "FAILED")
    p = app.swapin("p")
    assert p.invoke("get-state", "k").payload == b"snapshotted"
    app.delete_process("p")
    app.delete()


def _call(p, errors):
    try:
        p.invoke("sleep", "30", timeout=25)
    except praas_kit.PraasError as exc:
        errors.append(exc)


def test_s3_server_stopped_during_swap_out(deployment):
    app = deployment.create_application("s3down", code=APP_CODE)
    p = app.create_process("p", memory_mb=1024)
    p.invoke("put-state", {"key": "k", "value": "first"})
    p.swap()
    first = deployment.controller.store.latest("s3down", "p")
    p = app.swapin("p")
    p.invoke("big_state", {"key": "big", "kib": 200 * 1024})  # 200 MiB: the upload takes a while
    s3 = next(c for c in deployment.containers if c.name.startswith("praas-s3-"))
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(_swap(p)))
    t.start()
    time.sleep(0.4)
    s3.pause()  # the server stops (SIGSTOP) in the middle of the upload; its data stays
    try:
        t.join(120)
    finally:
        s3.unpause()
    assert result and isinstance(result[0], praas_kit.PraasError), result
    assert "S3" in str(result[0]) or "storage" in str(result[0]).lower()
    assert wait_for(lambda: _s3_up(deployment), timeout=60)
    assert deployment.controller.store.latest("s3down", "p") == first  # the previous snapshot is intact
    status = app.process("p").status
    assert status in ("ALLOCATED", "FAILED")
    if status == "ALLOCATED":  # the failed swap changed nothing: the process still runs with its state
        assert p.invoke("get-state", "k").payload == b"first"
        p.swap()  # with the server back, swapping works again
    p = app.swapin("p")
    assert p.invoke("get-state", "k").payload == b"first"
    app.delete_process("p")
    app.delete()


def _swap(p):
    try:
        return p.swap()
    except praas_kit.PraasError as exc:
        return exc


def _s3_up(deployment) -> bool:
    try:
        deployment.controller.store.snapshots("probe", "probe")
        return True
    except praas_kit.PraasError:
        return False
