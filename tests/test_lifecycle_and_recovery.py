"""Configurations the shared control plane does not have: one worker, the downscaler, failing
swap stores, and a control-plane restart. Run on the local backend (the docker backend shares
the controller code paths; its own failure tests are in test_docker_backend.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from helpers import APP_CODE, unique, wait_for

import praas_kit
from praas_kit import InvalidState, StorageError
from praas_kit.storage.directory import DirectoryStore
from praas_kit.storage.faulty import FaultyStore


def test_nested_self_invoke_with_one_worker(tmp_path):
    with praas_kit.local(home=tmp_path, function_workers=1) as cp:
        p = cp.create_application("nest", code=APP_CODE).create_process("p")
        assert p.invoke("nested", b"x", timeout=10).payload == b"inner:x"


def test_downscaler_swaps_idle_processes_only(tmp_path):
    with praas_kit.local(home=tmp_path, idle_seconds=1.0, downscaler_interval=0.2, metrics_interval=0.2) as cp:
        app = cp.create_application("idle", code=APP_CODE)
        idle, busy = app.create_process("idle"), app.create_process("busy")
        idle.invoke("put-state", {"key": "k", "value": "v"})
        done = threading.Event()
        t = threading.Thread(target=lambda: (busy.invoke("sleep", "8", timeout=30), done.set()))
        t.start()
        assert wait_for(lambda: app.process("idle").status == "SWAPPED_OUT", timeout=6)
        # never a process with work in flight: "busy" runs an 8 s invocation, longer than idle_seconds
        assert app.process("busy").status == "ALLOCATED"
        t.join(30)
        assert done.is_set()
        # idle is measured in seconds (the original compared nanoseconds with seconds)
        assert app.invoke("get-state", "k", process="idle").payload == b"v"
        assert wait_for(lambda: app.process("busy").status == "SWAPPED_OUT", timeout=10)


def test_failed_store_mid_swap_keeps_previous_snapshot(tmp_path):
    inner = {"kind": "dir", "root": str(tmp_path / "swaps")}
    with praas_kit.local(home=tmp_path / "cp", swap_store={"kind": "faulty", "inner": inner, "fail_after": 2}) as cp:
        app = cp.create_application("fail", code=APP_CODE)
        p = app.create_process("p")
        # first swap also fails after 2 objects: make a good snapshot with the plain store instead
        store = DirectoryStore(tmp_path / "swaps")
        assert store.snapshots("fail", "p") == []
        p.invoke("write_file", {"path": "f.txt", "text": "x"})
        with pytest.raises(StorageError, match="injected"):
            p.swap()
        assert app.process("p").status == "ALLOCATED"  # the aborted swap changed nothing
        assert p.invoke("read_file", "f.txt").text == "x"
        assert store.snapshots("fail", "p") == []  # the partial snapshot was removed, none is visible


def test_crash_mid_swap_leaves_previous_snapshot_usable(tmp_path):
    swaps = tmp_path / "swaps"
    with praas_kit.local(home=tmp_path / "cp", swap_store={"kind": "dir", "root": str(swaps)}) as cp:
        app = cp.create_application("crash", code=APP_CODE)
        p = app.create_process("p")
        p.invoke("put-state", {"key": "k", "value": "good"})
        p.swap()
        first = DirectoryStore(swaps).latest("crash", "p")
        # the incarnation swapped in now crashes after writing one object of its next snapshot
        ctl = cp.controller
        ctl.store = FaultyStore(DirectoryStore(swaps), None, 1)
        p = app.swapin("p")
        p.invoke("put-state", {"key": "k", "value": "newer"})
        with pytest.raises(praas_kit.PraasError):
            p.swap()
        assert wait_for(lambda: app.process("p").status == "FAILED")
        assert DirectoryStore(swaps).latest("crash", "p") == first
        ctl.store = DirectoryStore(swaps)
        p = app.swapin("p")
        assert p.invoke("get-state", "k").payload == b"good"


def _serve(home: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PRAAS_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "praas_kit.cli", "serve", "--port", str(port), "--log-level",
                             "WARNING"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_control_plane_restart_keeps_registry(tmp_path):
    from praas_kit._net import free_port

    port = free_port()
    server = _serve(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: (tmp_path / "endpoint.json").exists(), timeout=30)
        time.sleep(0.3)
        cp = praas_kit.connect(url, home=tmp_path)
        app = cp.create_application("persist", code=APP_CODE)
        p = app.create_process("swapped")
        p.invoke("put-state", {"key": "k", "value": "survives"})
        p.swap()
        running = app.create_process("running")
        running_pid = running.refresh().info
        cp.close()
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        server = _serve(tmp_path, port)
        assert wait_for(lambda: _healthy(url), timeout=30)
        cp = praas_kit.connect(url, home=tmp_path)
        assert [a.name for a in cp.applications()] == ["persist"]
        app = cp.application("persist")
        listing = app.processes()
        assert [x.name for x in listing if x.view == "swapped"] == ["swapped"]
        assert [x for x in listing if x.view == "swapped"][0].snapshots
        # the process that ran when the control plane died is FAILED (its runtime exited with it)
        assert [x.name for x in listing if x.view == "inactive"] == ["running"] and running_pid
        p = app.swapin("swapped")
        assert p.invoke("get-state", "k").payload == b"survives"
        cp.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # nothing the test started is left behind
    assert wait_for(lambda: not _runtimes_under(tmp_path), timeout=10)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _runtimes_under(home: Path) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"praas_kit.process" in cmd and str(home).encode() in env:
                pids.append(int(d.name))
    return pids


def test_invalid_transition_message_names_state(tmp_path):
    with praas_kit.local(home=tmp_path) as cp:
        app = cp.create_application(unique("x"), code=APP_CODE)
        p = app.create_process("p")
        p.stop()
        with pytest.raises(InvalidState, match="CLOSED"):
            app.process("p").swap()


def test_stop_discards_swapped_state_and_app_delete_cleans_store(tmp_path):
    with praas_kit.local(home=tmp_path) as cp:
        app = cp.create_application("disc", code=APP_CODE)
        p = app.create_process("p")
        p.invoke("put-state", {"key": "k", "value": "v"})
        p.swap()
        store = DirectoryStore(tmp_path / "swaps")
        assert len(store.snapshots("disc", "p")) == 1
        p = app.swapin("p")
        p.stop()
        assert store.snapshots("disc", "p") == [] and app.process("p").info.snapshots == ()
        with pytest.raises(InvalidState):
            app.swapin("p")  # a stopped process has nothing to swap in
        app.delete()  # only a closed process is left: allowed, and nothing of it stays behind
        assert not (tmp_path / "swaps" / "disc").exists() or not any((tmp_path / "swaps" / "disc").rglob("*"))


def test_close_waits_for_exit_handlers(tmp_path):
    """Closing a control plane while a process is swapping out: the close kills it, and its exit is handled
    before the registry closes (before the fix, the exit handler could hit the closed registry in a thread of
    its own, which surfaced as an error in whichever test ran next)."""
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        for _ in range(2):
            with praas_kit.local(home=tmp_path / unique("cp"), drain_timeout=10) as cp:
                p = cp.create_application("busy", code=APP_CODE).create_process("p")
                busy = threading.Thread(target=_quietly, args=(partial(p.invoke, "sleep", "3", timeout=10),))
                busy.start()
                time.sleep(0.3)
                swapping = threading.Thread(target=_quietly, args=(p.swap,))  # drains: SWAPPING_OUT for ~3 s
                swapping.start()
                assert wait_for(lambda: cp.controller.get_process("busy", "p").status.value == "SWAPPING_OUT")
            busy.join(15)
            swapping.join(15)
            time.sleep(0.3)
    finally:
        threading.excepthook = previous
    assert errors == []


def _quietly(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - the control plane closes under these calls on purpose
        pass


def test_closing_the_client_during_a_direct_call_does_not_crash(tmp_path):
    """A thread is inside a direct invocation when another thread closes the client: the call ends with
    InvalidState within a fraction of a second, and the interpreter lives (a ZeroMQ socket closed under the
    thread using it aborts the whole process)."""
    with praas_kit.local(home=tmp_path) as cp:
        p = cp.create_application("dp", code=APP_CODE).create_process("p")
        outcome: list[BaseException] = []
        t = threading.Thread(target=lambda: outcome.append(_raises(partial(p.invoke, "sleep", "3", timeout=10))))
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        cp.data_plane.close()
        t.join(5)
        assert time.monotonic() - t0 < 1.0
        assert len(outcome) == 1 and isinstance(outcome[0], InvalidState)
        with pytest.raises(InvalidState, match="closed"):
            p.invoke("echo", b"x")


def _raises(fn):
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        return exc
    return None
