"""A stale SDK handle never hangs: after another client swapped its process (or swapped it out and in again),
``Process.invoke(timeout=...)`` returns or raises within its timeout, on every backend. Before the fix the
connection had dropped without reconnecting, and the next call blocked forever sending on a DEALER with no
peer."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from helpers import unique

from praas_kit.errors import InvalidState, PraasError
from praas_kit.sdk.client import ControlPlaneClient

IDLE = 2.0  #: seconds a stale handle sits idle before it is used
BOUND = 15.0  #: seconds a call may take at most here (its timeout plus the reconnection's second, generously)


def within(seconds: float, call: Any) -> tuple[Any, BaseException | None, float]:
    """Run ``call`` on a thread; fail the test if it has not returned or raised within ``seconds``."""
    out: list[Any] = [None, None]

    def run() -> None:
        try:
            out[0] = call()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            out[1] = exc

    t0 = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"the call hung for more than {seconds} s"
    return out[0], out[1], time.monotonic() - t0


@pytest.fixture
def other(plane):
    """A second client of the same control plane (another user, a notebook next door)."""
    with ControlPlaneClient(plane.url, plane.token) as client:
        yield client


def test_a_call_after_another_client_swapped_the_process_out_says_so(app, other) -> None:
    p = app.create_process(unique("p"))
    assert p.invoke("echo", b"warm").payload == b"warm"  # this thread's connection is up
    other.application(app.name).process(p.name).swap()
    time.sleep(IDLE)  # the handle sits idle while its connection is torn down
    _, error, took = within(BOUND, lambda: p.invoke("echo", b"stale", timeout=3))
    assert isinstance(error, InvalidState) and "SWAPPED_OUT" in str(error), error
    assert took < BOUND


def test_a_call_after_another_client_swapped_it_out_and_in_reaches_the_new_incarnation(app, other) -> None:
    p = app.create_process(unique("p"))
    assert p.invoke("echo", b"warm").payload == b"warm"
    theirs = other.application(app.name).process(p.name)
    theirs.swap()
    theirs.swapin()
    result, error, _ = within(BOUND, lambda: p.invoke("echo", b"again", timeout=5))
    assert error is None, error
    assert result.payload == b"again"


def test_a_call_after_the_process_was_deleted_fails_within_its_timeout(app, other) -> None:
    p = app.create_process(unique("p"))
    assert p.invoke("echo", b"warm").payload == b"warm"
    other.application(app.name).delete_process(p.name)
    _, error, took = within(BOUND, lambda: p.invoke("echo", b"gone", timeout=3))
    assert isinstance(error, PraasError), error
    assert took < BOUND


def test_a_connection_that_dropped_between_calls_never_blocks_the_next_one() -> None:
    """The root of the hang, without a control plane: a process (here a bare ROUTER) answers one call and goes
    away; the same thread's next call must end within its timeout (the DEALER has no peer left, and never
    reconnects: a blocking send would wait forever)."""
    import zmq

    from praas_kit import wire
    from praas_kit.sdk.dataplane import DataPlaneClient, Unreachable

    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    address = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"
    client = DataPlaneClient()
    first, gone = threading.Event(), threading.Event()
    results: list[Any] = []

    def calls() -> None:
        results.append(client.invoke(address, "echo", b"x", timeout=5).payload)
        first.set()
        gone.wait(10)
        try:
            client.invoke(address, "echo", b"y", timeout=3)
        except Unreachable as exc:
            results.append(exc)

    try:
        worker = threading.Thread(target=calls, daemon=True)
        worker.start()
        ident, hdr, body = router.recv_multipart()
        inv, _ = wire.decode([zmq.Frame(hdr), zmq.Frame(body)])
        router.send_multipart([ident, wire.result_header(inv["id"], "b"), b"x"])
        assert first.wait(5)
    finally:
        router.close()
    time.sleep(0.5)  # the connection is torn down while the handle is idle
    gone.set()
    worker.join(BOUND)
    assert not worker.is_alive(), "the call after the drop hung"
    assert results[0] == b"x" and isinstance(results[1], Unreachable), results
    client.close()
