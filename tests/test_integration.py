"""Behaviour of the runtime through the SDK; runs on every backend (``local``, ``docker``)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers import unique, wait_for

import praas_kit
from praas_kit import (
    FunctionNotFound,
    InvalidName,
    InvalidState,
    InvocationError,
    PayloadTooLarge,
    ProcessExists,
    ProcessNotFound,
    RecvTimeout,
)


def test_create_invoke_and_describe(app):
    p = app.create_process("alice", vcpus=0.5, memory_mb=256)
    assert p.status == "ALLOCATED" and p.address.startswith("tcp://")
    assert p.invoke("echo", b"hello").payload == b"hello"
    assert p.invoke("echo", "text").text == "text"
    assert p.invoke("keys").json() == []
    info = p.refresh().info
    assert info.vcpus == 0.5 and info.memory_mb == 256


def test_ring_of_three_passes_a_token(app):
    names = ["p0", "p1", "p2"]
    procs = [app.create_process(n) for n in names]
    rounds = 5
    results: dict[str, int] = {}

    errors: list[BaseException] = []

    def run(p):
        try:
            results[p.name] = p.invoke("ring", {"ring": names, "rounds": rounds}, timeout=60).json()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
    n = len(names) * rounds
    assert sum(results.values()) == n * (n + 1) // 2
    assert sum(int(p.invoke("get-state", "acc").payload) for p in procs) == n * (n + 1) // 2


def test_recv_any_fifo_and_duplicate_keys(app):
    a, b, c = (app.create_process(n) for n in ("a", "b", "c"))
    a.invoke("send", {"to": "c", "key": "k", "values": [1, 2, 3]})
    b.invoke("send", {"to": "c", "key": "k", "values": [10, 20]})
    time.sleep(0.3)
    # per-source FIFO, and nothing dropped although keys repeat
    assert c.invoke("recv", {"src": "b", "key": "k", "n": 2}).json() == ["10", "20"]
    assert c.invoke("recv", {"src": "ANY", "key": "k", "n": 3}).json() == ["1", "2", "3"]
    with pytest.raises(RecvTimeout):
        c.invoke("recv", {"src": "ANY", "key": "k", "n": 1, "timeout": 0.2})


def test_recv_any_returns_the_first_arrival(app):
    a, b, c = (app.create_process(n) for n in ("a", "b", "c"))
    b.invoke("send", {"to": "c", "key": "x", "values": ["from-b"]})
    time.sleep(0.3)
    a.invoke("send", {"to": "c", "key": "x", "values": ["from-a"]})
    time.sleep(0.3)
    assert c.invoke("recv", {"src": "ANY", "key": "x", "n": 2}).json() == ["from-b", "from-a"]


def test_state_and_messages_are_separate_namespaces(app):
    a = app.create_process("a")
    a.invoke("put-state", {"key": "k", "value": "state"})
    with pytest.raises(RecvTimeout):
        a.invoke("recv", {"src": "ANY", "key": "k", "n": 1, "timeout": 0.2})
    assert a.invoke("get-state", "k").payload == b"state"


def test_invoke_peer_and_world(app):
    a, b = app.create_process("a"), app.create_process("b")
    assert a.invoke("call_peer", {"to": "b", "fn": "echo", "data": "via-peer"}).payload == b"via-peer"
    world = {w["name"]: w["status"] for w in b.invoke("world").json()}
    assert world == {"a": "ALLOCATED", "b": "ALLOCATED"}


def test_swap_preserves_state_files_and_messages(app):
    a, b = app.create_process("a"), app.create_process("b")
    b.invoke("put-state", {"key": "k1", "value": "v1"})
    b.invoke("put-state", {"key": "../../escape", "value": "v2"})
    b.invoke("write_file", {"path": "sub/dir/notes.txt", "text": "kept"})
    a.invoke("send", {"to": "b", "key": "m", "values": ["before-swap"]})
    time.sleep(0.3)
    report = b.swap()
    assert report.bytes > 0 and report.seconds >= 0
    assert app.process("b").status == "SWAPPED_OUT"
    # a message to a swapped-out process is kept and delivered after swap-in
    a.invoke("send", {"to": "b", "key": "m", "values": ["while-swapped"]})
    b = app.swapin("b")
    assert b.status == "ALLOCATED"
    assert b.invoke("get-state", "k1").payload == b"v1"
    assert b.invoke("get-state", "../../escape").payload == b"v2"
    assert sorted(b.invoke("keys").json()) == ["../../escape", "k1"]
    assert b.invoke("read_file", "sub/dir/notes.txt").text == "kept"
    assert b.invoke("recv", {"src": "a", "key": "m", "n": 2}).json() == ["before-swap", "while-swapped"]


def test_control_plane_invocation_swaps_in(app):
    p = app.create_process("sticky")
    p.invoke("put-state", {"key": "k", "value": "v"})
    p.swap()
    r = app.invoke("get-state", "k", process="sticky")
    assert r.payload == b"v" and r.process == "sticky"
    assert app.process("sticky").status == "ALLOCATED"


def test_faas_invocation_uses_pooled_processes(app):
    r1 = app.invoke("echo", b"x")
    assert r1.payload == b"x" and r1.process
    results = []

    def call():
        results.append(app.invoke("sleep", "0.5").process)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(set(results)) == 2  # two concurrent calls need two idle processes


def test_function_errors_are_typed(app):
    p = app.create_process("err")
    with pytest.raises(InvocationError) as info:
        p.invoke("boom")
    assert "boom from inside" in str(info.value) and "Traceback" in (info.value.traceback or "")
    with pytest.raises(InvocationError, match="unserialisable"):
        p.invoke("unserialisable")
    with pytest.raises(FunctionNotFound):
        p.invoke("no-such-function")
    with pytest.raises(InvocationError) as info:
        app.invoke("boom", process="err")
    assert "boom from inside" in str(info.value)
    # the built-in exception a function raised can be caught as such, direct and through the control plane
    for call in (lambda: p.invoke("boom"), lambda: app.invoke("boom", process="err")):
        with pytest.raises(ValueError) as caught:
            call()
        assert isinstance(caught.value, InvocationError) and caught.value.remote_type == "ValueError"
        assert "boom from inside" in str(caught.value)
    assert p.invoke("echo", b"still fine").payload == b"still fine"


def test_bad_names_and_duplicates_change_nothing(app, plane):
    for bad in ["../x", "", "x" * 200, "ünïcode", "UPPER", ".hidden", "a/b"]:
        with pytest.raises(InvalidName):
            app.create_process(bad)
        with pytest.raises(InvalidName):
            plane.create_application(bad, code=None)
    app.create_process("dup")
    with pytest.raises(ProcessExists):
        app.create_process("dup")
    with pytest.raises(ProcessNotFound):
        app.process("ghost")
    assert [p.name for p in app.processes() if p.view == "active"] == ["dup"]


def test_illegal_transitions(app):
    p = app.create_process("t")
    p.swap()
    with pytest.raises(InvalidState, match="SWAPPED_OUT"):
        p.swap()
    p = app.swapin("t")
    with pytest.raises(InvalidState):
        app.swapin("t")
    with pytest.raises(InvalidState, match="still has processes"):
        app.delete()
    p.stop()
    with pytest.raises(InvalidState, match="CLOSED"):
        p.stop()
    assert app.process("t").status == "CLOSED"
    app.delete_process("t")


def test_payload_limit(plane, tmp_path):
    from helpers import APP_CODE, unique

    a = plane.create_application(unique("lim"), code=APP_CODE)
    p = a.create_process("p")
    limit = plane.controller.cfg.max_payload
    with pytest.raises(PayloadTooLarge):
        a.invoke("echo", b"x" * (limit + 1), process="p")
    assert p.invoke("echo", b"ok").payload == b"ok"
    a.delete_process("p")
    a.delete()


def test_kill_mid_invocation_fails_fast_and_swapin_restores(app):
    p = app.create_process("victim")
    p.invoke("put-state", {"key": "k", "value": "snap"})
    p.swap()
    p = app.swapin("victim")
    p.invoke("put-state", {"key": "k", "value": "lost"})  # after the snapshot: lost with the crash
    errors: list[Exception] = []

    def call():
        try:
            p.invoke("sleep", "30", timeout=20)
        except praas_kit.PraasError as exc:
            errors.append(exc)

    t0 = time.monotonic()
    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    p.kill()
    t.join(15)
    assert errors and time.monotonic() - t0 < 10
    deadline = time.monotonic() + 10
    while app.process("victim").status != "FAILED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.process("victim").status == "FAILED"
    p = app.swapin("victim")
    assert p.invoke("get-state", "k").payload == b"snap"


def test_kill_mid_control_plane_invocation(app):
    app.create_process("victim2")
    errors: list[Exception] = []

    def call():
        try:
            app.invoke("sleep", "30", process="victim2", timeout=20)
        except praas_kit.PraasError as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    app.process("victim2").kill()
    t.join(15)
    assert errors and isinstance(errors[0], praas_kit.InvocationError)


def test_memory_limit_is_enforced(app):
    p = app.create_process("small", memory_mb=64)
    assert p.invoke("allocate", "8").json() == 8 << 20
    with pytest.raises(praas_kit.PraasError):
        p.invoke("allocate", "4096", timeout=30)


def test_rest_errors_are_typed_json(plane):
    import httpx

    r = httpx.get(plane.url + "/apps")
    assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
    r = httpx.get(plane.url + "/apps", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    h = {"Authorization": f"Bearer {plane.token}"}
    r = httpx.put(plane.url + "/apps/okname", headers=h, content=b"{not json", )
    assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequest"
    r = httpx.get(plane.url + "/apps/nope", headers=h)
    assert r.status_code == 404 and r.json()["error"]["type"] == "ApplicationNotFound"
    r = httpx.put(plane.url + "/apps/okname", headers=h, json={"vcpus": "lots"})
    assert r.status_code == 400
    assert "okname" not in json.dumps(httpx.get(plane.url + "/apps", headers=h).json())
    assert httpx.get(plane.url + "/healthz").json()["ok"] is True


def test_a_stale_handle_finds_its_process_after_a_swap_elsewhere(app):
    """A Process object that did not see the swap (another handle did it) still reaches the new incarnation,
    whether it came back at a new address or at the same one with a new key."""
    p = app.create_process("stale")
    assert p.invoke("echo", b"x").payload == b"x"
    other = app.process("stale")
    other.swap()
    other.swapin()
    assert p.invoke("echo", b"y").payload == b"y"


def test_a_process_log_holds_what_its_functions_print(app):
    p = app.create_process("talker")
    marker = f"printed-{unique('m')}"
    p.invoke("say", marker)
    assert wait_for(lambda: marker in p.logs(), timeout=15), p.logs()
    assert len(p.logs(tail=1).splitlines()) <= 1
