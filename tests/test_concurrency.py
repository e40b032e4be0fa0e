"""Functions are threads of one process (paper §3): with ``function_workers = W``, up to W calls that block run
at once and start together; a (W+1)-th waits for a free worker; short calls are not held up by blocking ones,
and the process keeps answering its control plane while every worker is busy. Runs on every backend.

Times are the function's own (``span`` reports when it started and ended, on the machine's one clock), so the
client's threads starting a little apart does not blur what the process did. The bounds are generous for a
loaded 2-vCPU machine: "together" is within :data:`TOGETHER` seconds, against calls that block for
:data:`BLOCK` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import APP_CODE, delete_app, unique

BLOCK = 0.6  #: seconds each blocking call blocks
TOGETHER = 0.2  #: calls that start within this many seconds of the first started together


@pytest.fixture
def make_app(plane) -> Iterator[Callable[[int], Any]]:
    """Applications with a given worker count; their processes and the applications are deleted afterwards."""
    made: list[Any] = []

    def make(workers: int) -> Any:
        app = plane.create_application(unique("conc"), code=APP_CODE, function_workers=workers)
        made.append(app)
        return app

    yield make
    for app in made:
        delete_app(app)


def at_once(calls: list[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Run every call on its own client thread, released together; their results in order (an exception
    raised by a call is raised here)."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []
    gate = threading.Barrier(len(calls))

    def run(i: int) -> None:
        try:
            gate.wait(timeout)
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a call did not return"
    if errors:
        raise errors[0]
    return results


def spans(p: Any, n: int, **how: Any) -> list[dict[str, float]]:
    """``n`` concurrent ``span`` calls to ``p``; their spans, by start time."""
    body = {"seconds": BLOCK, **how}
    out = at_once([lambda: p.invoke("span", body, timeout=60).json() for _ in range(n)])
    return sorted(out, key=lambda s: s["start"])


def warm(p: Any, threads: int) -> None:
    """Connect ``threads`` client threads to ``p`` once, so that connecting is not part of what is timed."""
    at_once([lambda: p.invoke("echo", b"w", timeout=60) for _ in range(threads)])


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_blocking_calls_overlap_up_to_the_worker_count(make_app, workers):
    p = make_app(workers).create_process("p")
    warm(p, workers + 1)
    got = spans(p, workers + 1)
    first, extra = got[:workers], got[workers]
    starts = [s["start"] for s in first]
    assert max(starts) - min(starts) < TOGETHER, f"the first {workers} calls did not start together: {starts}"
    assert len({s["thread"] for s in first}) == workers, "each of the overlapping calls runs on a thread of its own"
    earliest_end = min(s["end"] for s in first)
    assert extra["start"] >= earliest_end - 0.01, (
        f"call {workers + 1} started at {extra['start'] - starts[0]:.3f} s, before a worker was free "
        f"({earliest_end - starts[0]:.3f} s)")


@pytest.mark.parametrize("how", ["recv", "invoke", "self"])
def test_calls_blocked_in_recv_or_a_nested_invoke_overlap_too(make_app, how):
    workers = 4
    app = make_app(workers)
    p = app.create_process("p")
    extra = {}
    if how == "invoke":
        app.create_process("peer")
        extra = {"peer": "peer"}
    warm(p, workers)
    got = spans(p, workers, how=how, **extra)
    starts = [s["start"] for s in got]
    assert max(starts) - min(starts) < TOGETHER, f"{how}: calls did not start together: {starts}"
    ends = [s["end"] for s in got]
    took = max(ends) - min(starts)
    assert took < 2 * BLOCK, f"{how}: {workers} calls of {BLOCK} s took {took:.2f} s"


def test_short_calls_run_beside_blocking_ones(make_app):
    """With 4 workers and 3 calls blocked, the fourth worker serves a stream of short calls at once: the lead
    never stays vacant while a long call runs (the process is not deaf)."""
    p = make_app(4).create_process("p")
    warm(p, 4)
    long_calls: list[Any] = []
    runner = threading.Thread(target=lambda: long_calls.extend(spans(p, 3, seconds=3 * BLOCK)), daemon=True)
    runner.start()
    time.sleep(BLOCK / 2)  # the three are running now
    latencies = []
    for _ in range(20):
        t0 = time.monotonic()
        assert p.invoke("echo", b"short", timeout=30).payload == b"short"
        latencies.append(time.monotonic() - t0)
    runner.join(60)
    assert len(long_calls) == 3
    assert all(s["end"] > time.time() - 30 for s in long_calls)
    latest_long_start = max(s["start"] for s in long_calls)
    assert latest_long_start - min(s["start"] for s in long_calls) < TOGETHER
    assert sum(latencies) < BLOCK, f"20 short calls beside 3 blocking ones took {sum(latencies):.2f} s: {latencies}"


def test_the_process_answers_its_control_plane_while_every_worker_is_busy(plane, make_app):
    """2 workers, both running long calls: the process still answers its control plane at once (the third
    thread leads): a ``ping`` over its control connection gets its ``pong`` within a fraction of a call; a deaf
    process would answer only when a call ends, 10 x BLOCK later. (A stop is not timed: it may wait for the
    running functions to end, which is its contract, not deafness.)"""
    app = make_app(2)
    p = app.create_process("p")
    warm(p, 2)
    ctl = plane.controller
    runner = threading.Thread(target=lambda: _swallow(lambda: spans(p, 2, seconds=10 * BLOCK)), daemon=True)
    runner.start()
    time.sleep(BLOCK)  # both calls are running now
    session = ctl.sessions.get(app.name, "p")
    assert session is not None
    for _ in range(3):
        t0 = time.monotonic()
        ctl.endpoint.ask(session, "ping", "id").result(timeout=30)
        pinged = time.monotonic() - t0
        assert pinged < BLOCK, f"the process answered a ping after {pinged:.2f} s while both workers were busy"
    p.stop()
    assert p.status == "CLOSED"
    runner.join(60)


def _swallow(call: Callable[[], Any]) -> None:
    """Run ``call``; its error is expected (the process was stopped under it)."""
    try:
        call()
    except Exception:  # noqa: BLE001
        pass
