"""Bad input and failures: refused timeouts, stale process objects, crash logs, forked children, payloads over
the limit, leftovers of interrupted swaps, application code that cannot work."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

import praas_kit
from praas_kit.storage.directory import DirectoryStore
from praas_kit.storage.faulty import FaultyStore

SPAM = Path(__file__).parent.parent / "apps" / "spam.py"
# ``cp`` (conftest.py): a local control plane of this module's own


@pytest.mark.parametrize("timeout", ["-1", "nan", "inf", "0", "1e300"])
def test_a_refused_invocation_never_runs(cp, timeout):
    """Before the fix, ?timeout=-1 answered 504 at once but the function still ran and changed state."""
    app = cp.create_application(f"to-{abs(hash(timeout)) % 10**6}", code=SPAM)
    p = app.create_process("p")
    p.invoke("put", b"before")
    r = httpx.post(f"{cp.url}/apps/{app.name}/invoke/put", params={"process": "p", "timeout": timeout},
                   content=b"after", headers={"Authorization": f"Bearer {cp.token}"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequest"
    time.sleep(0.3)
    assert p.invoke("get").payload == b"before"
    with pytest.raises(praas_kit.InvalidArgument):
        p.invoke("put", b"after", timeout=-1)
    with pytest.raises(praas_kit.InvalidArgument):
        app.invoke("put", b"after", process="p", timeout=float("nan"))
    assert p.invoke("get").payload == b"before"


def test_a_stale_process_object_finds_its_process_again(cp):
    """Swapped out and in again (a new address) behind the back of a Process object: its next call reaches the
    process within about a second (before the fix it waited the full timeout, 300 s by default)."""
    app = cp.create_application("stale", code=SPAM)
    p = app.create_process("p")
    p.invoke("put", b"kept")
    old = p.address
    app.process("p").swap()
    app.swapin("p")
    assert app.process("p").address != old
    t0 = time.monotonic()
    assert p.invoke("get", timeout=30).payload == b"kept"
    assert time.monotonic() - t0 < 3
    app.process("p").swap()  # now swapped out for good: a clear error, quickly
    t0 = time.monotonic()
    with pytest.raises(praas_kit.InvalidState, match="SWAPPED_OUT"):
        p.invoke("get", timeout=30)
    assert time.monotonic() - t0 < 3


def test_a_crash_keeps_the_log_and_says_its_end(cp):
    app = cp.create_application("crashy", code=SPAM)
    p = app.create_process("p")
    with pytest.raises(praas_kit.ProcessDied):
        p.invoke("crash")
    deadline = time.monotonic() + 10
    while app.process("p").status != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    info = app.process("p").info
    assert "last words of the process" in (info.error or "") and "last words" in (info.log_tail or "")
    kept = cp.controller.cfg.home / "processes" / "crashy" / "p.log"
    assert "last words" in kept.read_text()


def test_children_a_function_forks_die_with_the_process(cp):
    p = cp.create_application("forks", code=SPAM).create_process("p")
    child = p.invoke("fork_sleeper").json()
    os.kill(child, 0)  # alive
    p.stop()
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the forked child outlived its process"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_payload_over_the_limit_is_named_as_such(cp):
    p = cp.create_application("big", code=SPAM).create_process("p")
    with pytest.raises(praas_kit.PayloadTooLarge):
        p.invoke("put", b"x" * (70 << 20))  # before the fix: ProcessDied, though the process lived
    assert p.invoke("put", b"small").json() == 5


def test_recv_with_a_huge_timeout_is_clamped(cp):
    p = cp.create_application("forever", code=SPAM).create_process("p")
    with pytest.raises(praas_kit.Timeout):  # it waits (before the fix: OverflowError at once)
        p.invoke("recv_long", "1e10", timeout=1)
    assert p.invoke("recv_long", "-5").text.startswith("InvalidArgument")


def test_snapshots_of_interrupted_swaps_are_collected(tmp_path):
    swaps = tmp_path / "swaps"
    with praas_kit.local(home=tmp_path / "cp", swap_store={"kind": "dir", "root": str(swaps)}) as plane:
        app = plane.create_application("leftover", code=SPAM)
        p = app.create_process("p")
        p.invoke("put", b"good")
        p.swap()
        plane.controller.store = FaultyStore(DirectoryStore(swaps), None, 1)  # the next swap-out crashes
        p = app.swapin("p")
        with pytest.raises(praas_kit.PraasError):
            p.swap()
        store = DirectoryStore(swaps)
        # the crash left a partial snapshot (objects, no manifest); it is gone, the committed one stays
        assert store.snapshot_ids("leftover", "p") == store.snapshots("leftover", "p") != []
        plane.controller.store = store
        assert app.swapin("p").invoke("get").payload == b"good"


@pytest.mark.parametrize("name, text, problem", [
    ("json.py", "from praas_kit import function\n@function\ndef f(i, c):\n    return 1\n", "named like the module"),
    ("broken.py", "def f(:\n    pass\n", "broken.py:1: SyntaxError"),
    ("nofunc.py", "x = 1\n", "defines no function"),
    ("needs.py", "import no_such_module_anywhere\n", "No module named 'no_such_module_anywhere'"),
])
def test_application_code_is_checked_at_create(cp, tmp_path, name, text, problem):
    code = tmp_path / name
    code.write_text(text)
    with pytest.raises(praas_kit.InvalidArgument, match=problem):
        cp.create_application(f"bad-{name.split('.')[0]}", code=code)
    assert f"bad-{name.split('.')[0]}" not in [a.name for a in cp.applications()]


def test_application_code_must_be_python(cp):
    with pytest.raises(praas_kit.InvalidArgument, match="neither a .py file nor a package"):
        cp.create_application("passwd", code="/etc/passwd")


def test_an_oversized_chunked_json_body_is_413_and_a_bool_is_not_a_number(cp):
    auth = {"Authorization": f"Bearer {cp.token}"}

    def chunks():
        yield b'{"code": "'
        for _ in range(3):
            yield b"x" * (512 << 10)  # over the 1 MiB limit of a JSON body, sent without a Content-Length
        yield b'"}'

    r = httpx.put(f"{cp.url}/apps/huge", content=chunks(), headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge"  # before the fix: 400
    for body in ({"vcpus": True}, {"memory_mb": True}, {"vcpus": "1"}):
        r = httpx.put(f"{cp.url}/apps/typed", json=body, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequest", (body, r.text)  # was: 1.0 vCPU
    r = httpx.put(f"{cp.url}/apps/typed", json={"vcpus": 1, "memory_mb": 64}, headers=auth)
    assert r.status_code in (200, 201) and r.json()["vcpus"] == 1.0
    assert "huge" not in [a.name for a in cp.applications()]


def test_code_roots_confine_what_a_token_holder_can_load(tmp_path):
    # the lab's control plane runs as root with the Docker socket: before code_roots any path it can read was
    # application code, copied or mounted into a process (its registry with every application's keys among them)
    from helpers import make_plane

    allowed = tmp_path / "lab"
    allowed.mkdir()
    (allowed / "mine.py").write_text(SPAM.read_text())
    outside = tmp_path / "home" / "secrets.py"
    outside.parent.mkdir()
    outside.write_text(SPAM.read_text())
    (allowed / "link.py").symlink_to(outside)  # a link out of the root is judged by where it leads
    with make_plane("local", tmp_path / "cp", code_roots=str(allowed)) as cp:
        assert cp.create_application("ok", code=allowed / "mine.py").create_process("p").invoke("get").payload == b""
        for bad in (outside, allowed / "link.py", allowed / ".." / "home"):
            with pytest.raises(praas_kit.InvalidArgument, match="code_roots"):
                cp.create_application("bad", code=bad)
        from praas_kit.bench.benchapp import __file__ as bundled

        cp.create_application("bundled", code=bundled)  # praas-kit's own applications stay allowed
        assert "bad" not in [a.name for a in cp.applications()]
