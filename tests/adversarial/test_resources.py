"""Resources under abuse: held-message bursts, file descriptors, mailbox memory, request bodies, children,
leftover snapshots. Loops are bounded so the suite runs in CI; the closing figures come from longer runs of
the same code (``python -m praas_kit.bench.load`` and the counts below)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import APP_CODE, make_plane

import praas_kit

SPAM = Path(__file__).parent.parent / "apps" / "spam.py"


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


SOAK = [pytest.mark.slow, pytest.mark.timeout(600)]  # CI, with other tests loading its 2 cores, saw > 120 s


@pytest.mark.parametrize("n", [3_000, pytest.param(100_000, marks=SOAK)])  # the soak: 100,000 messages
def test_held_message_burst_is_delivered_in_order_after_swapin(tmp_path, n):
    """Messages sent to a swapped-out process are held, and all of them arrive, in order, after swap-in
    (before the fix, 3,000 made swap-in fail with HTTP 500 and left the process SWAPPING_IN forever)."""
    with praas_kit.local(home=tmp_path, invoke_timeout=600) as cp:
        app = cp.create_application("burst", code=SPAM)
        a, b = app.create_process("a"), app.create_process("b")
        b.swap()
        a.invoke("spam", {"to": "b", "n": n}, timeout=600)
        deadline = time.monotonic() + 300
        while len(cp.controller.registry.held_messages("burst", "b")) < n:  # all held, durably
            assert time.monotonic() < deadline, "the control plane did not hold every message"
            time.sleep(0.2)
        b = app.swapin("b")
        assert b.status == "ALLOCATED"
        assert b.invoke("drain", {"src": "a", "n": n, "timeout": 60}, timeout=600).json() == {
            "in_order": n, "unexpected": None}
        assert cp.controller.registry.held_messages("burst", "b") == []


@pytest.mark.slow  # a soak: 110 deaths and swap-ins
def test_process_deaths_leak_no_file_descriptors(tmp_path):
    """Every death of a process is handled by a thread of its own; none of them may keep a socket
    (before the fix, each thread that sent to the process endpoint got a ZeroMQ socket, kept forever)."""
    with praas_kit.local(home=tmp_path) as cp:
        app = cp.create_application("deaths", code=SPAM)
        app.create_process("witness")  # gets a world update from the thread that handles each death
        p = app.create_process("p")

        def cycle() -> None:
            nonlocal p
            p.kill()
            deadline = time.monotonic() + 10
            while app.process("p").status != "FAILED":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            p = app.swapin("p")

        for _ in range(10):  # warm up: thread pools, sockets that live for the whole run
            cycle()
        before = fd_count()
        for _ in range(100):
            cycle()
        assert fd_count() - before <= 3, (before, fd_count())


@pytest.mark.slow  # a soak: 400 MiB of messages, most of them held in SQLite
def test_mailbox_is_bounded_and_the_receiver_lives(tmp_path):
    """Ten 40 MiB messages to a 256 MiB process whose function does not receive yet: the mailbox takes what
    fits (a quarter of the memory), the rest waits with the control plane, the process lives, and every
    message arrives in order once the function receives (before the fix, 14 x 60 MiB killed the process)."""
    with praas_kit.local(home=tmp_path, metrics_interval=0.2) as cp:
        app = cp.create_application("mem", code=SPAM)
        a, b = app.create_process("a", memory_mb=2048), app.create_process("b", memory_mb=256)
        a.invoke("spam", {"to": "b", "n": 10, "size": 40 << 20}, timeout=120)
        # the refused messages travel to the control plane, which stores each (40 MiB) in SQLite: wait for them
        deadline = time.monotonic() + 60
        while len(cp.controller.registry.held_messages("mem", "b")) < 8 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        info = app.process("b").info
        assert info.status == "ALLOCATED" and info.metrics is not None
        assert info.metrics.rss_bytes < 256 << 20, info.metrics
        assert len(cp.controller.registry.held_messages("mem", "b")) >= 8  # waiting at the control plane
        assert b.invoke("drain", {"src": "a", "n": 10, "timeout": 30}, timeout=300).json() == {
            "in_order": 10, "unexpected": None}


def test_messages_to_a_stopped_process_never_reach_its_successor(tmp_path):
    with praas_kit.local(home=tmp_path) as cp:
        app = cp.create_application("succ", code=SPAM)
        a, b = app.create_process("a"), app.create_process("b")
        b.swap()
        a.invoke("spam", {"to": "b", "n": 5})
        deadline = time.monotonic() + 10
        while len(cp.controller.registry.held_messages("succ", "b")) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app.swapin("b").stop()  # b's state, and what was sent to it, are discarded
        app.delete_process("b")
        b2 = app.create_process("b")
        assert b2.invoke("pending", {"src": "a", "timeout": 1.0}).json() == 0


def test_the_invocation_queue_is_bounded_and_the_process_lives(tmp_path):
    # before the fix every call was queued: ~13.5k x 64 KiB killed a process (MemoryError) and its state was lost
    from concurrent.futures import ThreadPoolExecutor

    with make_plane("local", tmp_path) as cp:
        p = cp.create_application("flood", code=APP_CODE).create_process("p", memory_mb=128)  # queue: 32 MiB
        p.invoke("put-state", {"key": "k", "value": "kept"})

        def call(_: int) -> str:
            try:
                p.invoke("hold", b"x" * (1 << 20), timeout=60)
                return "ran"
            except praas_kit.Overloaded:
                return "refused"

        with ThreadPoolExecutor(48) as pool:
            outcomes = list(pool.map(call, range(48)))
        assert outcomes.count("refused") >= 8 and outcomes.count("ran") >= 8, outcomes
        assert p.status == "ALLOCATED" and p.invoke("get-state", "k").payload == b"kept"


def test_relayed_calls_and_pooled_processes_are_bounded(tmp_path):
    # before the fix every relayed call (cinv) got a thread of its own (+400 in the adversarial run) and a
    # pooled invocation made one more process whenever all were busy, without end
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from praas_kit.control.pool import MAX_RELAYED

    with make_plane("local", tmp_path, max_pooled=2) as cp:
        app = cp.create_application("relay", code=Path(__file__).parent.parent / "apps" / "attacker")
        m = app.create_process("m")
        app.create_process("t").swap()
        before = threading.active_count()
        m.invoke("cinv_flood", {"dst": "t", "n": 300})
        time.sleep(1.0)
        assert threading.active_count() - before <= MAX_RELAYED + 16, threading.active_count() - before

        with ThreadPoolExecutor(3) as pool:  # three calls that each keep a pooled process for 2 s
            outcomes = list(pool.map(lambda _: _pooled(app), range(3)))
        assert sorted(outcomes) == ["ran", "ran", "refused"], outcomes
        assert len([p for p in app.processes() if p.name.startswith("pool-")]) == 2


def _pooled(app) -> str:
    try:
        app.invoke("slow", b"", timeout=30)
        return "ran"
    except praas_kit.Overloaded:
        return "refused"
