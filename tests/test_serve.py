"""``praas serve`` as an operator runs it: real server processes, real signals.

One server per home: a second ``praas serve`` on the same home (same port or another) stops with one line
naming the running server's URL and pid, and changes nothing: the first server's processes keep running
with their state (before the fix the second server marked them FAILED, killed them, overwrote
``endpoint.json`` and only then failed to bind; a counter at 9 came back at 1). A server on a taken port
stops before it touches its home's registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import praas_kit

ROOT = Path(__file__).resolve().parent.parent
COUNTER = ROOT / "examples" / "counter.py"


class Server:
    """A ``praas serve`` child process on ``home`` and ``port``."""

    def __init__(self, home: Path, port: int, *args: str) -> None:
        self.home, self.port = home, port
        env = dict(os.environ, PRAAS_HOME=str(home))
        self.popen = subprocess.Popen([sys.executable, "-m", "praas_kit.cli", "serve", "--port", str(port), *args],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 30) -> praas_kit.Client:
        deadline = time.monotonic() + timeout
        while True:
            assert self.popen.poll() is None, self.popen.communicate()
            try:
                cp = praas_kit.connect(self.url, token=(self.home / "token").read_text().strip())
                cp.healthz()
                return cp
            except (OSError, praas_kit.PraasError):
                assert time.monotonic() < deadline, "praas serve did not come up"
                time.sleep(0.2)

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.popen.communicate(timeout=timeout)
        return self.popen.returncode, out, err

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop(signal.SIGKILL)


def _free_port() -> int:
    from praas_kit._net import free_port

    return free_port()


def test_a_second_server_on_the_same_home_changes_nothing(tmp_path: Path, servers: list[Server]) -> None:
    first = Server(tmp_path, _free_port())
    servers.append(first)
    with first.client() as cp:
        alice = cp.create_application("demo", code=COUNTER).create_process("alice")
        assert alice.invoke("add", {"n": 9}).json() == {"total": 9}
        recorded = json.loads((tmp_path / "endpoint.json").read_text())
        for port in (first.port, _free_port()):  # the same port, and another one
            second = Server(tmp_path, port)
            servers.append(second)
            code, _, err = second.finish()
            assert code != 0
            assert "another control plane serves" in err and first.url in err and str(first.popen.pid) in err, err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert json.loads((tmp_path / "endpoint.json").read_text()) == recorded  # not overwritten
        assert cp.application("demo").process("alice").status == "ALLOCATED"
        assert alice.invoke("add", {"n": 1}).json() == {"total": 10}  # its state is still there


def test_a_taken_port_stops_a_server_before_it_touches_its_home(tmp_path: Path, servers: list[Server]) -> None:
    first = Server(tmp_path / "one", _free_port())
    servers.append(first)
    first.client().close()
    other = Server(tmp_path / "two", first.port)
    servers.append(other)
    code, _, err = other.finish()
    assert code != 0 and "cannot listen" in err and "Traceback" not in err, err
    assert not (tmp_path / "two" / "registry.sqlite").exists() and not (tmp_path / "two" / "endpoint.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_a_server_swaps_its_processes_out_and_a_restart_brings_them_back(
        tmp_path: Path, servers: list[Server], sig: int) -> None:
    # before the fix a stop discarded every running process's state (a restart found them CLOSED)
    first = Server(tmp_path, _free_port())
    servers.append(first)
    with first.client() as cp:
        app = cp.create_application("demo", code=COUNTER)
        assert app.create_process("alice").invoke("add", {"n": 9}).json() == {"total": 9}
        assert app.create_process("bob").invoke("add", {"n": 4}).json() == {"total": 4}
        with pytest.raises(praas_kit.ApplicationNotFound):
            cp.application("nope")
    first.popen.send_signal(sig)
    code, _, err = first.finish()
    assert code == 0, err
    assert "GET /apps/nope" in err and "ApplicationNotFound" in err  # the console logs requests and errors
    assert "swapped out 2 process(es)" in err and "demo/alice: saved" in err and "demo/bob: saved" in err, err
    again = Server(tmp_path, _free_port())
    servers.append(again)
    with again.client() as cp:
        app = cp.application("demo")
        assert {p.name: p.status for p in app.processes()} == {"alice": "SWAPPED_OUT", "bob": "SWAPPED_OUT"}
        assert app.invoke("add", {"n": 1}, process="alice").json() == {"total": 10}  # the next call swaps it in
        assert app.invoke("add", {"n": 1}, process="bob").json() == {"total": 5}


def test_fast_stop_discards_and_a_sigkill_keeps_the_last_snapshot(tmp_path: Path, servers: list[Server]) -> None:
    fast = Server(tmp_path / "fast", _free_port(), "--fast-stop")
    servers.append(fast)
    with fast.client() as cp:
        cp.create_application("demo", code=COUNTER).create_process("alice").invoke("add", {"n": 9})
    fast.popen.send_signal(signal.SIGTERM)
    assert fast.finish()[0] == 0
    again = Server(tmp_path / "fast", _free_port())
    servers.append(again)
    with again.client() as cp:
        assert cp.application("demo").process("alice").status == "CLOSED"  # what --fast-stop promises
    again.stop()

    killed = Server(tmp_path / "kill", _free_port())
    servers.append(killed)
    with killed.client() as cp:
        app = cp.create_application("demo", code=COUNTER)
        alice = app.create_process("alice")
        alice.invoke("add", {"n": 5})
        alice.swap()
        app.swapin("alice").invoke("add", {"n": 4})  # 9, after the last snapshot (5)
    killed.stop(signal.SIGKILL)
    back = Server(tmp_path / "kill", _free_port())
    servers.append(back)
    with back.client() as cp:
        app = cp.application("demo")
        assert app.process("alice").status == "FAILED"
        assert app.swapin("alice").invoke("add", {"n": 0}).json() == {"total": 5}  # its last snapshot, kept
