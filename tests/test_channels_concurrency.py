"""Concurrency of the data plane (the leader/follower pool): many senders at once, concurrent
invocations in one process, and swaps in the middle of a send storm. Every message is counted:
nothing lost, nothing duplicated, FIFO per (source, key). Runs on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from praas_kit import InvalidState, RecvTimeout


def _in_threads(calls: list[Callable[[], Any]], timeout: float = 120) -> list[Any]:
    """Run ``calls`` at once; their results in order; re-raise the first error."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a call did not finish"
    return results


def test_many_senders_into_one_receiver(app):
    """Four processes, two concurrent sending invocations each, into one receiver that is receiving at
    the same time: every (source, key) stream arrives complete and in order."""
    n = 300
    senders = [app.create_process(f"s{i}") for i in range(4)]
    r = app.create_process("r")
    keys = ("k0", "k1")
    recv_calls = [
        (lambda s=s, k=k: r.invoke("recv", {"src": s.name, "key": k, "n": n, "timeout": 60}, timeout=120).json())
        for s in senders for k in keys
    ]
    send_calls = [
        (lambda s=s, k=k: s.invoke("send", {"to": "r", "key": k, "values": [f"{s.name}-{k}-{i}" for i in range(n)]},
                                   timeout=120))
        for s in senders for k in keys
    ]
    # the receiver runs at most function_workers functions at once; the rest queue (and must not block
    # the senders, whose messages wait in the mailbox)
    got = _in_threads(recv_calls + send_calls)[: len(recv_calls)]
    for (s, k), values in zip([(s, k) for s in senders for k in keys], got, strict=True):
        assert values == [f"{s.name}-{k}-{i}" for i in range(n)]


def test_concurrent_invocations_of_one_process_from_many_clients(app):
    p = app.create_process("p")
    per_client, clients = 200, 6

    def client(c: int) -> list[str]:
        return [p.invoke("echo", f"{c}:{i}").text for i in range(per_client)]

    got = _in_threads([lambda c=c: client(c) for c in range(clients)])
    assert got == [[f"{c}:{i}" for i in range(per_client)] for c in range(clients)]


def test_swaps_during_a_send_storm_lose_and_duplicate_nothing(app):
    """``a`` sends a stream to ``b`` while ``b`` is swapped out and in, twice; afterwards ``b`` receives the
    stream exactly once, in order."""
    n = 1500
    a, b = app.create_process("a"), app.create_process("b")
    values = [str(i) for i in range(n)]
    done = threading.Event()
    errors: list[BaseException] = []

    def storm() -> None:
        try:
            for lo in range(0, n, 100):  # many invocations, so the storm spans the swaps
                a.invoke("send", {"to": "b", "key": "s", "values": values[lo:lo + 100]}, timeout=120)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=storm, daemon=True)
    t.start()
    swaps = 0
    while not done.is_set() and swaps < 2:
        time.sleep(0.05)
        try:
            b.swap()
        except InvalidState:  # swapping while busy may be refused; try again
            continue
        time.sleep(0.05)
        b = app.swapin("b")
        swaps += 1
    t.join(120)
    assert not errors, errors
    assert swaps >= 1, "the storm ended before a swap could happen; make it longer"
    if app.process("b").status != "ALLOCATED":
        b = app.swapin("b")
    assert b.invoke("recv", {"src": "a", "key": "s", "n": n, "timeout": 60}, timeout=120).json() == values
    # and not one more: a duplicate would be waiting now
    with pytest.raises(RecvTimeout):
        b.invoke("recv", {"src": "a", "key": "s", "n": 1, "timeout": 0.3}, timeout=30)


def test_a_long_function_does_not_hold_up_short_calls(app):
    """The thread that took a call keeps the lead only while the call is short; during a long one another
    thread leads, so a concurrent short call is answered at once (functions as threads)."""
    p = app.create_process("busy")
    long_call = threading.Thread(target=lambda: p.invoke("sleep", "3", timeout=30), daemon=True)
    long_call.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for _ in range(20):
        assert p.invoke("echo", b"quick").payload == b"quick"
    assert time.monotonic() - t0 < 2.0, "short calls waited for the long one"
    assert long_call.is_alive()
    long_call.join(30)


def test_a_function_waiting_in_recv_keeps_the_timers_running(app):
    """A function blocked in ``recv`` leads the pool (it waits on the sockets itself); the lead's timers
    must still run: the process keeps reporting its metrics (here: one invocation in flight)."""
    p = app.create_process("waiter")
    t = threading.Thread(target=lambda: _quietly(lambda: p.invoke("recv", {"key": "k", "n": 1,
                                                                           "timeout": 8}, timeout=30)), daemon=True)
    t.start()
    deadline, inflight = time.monotonic() + 6, None
    while time.monotonic() < deadline:
        metrics = app.process("waiter").info.metrics
        inflight = metrics.inflight if metrics is not None else None
        if inflight == 1:
            break
        time.sleep(0.2)
    assert inflight == 1, "no metrics from a process whose only function waits in recv"
    t.join(30)


def _quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except RecvTimeout:
        pass
