"""The backend contract: what every compute backend must do, run against each registered backend.

A new backend (say ``swarm``) is added to ``BACKENDS`` in ``helpers.py`` (with what it needs in
``BACKEND_NEEDS`` and its test options in ``CONTRACT_OPTIONS`` below) and starts from this suite
failing. The control plane's side of the protocol is played by a bare process endpoint, so these
tests see only the backend and the runtime it starts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKEND_NEEDS, SWARM_TEST_OPTIONS, backend_params

from praas_kit import wire
from praas_kit.backends import Backend, ProcessSpec, names, open_backend
from praas_kit.control.transport import RouterThread
from praas_kit.errors import BackendError
from praas_kit.process.config import ProcessConfig
from praas_kit.sdk.dataplane import DataPlaneClient
from praas_kit.storage.directory import DirectoryStore

APP = '''
import os
from praas_kit import function


@function
def echo(invocation, context):
    return invocation.payload


@function
def environment(invocation, context):
    secrets_file = os.environ.get("PRAAS_SECRETS_FILE")
    return {"env": dict(os.environ), "secrets_file_left": bool(secrets_file and os.path.exists(secrets_file))}


@function
def write(invocation, context):
    context.state("k", invocation.payload)
    return None
'''

#: test options per backend (a docker backend gets a network of its own, removed by close())
CONTRACT_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "local": lambda tmp: {},
    "docker": lambda tmp: {"network": f"praas-contract-{uuid.uuid4().hex[:8]}"},
    "swarm": lambda tmp: {"network": f"praas-contract-{uuid.uuid4().hex[:8]}", **SWARM_TEST_OPTIONS},
}


class Endpoint:
    """The control plane's side: collects hellos and replies by request id."""

    def __init__(self, backend: Backend) -> None:
        self.hellos: dict[str, Future[tuple[bytes, dict[str, Any]]]] = {}
        self.replies: dict[str, Future[dict[str, Any]]] = {}
        self.router = RouterThread(backend.control_bind, self._on_frame)
        self.address = f"tcp://{backend.control_host}:{self.router.port}"

    def expect(self, proc: str) -> Future[tuple[bytes, dict[str, Any]]]:
        return self.hellos.setdefault(proc, Future())

    def _on_frame(self, ident: bytes, hdr: dict[str, Any], payload: Any) -> None:
        if hdr["t"] == "hello":
            fut = self.expect(hdr["proc"])
            if not fut.done():
                fut.set_result((ident, hdr))
        elif hdr["t"] == "swapped":
            fut2 = self.replies.setdefault(hdr["rid"], Future())
            if not fut2.done():
                fut2.set_result(hdr)

    def ask(self, ident: bytes, kind: str, **fields: Any) -> dict[str, Any]:
        rid = uuid.uuid4().hex
        fut = self.replies.setdefault(rid, Future())
        self.router.send(ident, [wire.header(kind, rid=rid, **fields), b""])
        return fut.result(timeout=30)


class Exits:
    """Records each runtime's exit codes (a backend must report an exit exactly once)."""

    def __init__(self) -> None:
        self.codes: dict[str, list[int]] = {}
        self._cond = threading.Condition()

    def callback(self, proc: str) -> Callable[[int], None]:
        self.codes.setdefault(proc, [])

        def on_exit(code: int) -> None:
            with self._cond:
                self.codes[proc].append(code)
                self._cond.notify_all()

        return on_exit

    def wait(self, proc: str, timeout: float = 20) -> list[int]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self.codes[proc]), timeout)
        time.sleep(0.3)  # a second report would arrive now
        return self.codes[proc]


@pytest.fixture(params=backend_params())
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, Endpoint, Exits, Path]]:
    """A backend, a bare endpoint for its processes, an exit recorder and the application file."""
    name = request.param
    BACKEND_NEEDS[name]()
    code = tmp_path / "contractapp.py"
    code.write_text(APP)
    backend = open_backend(name, tmp_path / "home", CONTRACT_OPTIONS[name](tmp_path))
    endpoint = Endpoint(backend)
    try:
        yield backend, endpoint, Exits(), code
    finally:
        endpoint.router.close()
        backend.close()


def _spec(endpoint: Endpoint, code: Path, proc: str, store: Any = None) -> ProcessSpec:
    cfg = ProcessConfig(app="contract", proc=proc, control=endpoint.address, metrics_interval=0.2)
    return ProcessSpec("contract", proc, uuid.uuid4().hex[:12], 0.5, 256, cfg, code=str(code), store=store,
                       secrets={"secret": f"secret-{proc}", "snapshot_key": "5e" * 32})


def test_registry_knows_the_backends_and_names_them_in_errors(tmp_path: Path) -> None:
    assert {"local", "docker", "swarm"} <= set(names())
    with pytest.raises(BackendError, match="known: .*docker.*local"):
        open_backend("no-such-backend", tmp_path, {})
    with pytest.raises(BackendError, match="bad option"):
        open_backend("local", tmp_path, {"no_such_option": 1})


def test_start_connect_invoke_stop(kit: tuple[Backend, Endpoint, Exits, Path]) -> None:
    backend, endpoint, exits, code = kit
    spec = _spec(endpoint, code, "p")
    handle = backend.start(spec, exits.callback("p"))
    ident, hello = endpoint.expect("p").result(timeout=60)
    assert (hello["app"], hello["proc"], hello["secret"]) == ("contract", "p", "secret-p")
    assert backend.alive(handle)
    address = backend.public_address(handle, hello["addr"])  # where clients reach it
    dp = DataPlaneClient()
    try:
        assert dp.invoke(address, "echo", b"over the data plane", timeout=10).payload == b"over the data plane"
    finally:
        dp.close()
    assert "serving at" in backend.logs(handle)
    endpoint.router.send(ident, [wire.header("stop", rid="r"), b""])  # a clean exit
    assert exits.wait("p") == [0]
    backend.stop(handle, grace=10)
    assert not backend.alive(handle)
    backend.stop(handle)  # idempotent
    backend.kill(handle)  # harmless when gone
    assert exits.codes["p"] == [0]


def test_kill_is_reported_once_and_close_stops_the_rest(kit: tuple[Backend, Endpoint, Exits, Path]) -> None:
    backend, endpoint, exits, code = kit
    handles = {}
    for proc in ("a", "b"):
        handles[proc] = backend.start(_spec(endpoint, code, proc), exits.callback(proc))
    for proc in ("a", "b"):
        endpoint.expect(proc).result(timeout=60)
    backend.kill(handles["a"])
    codes = exits.wait("a")
    assert len(codes) == 1 and codes[0] != 0
    assert not backend.alive(handles["a"])
    backend.stop(handles["a"], grace=0)
    assert exits.codes["b"] == [] and backend.alive(handles["b"])
    backend.close()  # stops "b" too
    assert len(exits.wait("b")) == 1
    assert not backend.alive(handles["b"])


def test_swap_store_reaches_the_runtime_privately(kit: tuple[Backend, Endpoint, Exits, Path], tmp_path: Path) -> None:
    """The runtime gets its secrets (the store's spec among them) in a file it removes after reading, not in its
    environment, and can swap to the store."""
    backend, endpoint, exits, code = kit
    store = DirectoryStore(tmp_path / "swaps", fsync=False)
    handle = backend.start(_spec(endpoint, code, "s", store=store), exits.callback("s"))
    ident, hello = endpoint.expect("s").result(timeout=60)
    address = backend.public_address(handle, hello["addr"])
    dp = DataPlaneClient()
    try:
        seen = dp.invoke(address, "environment", b"", timeout=10).json()
        dp.invoke(address, "write", b"v", timeout=10)
    finally:
        dp.close()
    assert not seen["secrets_file_left"]
    assert not [k for k, v in seen["env"].items() if "swaps" in v or "secret-s" in v or "5e5e" in v], seen["env"]
    snapshot = "0" * 20 + "-abcdef"
    reply = endpoint.ask(ident, "swap", snapshot=snapshot)
    assert reply["ok"], reply
    assert store.latest("contract", "s") == snapshot
    assert exits.wait("s") == [0]
    backend.stop(handle)
