"""The ``docker`` backend against the real Docker engine and the ``praas-process`` image.

Every test uses a network of its own name and checks at the end that no container of the backend
instance (label ``praas-kit.owner=<id>``) and no network it created remains.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from helpers import require

from praas_kit import wire
from praas_kit.backends.base import ProcessSpec
from praas_kit.errors import BackendError, PraasError
from praas_kit.process.config import ProcessConfig
from praas_kit.storage.directory import DirectoryStore

try:
    import docker
except ImportError:  # pragma: no cover - the docker SDK is a test dependency
    docker = None

pytestmark = pytest.mark.docker

IMAGE = "praas-process:latest"
MiB = 1 << 20

APP_CODE = '''
import time

from praas_kit import function


@function
def echo(invocation, context):
    return invocation.payload


@function
def whoami(invocation, context):
    import os
    return {"uid": os.getuid(), "gid": os.getgid(), "process": context.process_id, "cwd": os.getcwd(),
            "state_dir": str(context.state_dir)}


@function
def put(invocation, context):
    context.state("k", invocation.payload)
    (context.state_dir / "file.txt").write_text("kept across swaps")
    return len(invocation.payload)


@function
def get(invocation, context):
    return context.state("k")


@function
def read_file(invocation, context):
    return (context.state_dir / "file.txt").read_text()


@function
def sleep(invocation, context):
    time.sleep(float(invocation.json()))
    return "slept"
'''


def _engine() -> Any:
    try:
        client = docker.from_env(timeout=20)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        require(False, f"Docker engine not reachable: {exc}")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        require(False, f"{IMAGE} is not built (praas images build)")
    return client


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    require(docker is not None, "the Docker SDK for Python is not installed")
    client = _engine()
    yield client
    client.close()


@pytest.fixture
def network_name() -> str:
    return f"praas-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    """A one-file application in a 0700 temporary directory (the backend has to stage a readable copy)."""
    path = tmp_path / "tinyapp.py"
    path.write_text(APP_CODE)
    return path


def assert_clean(engine: Any, owner: str, network: str) -> None:
    """No container of backend instance ``owner`` and no network ``network`` remain."""
    left = engine.containers.list(all=True, filters={"label": f"praas-kit.owner={owner}"})
    assert left == [], [c.name for c in left]
    assert [n for n in engine.networks.list(names=[network]) if n.name == network] == []


# ---------------------------------------------------------------------------------------- the backend alone
# (what every backend must do is in test_backend_contract.py; these are the docker backend's own promises)
def _spec(app: str, proc: str, code: Path | None = None, control: str | None = None, secret: str = "",
          vcpus: float = 0.5, memory_mb: int = 128) -> ProcessSpec:
    cfg = ProcessConfig(app=app, proc=proc, control=control)
    return ProcessSpec(app, proc, uuid.uuid4().hex[:12], vcpus, memory_mb, cfg, code=str(code) if code else None,
                       secrets={"secret": secret})


def test_container_identity_network_and_labels(engine: Any, network_name: str, app_file: Path) -> None:
    from praas_kit.backends.docker import DockerBackend
    from praas_kit.control.transport import RouterThread
    from praas_kit.sdk.dataplane import DataPlaneClient

    backend = DockerBackend(network=network_name)
    hello: Future[tuple[bytes, dict[str, Any]]] = Future()

    def on_frame(ident: bytes, hdr: dict[str, Any], payload: Any) -> None:
        if hdr["t"] == "hello" and not hello.done():
            hello.set_result((ident, hdr))

    ctl = RouterThread(backend.control_bind, on_frame)
    dp = DataPlaneClient()
    try:
        gateway = engine.networks.get(network_name).attrs["IPAM"]["Config"][0]["Gateway"]
        assert backend.control_host == gateway == backend.control_bind  # bound on the bridge only
        spec = _spec("tiny", "p1", app_file, f"tcp://{backend.control_host}:{ctl.port}", "s3cret")
        handle = backend.start(spec, lambda code: None)
        ident, hdr = hello.result(timeout=30)
        info = backend.inspect(handle)
        ip = info["networks"][network_name]
        assert hdr["addr"] == f"tcp://{ip}:8000"  # the runtime advertises its container IP
        assert info["name"] == f"praas-tiny-p1-{spec.incarnation}"
        who = dp.invoke(hdr["addr"], "whoami", b"", timeout=10).json()
        assert who["uid"] == 10001 and who["gid"] == 10001 and who["state_dir"] == "/state"
        labels = engine.containers.get(handle["container"]).labels
        assert labels["praas-kit"] == "1" and labels["praas-kit.app"] == "tiny"
        assert labels["praas-kit.process"] == "p1" and labels["praas-kit.incarnation"] == spec.incarnation
        assert labels["praas-kit.owner"] == backend.owner
        assert not any(e.startswith("PRAAS_PARENT_PID=") for e in info["env"])
        ctl.send(ident, [wire.header("stop", rid="r1"), b""])
        backend.stop(handle, grace=10)
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(handle["container"])
    finally:
        dp.close()
        ctl.close()
        backend.close()
    assert_clean(engine, backend.owner, network_name)


def test_exit_reported_once_across_an_event_stream_break(engine: Any, network_name: str, app_file: Path) -> None:
    """The engine's event stream breaks (daemon hiccup); exits while it is down are still reported, once."""
    from praas_kit.backends.docker import DockerBackend

    backend = DockerBackend(network=network_name)
    calls: list[int] = []
    try:
        handle = backend.start(_spec("tiny", "q", app_file, vcpus=0.25, memory_mb=64), calls.append)
        time.sleep(0.5)
        backend.exits._events.close()  # the watcher re-subscribes (replaying recent events) and reconciles
        backend.kill(handle)
        deadline = time.monotonic() + 15
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert calls == [137]
        backend.stop(handle, grace=0)
    finally:
        backend.close()
    assert calls == [137]
    assert_clean(engine, backend.owner, network_name)


def test_missing_image_and_unreachable_engine(engine: Any, network_name: str) -> None:
    from praas_kit.backends.docker import DockerBackend

    t0 = time.monotonic()
    with pytest.raises(BackendError, match="does not answer"):
        DockerBackend(network=network_name, base_url="unix:///nonexistent/docker.sock", timeout=3)
    assert time.monotonic() - t0 < 10

    backend = DockerBackend(network=network_name, image="praas-no-such-image:latest")
    try:
        with pytest.raises(BackendError) as err:
            backend.start(_spec("tiny", "p"), lambda code: None)
        assert "praas-no-such-image:latest" in err.value.message and "praas images build" in err.value.message
    finally:
        backend.close()
    assert_clean(engine, backend.owner, network_name)


def test_stores_say_what_they_need_in_a_container(engine: Any, network_name: str, tmp_path: Path) -> None:
    """A store's container view: an S3 endpoint on the host's loopback becomes the bridge gateway, another
    host name stays; a directory store is bind-mounted at the same path, writable for the container user."""
    from praas_kit.backends.docker import DockerBackend
    from praas_kit.storage.faulty import FaultyStore
    from praas_kit.storage.s3 import S3Store

    backend = DockerBackend(network=network_name)
    try:
        volumes: dict[str, dict[str, str]] = {}
        host = backend.store_host(volumes)
        s3 = S3Store("http://127.0.0.1:9000", "b", "key", "secret").process_view(host, "a", "p")
        assert s3["endpoint"] == f"http://{backend.gateway}:9000" and volumes == {}
        assert S3Store("http://s3:9000", "b").process_view(host, "a", "p")["endpoint"] == "http://s3:9000"
        root = tmp_path / "swaps"
        faulty = FaultyStore(DirectoryStore(root), 1, None).process_view(host, "a", "p")
        assert faulty["inner"]["root"] == str(root.resolve())
        own = str(root.resolve() / "a" / "p")  # the process's own directory only, not the other processes'
        assert volumes == {own: {"bind": own, "mode": "rw"}}
        assert (root / "a" / "p").stat().st_uid == 10001 or os.geteuid() != 0
        assert not root.stat().st_mode & 0o002  # the swap root is not made world-writable
    finally:
        backend.close()
    assert_clean(engine, backend.owner, network_name)


# ---------------------------------------------------------------------------------------- through the control plane
def _plane(home: Path, network_name: str, **options: Any) -> Any:
    from praas_kit.control.config import ControlPlaneConfig
    from praas_kit.deploy.local import start_embedded

    options.setdefault("backend_options", {"network": network_name})
    return start_embedded(ControlPlaneConfig(home=home, port=0, backend="docker").with_options(**options), home)


@pytest.fixture
def docker_plane(engine: Any, network_name: str) -> Iterator[Any]:
    """An embedded control plane with the docker backend; yields ``(client, plane)`` (one object, twice)."""
    cp = _plane(Path(tempfile.mkdtemp(prefix="praas-dockertest-")), network_name, create_timeout=60,
                invoke_timeout=60)
    owner = cp.controller.backend.owner
    try:
        yield cp, cp
    finally:
        cp.close()
        assert_clean(engine, owner, network_name)


def _container(engine: Any, p: Any, app: str, proc: str) -> Any:
    rec = p.controller.registry.get_process(app, proc)
    return engine.containers.get(rec.handle["container"])


def test_limits_user_and_mounts(docker_plane: Any, engine: Any, app_file: Path) -> None:
    cp, p = docker_plane
    app = cp.create_application("limits", code=str(app_file))
    proc = app.create_process("p1", vcpus=0.5, memory_mb=256)
    assert proc.invoke("echo", b"hi").payload == b"hi"
    attrs = _container(engine, p, "limits", "p1").attrs
    host = attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 256 * MiB
    assert host["MemorySwap"] == 256 * MiB
    assert host["PidsLimit"] and host["PidsLimit"] > 0
    assert host["CapDrop"] == ["ALL"] or "ALL" in host["CapDrop"]
    assert not host.get("Privileged")
    user = attrs["Config"]["User"]
    assert user and user.split(":")[0] not in ("", "0", "root")
    assert proc.invoke("whoami", b"").json()["uid"] != 0
    for m in attrs["Mounts"]:
        assert "docker.sock" not in (m.get("Source") or "") and "docker.sock" not in m["Destination"]
    code = [m for m in attrs["Mounts"] if m["Destination"] == "/code"]
    assert len(code) == 1 and code[0]["RW"] is False
    assert list(attrs["NetworkSettings"]["Networks"]) == [p.controller.backend.network_name]
    info = p.controller.backend.inspect(p.controller.registry.get_process("limits", "p1").handle)
    assert info["nano_cpus"] == 500_000_000 and info["memory"] == 256 * MiB and info["user"] == user
    proc.stop()
    app.delete_process("p1")
    app.delete()


def test_package_code_and_swap_round_trip(docker_plane: Any, engine: Any, tmp_path: Path) -> None:
    cp, p = docker_plane
    pkg = tmp_path / "tinypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(APP_CODE)
    app = cp.create_application("pkg", code=str(pkg))
    proc = app.create_process("alice", vcpus=1.0, memory_mb=256)
    mounts = {m["Destination"]: m for m in _container(engine, p, "pkg", "alice").attrs["Mounts"]}
    assert "/code/tinypkg" in mounts and mounts["/code/tinypkg"]["RW"] is False
    data = os.urandom(10 * MiB)
    assert proc.invoke("put", data).json() == len(data)
    report = proc.swap()
    assert report.bytes >= len(data)
    assert p.controller.store.latest("pkg", "alice") == report.snapshot
    proc = app.swapin("alice")
    assert proc.invoke("get", b"").payload == data
    assert proc.invoke("read_file", b"").text == "kept across swaps"
    proc.stop()
    app.delete_process("alice")
    app.delete()


def test_code_copied_into_container(engine: Any, network_name: str, tmp_path: Path) -> None:
    """``code_transfer="copy"`` (the default when the control plane runs in a container): no bind mount,
    a read-only copy of the package in /code."""
    pkg = tmp_path / "copiedpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(APP_CODE + "\nfrom copiedpkg.sub import helper  # noqa\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "helper.py").write_text("X = 1\n")
    cp = p = _plane(Path(tempfile.mkdtemp(prefix="praas-dockertest-")), network_name,
                    backend_options={"network": network_name, "code_transfer": "copy"})
    owner = p.controller.backend.owner
    try:
        app = cp.create_application("copied", code=str(pkg))
        proc = app.create_process("p1", vcpus=0.5, memory_mb=128)
        assert proc.invoke("echo", b"copied").payload == b"copied"
        attrs = _container(engine, p, "copied", "p1").attrs
        assert not [m for m in attrs["Mounts"] if m["Destination"].startswith("/code")]
        env = attrs["Config"]["Env"]
        assert "PRAAS_CODE=/code/copiedpkg" in env
        proc.stop()
        app.delete_process("p1")
        app.delete()
    finally:
        cp.close()
    assert_clean(engine, owner, network_name)


def test_docker_kill_mid_invocation_fails_the_call_and_process(docker_plane: Any, engine: Any, app_file: Path) -> None:
    cp, p = docker_plane
    app = cp.create_application("killed", code=str(app_file))
    proc = app.create_process("victim", vcpus=0.5, memory_mb=128)
    proc.invoke("put", b"before the crash")
    proc.swap()
    proc = app.swapin("victim")  # a snapshot to come back from
    container = _container(engine, p, "killed", "victim")
    outcome: dict[str, Any] = {}

    def call(kind: str) -> None:
        t0 = time.monotonic()
        try:
            if kind == "direct":
                proc.invoke("sleep", 30)
            else:
                app.invoke("sleep", 30, process="victim")
            outcome[kind] = "returned"
        except PraasError as exc:
            outcome[kind] = exc
        outcome[kind + "_seconds"] = time.monotonic() - t0

    threads = [threading.Thread(target=call, args=(k,)) for k in ("direct", "via_cp")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while (proc.refresh().info.metrics.inflight if proc.info.metrics else 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    container.kill()  # the same as `docker kill`: SIGKILL from outside the control plane
    for t in threads:
        t.join(30)
    for kind in ("direct", "via_cp"):
        assert isinstance(outcome.get(kind), PraasError), outcome
        assert outcome[kind + "_seconds"] < 25
    deadline = time.monotonic() + 10
    while proc.refresh().status != "FAILED" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.status == "FAILED"
    assert "137" in (proc.info.error or "")
    # the failed process comes back from its last snapshot
    proc = app.swapin("victim")
    assert proc.invoke("get", b"").payload == b"before the crash"
    proc.stop()
    app.delete_process("victim")
    app.delete()


@pytest.mark.s3
def test_swap_to_s3_from_containers(engine: Any, network_name: str, app_file: Path) -> None:
    """A Swift server on the host (all interfaces); the store spec says 127.0.0.1 and the backend rewrites
    it to the bridge gateway for the containers."""
    require(all(shutil.which(n) or Path("/usr/bin", n).exists() for n in ("swift-proxy-server", "memcached")),
            "OpenStack Swift is not installed (scripts/install-system.sh)")
    from praas_kit.tools.services import SwiftS3Server

    with SwiftS3Server(host="0.0.0.0") as s3:
        spec = {"kind": "s3", "endpoint": s3.endpoint, "bucket": "swaps", "access_key": s3.access_key,
                "secret_key": s3.secret_key, "region": s3.region, "prefix": f"{uuid.uuid4().hex[:6]}/"}
        cp = p = _plane(Path(tempfile.mkdtemp(prefix="praas-dockertest-")), network_name, swap_store=spec,
                        create_timeout=60)
        owner = p.controller.backend.owner
        try:
            app = cp.create_application("s3app", code=str(app_file))
            proc = app.create_process("alice", vcpus=1.0, memory_mb=512)
            container = _container(engine, p, "s3app", "alice")
            # the credentials are neither in the environment nor left in the file the runtime read them from
            assert not [e for e in container.attrs["Config"]["Env"] if s3.secret_key in e.split("=", 1)[1]]
            assert container.exec_run(["test", "-e", "/run/praas/secrets.json"]).exit_code != 0
            data = os.urandom(10 * MiB)
            proc.invoke("put", data)
            t0 = time.perf_counter()
            report = proc.swap()
            swap_out = time.perf_counter() - t0
            t0 = time.perf_counter()
            proc = app.swapin("alice")
            swap_in = time.perf_counter() - t0
            assert proc.invoke("get", b"").payload == data
            print(f"\n10 MiB via S3 from a container: swap-out {swap_out:.3f} s (in the process "
                  f"{report.seconds:.3f} s), swap-in {swap_in:.3f} s")
            assert p.controller.store.latest("s3app", "alice") == report.snapshot
            proc.stop()
            app.delete_process("alice")
            assert p.controller.store.snapshots("s3app", "alice") == []
            app.delete()
        finally:
            cp.close()
    assert_clean(engine, owner, network_name)
