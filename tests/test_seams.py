"""The control plane's pieces alone, through their seams, with fakes (no sockets, no SQLite, no processes): the
downscaler (a fake clock), the held messages (a fake registry and endpoint, real in-memory sessions) and the
invocation router (a fake registry, endpoint and lifecycle). Each test asserts what the piece's docstring
promises; the process runtime's pieces are in ``test_seams_process.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

from praas_kit import wire
from praas_kit.control.channels import BATCH, HeldMessages
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.downscaler import Downscaler, default_interval, idle
from praas_kit.control.pool import MAX_RELAYED, Invoker
from praas_kit.control.registry import HeldMessage, ProcRecord
from praas_kit.control.sessions import Session, Sessions
from praas_kit.errors import (
    ApplicationNotFound,
    BadRequest,
    InvalidState,
    Overloaded,
    PayloadTooLarge,
    ProcessDied,
    ProcessFailed,
    ProcessNotFound,
    Timeout,
)
from praas_kit.lifecycle import Status


class Frame:
    """A received ZeroMQ frame as the handlers see it (``.bytes``)."""

    def __init__(self, data: bytes) -> None:
        self.bytes = data


def connected(sessions: Sessions, app: str, name: str, epoch: str = "") -> Session:
    """A session of ``app/name`` that said hello (its endpoint identity is ``b"id-" + name``)."""
    session = Session(app, name, incarnation=f"inc-{name}", secret="s", epoch=epoch or f"ep-{name}")
    sessions.add(session)
    sessions.attach(session, f"id-{name}".encode())
    return session


# ================================================================================================ the downscaler
class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Running:
    """The controller's side of the downscaler: the running processes, and a swap that takes one out of them."""

    def __init__(self, *candidates: tuple[str, str, float, bool], fail: set[str] | None = None) -> None:
        self.candidates, self.fail = list(candidates), fail or set()
        self.swapped: list[tuple[str, str, float]] = []
        self.looks = 0
        self.lock = threading.Lock()

    def list(self) -> list[tuple[str, str, float, bool]]:
        with self.lock:
            self.looks += 1
            return list(self.candidates)

    def swap(self, app: str, name: str, idle_seconds: float) -> None:
        with self.lock:
            self.swapped.append((app, name, idle_seconds))
            if name in self.fail:
                raise InvalidState("process is not idle")  # the process refused: it stays a candidate
            self.candidates = [c for c in self.candidates if c[1] != name]

    def looked(self, n: int) -> Callable[[], bool]:
        start = self.looks
        return lambda: self.looks >= start + n


def test_the_idle_rule_is_strict_and_busy_is_never_idle() -> None:
    assert idle(last_activity=100.0, busy=False, now=105.1, idle_seconds=5)
    assert not idle(last_activity=100.0, busy=False, now=105.0, idle_seconds=5)  # exactly the idle time: not yet
    assert not idle(last_activity=0.0, busy=True, now=1e9, idle_seconds=5)
    assert [default_interval(s) for s in (0.1, 8, 1000)] == [0.2, 2.0, 30.0]


def test_the_downscaler_swaps_out_only_idle_processes_after_their_idle_time() -> None:
    clock = FakeClock(1000.0)
    running = Running(("a", "idle", 990.0, False), ("a", "busy", 0.0, True), ("a", "recent", 996.0, False),
                      ("b", "idle", 994.0, False))
    scaler = Downscaler(5, 0.01, running.list, running.swap, clock)
    try:
        assert scaler.interval == 0.01
        assert wait_for(running.looked(3), timeout=2)
        assert sorted(running.swapped) == [("a", "idle", 5.0), ("b", "idle", 5.0)]  # each once: then it is gone
        clock.now = 1001.5  # "recent" has been idle 5.5 s now; "busy" has run nothing for ages but is busy
        assert wait_for(lambda: ("a", "recent", 5.0) in running.swapped, timeout=2)
        assert wait_for(running.looked(3), timeout=2)
        assert len(running.swapped) == 3 and [c[1] for c in running.candidates] == ["busy"]
    finally:
        scaler.close(timeout=2)


def test_the_downscaler_uses_its_clock_not_the_wall_clock() -> None:
    now = time.time()
    clock = FakeClock(now)
    running = Running(("a", "p", now - 1, False))  # idle for 1 s of wall time
    scaler = Downscaler(3600, 0.01, running.list, running.swap, clock)
    try:
        assert wait_for(running.looked(3), timeout=2) and running.swapped == []
        clock.now = now + 3600  # an hour later, by its clock
        assert wait_for(lambda: running.swapped == [("a", "p", 3600.0)], timeout=2)
    finally:
        scaler.close(timeout=2)


def test_a_refused_swap_keeps_the_downscaler_looking_and_close_stops_it() -> None:
    running = Running(("a", "stubborn", 0.0, False), ("a", "p", 0.0, False), fail={"stubborn"})
    scaler = Downscaler(1, 0.01, running.list, running.swap, FakeClock(100.0))
    assert wait_for(lambda: running.swapped.count(("a", "stubborn", 1.0)) >= 2, timeout=2)  # tried again, next time
    assert ("a", "p", 1.0) in running.swapped
    scaler.close(timeout=2)
    looks = running.looks
    time.sleep(0.1)
    assert running.looks == looks  # stopped: it looks no more


# ================================================================================================ held messages
class FakeRegistry:
    """The registry's held-message table, in memory (ids in arrival order, as SQLite's rowid)."""

    def __init__(self, *held: tuple[str, str, str, str, str, int, bytes]) -> None:
        self.rows: list[tuple[int, str, str, HeldMessage]] = []
        self.processes_: dict[tuple[str, str], ProcRecord] = {}
        for row in held:
            self.hold_message(*row)

    def hold_message(self, app: str, dst: str, src: str, ep: str, key: str, seq: int, payload: bytes) -> int:
        mid = (self.rows[-1][0] if self.rows else 0) + 1
        self.rows.append((mid, app, dst, HeldMessage(mid, src, ep, key, seq, payload)))
        return mid

    def held_messages(self, app: str, dst: str, after: int = 0, limit: int = -1) -> list[HeldMessage]:
        found = [m for mid, a, d, m in self.rows if a == app and d == dst and mid > after]
        return found if limit < 0 else found[:limit]

    def held_count(self, app: str, dst: str) -> int:
        return len(self.held_messages(app, dst))

    def held_destinations(self) -> set[tuple[str, str]]:
        return {(a, d) for _, a, d, _ in self.rows}

    def drop_held_for(self, app: str, dst: str) -> int:
        before = len(self.rows)
        self.rows = [r for r in self.rows if (r[1], r[2]) != (app, dst)]
        return before - len(self.rows)

    def drop_messages(self, ids: list[int]) -> None:
        self.rows = [r for r in self.rows if r[0] not in set(ids)]

    # what the invocation router uses
    def processes(self, app: str | None = None) -> list[ProcRecord]:
        return [r for r in self.processes_.values() if app is None or r.app == app]


class FakeEndpoint:
    """The process endpoint: the handlers registered with :meth:`on`, what was sent, and the connected processes
    played by ``behaviour`` (a function of the session and the frame, called for every frame sent to it)."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., None]]] = {}
        self.sent: list[tuple[str, dict[str, Any], bytes]] = []  # to a process: (name, header, payload)
        self.sent_to: list[tuple[bytes, dict[str, Any]]] = []  # to a connection
        self.behaviour: Callable[[Session, dict[str, Any], bytes], None] = lambda s, h, p: None
        self.asked: list[tuple[str, str]] = []
        self.answer: Callable[[Session, Future[Any]], None] = lambda s, f: f.set_result(True)
        self.lock = threading.Lock()

    def on(self, frame_type: str, handler: Callable[..., None]) -> None:
        self.handlers.setdefault(frame_type, []).append(handler)

    def deliver(self, frame_type: str, session: Session, hdr: dict[str, Any], payload: Any = None) -> None:
        """A frame of ``frame_type`` arrives from ``session``'s process."""
        for handler in self.handlers.get(frame_type, ()):
            handler(session, {"t": frame_type, **hdr}, payload)

    def send(self, session: Session, frames: list[Any]) -> None:
        hdr, payload = wire.decode(frames)
        with self.lock:
            self.sent.append((session.name, hdr, bytes(payload)))
        self.behaviour(session, hdr, bytes(payload))

    def send_to(self, ident: bytes, frames: list[Any]) -> None:
        hdr, _ = wire.decode(frames)
        with self.lock:
            self.sent_to.append((ident, hdr))

    def ask(self, session: Session, kind: str, id_field: str, **fields: Any) -> Future[Any]:
        self.asked.append((session.name, kind))
        fut: Future[Any] = Future()
        self.answer(session, fut)
        return fut

    def messages_to(self, name: str) -> list[tuple[str, int, bytes]]:
        return [(h["src"], h["seq"], p) for n, h, p in self.sent if n == name and h["t"] == "msg"]

    def acks_to(self, ident: bytes) -> list[tuple[int, bool]]:
        return [(h["seq"], bool(h.get("held"))) for i, h in self.sent_to if i == ident and h["t"] == "ack"]


class Plane:
    """HeldMessages with its fakes: processes exist unless in ``stopped``, run while in ``running``."""

    def __init__(self, registry: FakeRegistry | None = None) -> None:
        self.registry, self.sessions, self.endpoint = registry or FakeRegistry(), Sessions(), FakeEndpoint()
        self.stopped: set[str] = set()
        self.running: set[str] = set()
        self.held = HeldMessages(self.registry, self.sessions, self.endpoint,
                                 lambda app, name: name not in self.stopped, lambda app, name: name in self.running)

    def fwd(self, sender: Session, dst: str, seq: int, payload: bytes, src: str | None = None) -> None:
        self.endpoint.deliver("fwd", sender, {"dst": dst, "src": src or sender.name, "ep": sender.epoch, "key": "k",
                                              "seq": seq}, Frame(payload))

    def start(self, name: str) -> Session:
        """``name`` runs and said hello; its first metrics report arrives."""
        session = connected(self.sessions, "app", name)
        self.running.add(name)
        self.endpoint.deliver("metrics", session, {"inv": 0, "busy": 0.0, "last": 0.0, "inflight": 0})
        return session


def test_messages_are_held_durably_and_delivered_in_order_once_the_receiver_runs() -> None:
    plane = Plane()
    alice = connected(plane.sessions, "app", "alice")
    for seq in range(1, 6):
        plane.fwd(alice, "bob", seq, f"m{seq}".encode())
    assert plane.endpoint.acks_to(alice.ident) == [(seq, True) for seq in range(1, 6)]  # held=true: stored first
    assert plane.registry.held_count("app", "bob") == 5 and plane.held.pending_for("app", "bob")
    assert plane.endpoint.sent == []  # bob does not run: nothing is sent to it
    plane.start("bob")
    assert wait_for(lambda: not plane.held.pending_for("app", "bob"), timeout=2)
    assert plane.endpoint.messages_to("bob") == [("alice", seq, f"m{seq}".encode()) for seq in range(1, 6)]
    assert plane.registry.rows == []
    # then each sender hears its message was delivered (ack without held), in order
    assert plane.endpoint.acks_to(alice.ident)[5:] == [(seq, False) for seq in range(1, 6)]


def test_a_message_for_a_running_process_is_delivered_at_once() -> None:
    plane = Plane()
    plane.start("bob")
    alice = connected(plane.sessions, "app", "alice")
    plane.fwd(alice, "bob", 1, b"now")
    assert wait_for(lambda: plane.endpoint.messages_to("bob") == [("alice", 1, b"now")], timeout=2)
    assert wait_for(lambda: plane.endpoint.acks_to(alice.ident) == [(1, True), (1, False)], timeout=2)


def test_delivery_is_paced_in_batches_confirmed_by_a_ping() -> None:
    plane = Plane(FakeRegistry(*[("app", "bob", "alice", "ep-alice", "k", seq, b"x") for seq in
                                 range(1, BATCH + 11)]))
    assert plane.held.pending_for("app", "bob")  # held before the control plane started: known at once
    bob = connected(plane.sessions, "app", "bob")
    pings_when_sent: list[int] = []
    plane.endpoint.answer = lambda s, fut: (pings_when_sent.append(len(plane.endpoint.sent)), fut.set_result(True))
    plane.held.flush(bob)
    assert pings_when_sent == [BATCH, BATCH + 10]  # a ping after each batch, before the next one is sent
    assert [seq for _, seq, _ in plane.endpoint.messages_to("bob")] == list(range(1, BATCH + 11))
    assert not plane.held.pending_for("app", "bob")


def test_a_refused_message_stops_the_delivery_and_stays_held_for_the_next_report() -> None:
    plane = Plane()
    alice = connected(plane.sessions, "app", "alice")
    for seq in range(1, 6):
        plane.fwd(alice, "bob", seq, f"m{seq}".encode())
    full = [True]

    def bob_process(session: Session, hdr: dict[str, Any], payload: bytes) -> None:
        if hdr["seq"] >= 3 and full[0]:  # its mailbox is full from the third on (and refuses what follows)
            plane.endpoint.deliver("ack", session, {"dst": "bob", "seq": hdr["seq"], "ok": False, "src": hdr["src"],
                                                    "ep": hdr["ep"], "why": "full"})

    plane.endpoint.behaviour = bob_process
    bob = plane.start("bob")
    assert wait_for(lambda: len(plane.endpoint.messages_to("bob")) == 5, timeout=2)
    assert wait_for(lambda: plane.registry.held_count("app", "bob") == 3, timeout=2)
    assert [m.seq for m in plane.registry.held_messages("app", "bob")] == [3, 4, 5]
    assert plane.endpoint.acks_to(alice.ident)[5:] == [(1, False), (2, False)]  # only those it took
    full[0] = False  # it received some: its next metrics report brings the rest
    plane.endpoint.deliver("metrics", bob, {"inv": 1, "busy": 0.0, "last": 0.0, "inflight": 0})
    assert wait_for(lambda: not plane.held.pending_for("app", "bob"), timeout=2)
    assert [seq for _, seq, _ in plane.endpoint.messages_to("bob")] == [1, 2, 3, 4, 5, 3, 4, 5]
    assert plane.endpoint.acks_to(alice.ident)[5:] == [(seq, False) for seq in range(1, 6)]


def test_an_unconfirmed_batch_stays_held() -> None:
    plane = Plane(FakeRegistry(("app", "bob", "alice", "ep-alice", "k", 1, b"x")))
    bob = connected(plane.sessions, "app", "bob")
    plane.endpoint.answer = lambda s, fut: fut.set_exception(ProcessDied("bob died"))
    plane.held.flush(bob)
    assert plane.endpoint.messages_to("bob") == [("alice", 1, b"x")]  # sent, but never confirmed
    assert plane.registry.held_count("app", "bob") == 1 and plane.held.pending_for("app", "bob")


def test_messages_for_a_stopped_process_are_dropped_and_never_reach_its_successor() -> None:
    plane = Plane()
    alice = connected(plane.sessions, "app", "alice")
    plane.fwd(alice, "bob", 1, b"for the old bob")
    plane.held.forget("app", "bob")  # bob was stopped
    plane.stopped.add("bob")
    plane.fwd(alice, "bob", 2, b"after the stop")
    assert plane.registry.rows == [] and not plane.held.pending_for("app", "bob")
    assert plane.endpoint.acks_to(alice.ident) == [(1, True), (2, False)]  # 2: dropped, the sender may forget it
    plane.stopped.clear()
    plane.start("bob")  # a new process of the same name
    time.sleep(0.1)
    assert plane.endpoint.messages_to("bob") == []


def test_a_relayed_message_claiming_another_source_is_refused() -> None:
    plane = Plane()
    mallory = connected(plane.sessions, "app", "mallory")
    plane.fwd(mallory, "alice", 1, b"forged", src="bob")
    assert plane.registry.rows == []
    ((ident, hdr),) = plane.endpoint.sent_to
    assert ident == mallory.ident and hdr["t"] == "err" and hdr["err"]["type"] == "ProtocolError"
    plane.endpoint.deliver("fwd", mallory, {"dst": "alice", "src": "mallory", "ep": "another-epoch", "key": "k",
                                            "seq": 1}, Frame(b"old incarnation"))
    assert plane.registry.rows == [] and plane.endpoint.sent_to[-1][1]["t"] == "err"


# ================================================================================================ the invocation router
class FakeLifecycle:
    """The controller operations the router uses, over the fake registry; a process it starts connects at once."""

    def __init__(self, registry: FakeRegistry, sessions: Sessions, resume_failed: bool = False) -> None:
        self.registry, self.sessions, self.resume_failed = registry, sessions, resume_failed
        self.swapins: list[str] = []
        self.created: list[str] = []

    def add(self, name: str, status: Status, pooled: bool = False) -> None:
        self.registry.processes_[("app", name)] = ProcRecord("app", name, status, 1.0, 128, pooled=pooled)
        if status == Status.ALLOCATED:
            connected(self.sessions, "app", name)

    def get_application(self, name: str) -> Any:
        if name != "app":
            raise ApplicationNotFound(f"no application {name!r}")
        return type("App", (), {"resume_failed": self.resume_failed})()

    def get_process(self, app: str, name: str) -> ProcRecord:
        rec = self.registry.processes_.get((app, name))
        if rec is None:
            raise ProcessNotFound(f"no process {name!r}")
        return rec

    def swapin(self, app: str, name: str) -> ProcRecord:
        self.swapins.append(name)
        self.add(name, Status.ALLOCATED, pooled=self.registry.processes_[(app, name)].pooled)
        return self.registry.processes_[(app, name)]

    def restorable_snapshot(self, app: str, name: str) -> str | None:
        return "00000000000000000001-abcdef"

    def create_process(self, app: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                       pooled: bool = False) -> ProcRecord:
        self.created.append(name)
        self.add(name, Status.ALLOCATED, pooled=pooled)
        return self.registry.processes_[(app, name)]


class Router:
    """An Invoker with its fakes; the processes echo the payload, except ``hang`` (no answer until released)."""

    def __init__(self, **cfg: Any) -> None:
        self.cfg = ControlPlaneConfig(home=Path("unused"), invoke_timeout=5.0).with_options(**cfg)
        self.registry, self.sessions, self.endpoint = FakeRegistry(), Sessions(), FakeEndpoint()
        self.lifecycle = FakeLifecycle(self.registry, self.sessions, self.cfg.resume_failed)
        self.hung: list[Future[Any]] = []
        self.endpoint.behaviour = self._process
        self.invoker = Invoker(self.cfg, self.registry, self.sessions, self.endpoint,
                               self.lifecycle)

    def _process(self, session: Session, hdr: dict[str, Any], payload: bytes) -> None:
        fut = session.pending[hdr["id"]]
        if hdr["fn"] == "hang":
            self.hung.append(fut)
        else:
            fut.set_result(("b", payload))

    def release(self) -> None:
        for fut in self.hung:
            if not fut.done():
                fut.set_result(("b", b"late"))


def test_a_sticky_call_runs_in_its_process_and_is_counted_while_it_runs() -> None:
    r = Router()
    r.lifecycle.add("p", Status.ALLOCATED)
    session = r.sessions.get("app", "p")
    assert session is not None
    before = session.cp_last
    res = r.invoker.invoke("app", "echo", b"hello", process="p")
    assert (res.payload, res.content_type, res.process) == (b"hello", "b", "p") and res.id
    assert session.cp_inflight == 0 and session.pending == {} and session.cp_last >= before
    call = r.invoker.submit("app", "hang", b"", process="p")
    assert call is not None and session.cp_inflight == 1 and session.busy()  # the downscaler leaves it alone
    call.done()
    assert session.cp_inflight == 0


def test_a_sticky_call_swaps_a_swapped_out_process_in_first() -> None:
    r = Router()
    r.lifecycle.add("p", Status.SWAPPED_OUT)
    assert r.invoker.invoke("app", "echo", b"back", process="p").payload == b"back"
    assert r.lifecycle.swapins == ["p"]


def test_a_failed_process_is_resumed_only_when_asked_for_and_a_closed_one_never() -> None:
    r = Router()
    r.lifecycle.add("p", Status.FAILED)
    with pytest.raises(ProcessFailed, match="00000000000000000001-abcdef"):
        r.invoker.invoke("app", "echo", b"", process="p")
    assert r.lifecycle.swapins == [] and r.endpoint.sent == []
    resuming = Router(resume_failed=True)
    resuming.lifecycle.add("p", Status.FAILED)
    assert resuming.invoker.invoke("app", "echo", b"again", process="p").payload == b"again"
    assert resuming.lifecycle.swapins == ["p"]
    r.lifecycle.add("c", Status.CLOSED)
    with pytest.raises(InvalidState, match="CLOSED"):
        r.invoker.invoke("app", "echo", b"", process="c")


def test_faas_calls_take_an_idle_pooled_process_else_swap_one_in_else_create_one_up_to_the_bound() -> None:
    r = Router(max_pooled=3)
    r.lifecycle.add("sticky", Status.ALLOCATED)  # not pooled: never chosen
    assert r.invoker.invoke("app", "echo", b"1").process == "pool-0"
    assert r.invoker.invoke("app", "echo", b"2").process == "pool-0"  # idle again: taken again
    assert r.lifecycle.created == ["pool-0"]
    first = r.invoker.submit("app", "hang", b"")
    assert first is not None and first.process == "pool-0"
    r.lifecycle.add("pool-7", Status.SWAPPED_OUT, pooled=True)
    assert r.invoker.invoke("app", "echo", b"3").process == "pool-7"  # pool-0 is busy: the swapped-out one
    assert r.lifecycle.swapins == ["pool-7"]
    second = r.invoker.submit("app", "hang", b"")
    assert second is not None and second.process == "pool-7"
    assert r.invoker.invoke("app", "echo", b"4").process == "pool-1"  # all busy: a new one, the first free name
    third = r.invoker.submit("app", "hang", b"")
    assert third is not None and third.process == "pool-1"
    with pytest.raises(Overloaded, match="max_pooled"):
        r.invoker.invoke("app", "echo", b"5")
    for call in (first, second, third):
        call.done()
    assert r.invoker.invoke("app", "echo", b"6").process in {"pool-0", "pool-1", "pool-7"}
    assert r.lifecycle.created == ["pool-0", "pool-1"]


def test_a_call_that_cannot_run_is_refused_before_anything_is_sent() -> None:
    r = Router(max_payload=10)
    r.lifecycle.add("p", Status.ALLOCATED)
    for bad in (-1, 0, float("nan"), float("inf"), True, "5", 86400.0 * 8):
        with pytest.raises(BadRequest, match="nothing was run"):
            r.invoker.invoke("app", "echo", b"", process="p", timeout=bad)
    with pytest.raises(PayloadTooLarge):
        r.invoker.invoke("app", "echo", b"x" * 11, process="p")
    with pytest.raises(ApplicationNotFound):
        r.invoker.invoke("other", "echo", b"", process="p")
    assert r.endpoint.sent == []


def test_a_call_that_is_not_answered_times_out_and_releases_its_process() -> None:
    r = Router()
    r.lifecycle.add("p", Status.ALLOCATED)
    t0 = time.monotonic()
    with pytest.raises(Timeout, match="'hang' in 'p' timed out after 0.2 s"):
        r.invoker.invoke("app", "hang", b"", process="p", timeout=0.2)
    assert 0.2 <= time.monotonic() - t0 < 1
    session = r.sessions.get("app", "p")
    assert session is not None and session.cp_inflight == 0 and session.pending == {}


def test_submit_without_waiting_never_swaps_in_or_creates() -> None:
    r = Router()
    r.lifecycle.add("p", Status.SWAPPED_OUT)
    assert r.invoker.submit("app", "echo", b"", process="p", wait_ready=False) is None
    assert r.invoker.submit("app", "echo", b"", wait_ready=False) is None  # no idle pooled process
    assert r.lifecycle.swapins == [] and r.lifecycle.created == [] and r.endpoint.sent == []
    r.lifecycle.add("q", Status.ALLOCATED)
    call = r.invoker.submit("app", "echo", b"now", process="q", wait_ready=False)
    assert call is not None and call.future.result(1) == ("b", b"now")
    call.done()


def test_a_relayed_peer_call_swaps_the_peer_in_and_answers_the_caller_and_is_bounded() -> None:
    r = Router()
    r.lifecycle.add("caller", Status.ALLOCATED)
    r.lifecycle.add("peer", Status.SWAPPED_OUT)
    caller = r.sessions.get("app", "caller")
    assert caller is not None and caller.ident is not None
    r.endpoint.deliver("cinv", caller, {"id": "c1", "dst": "peer", "fn": "echo"}, Frame(b"relayed"))
    assert wait_for(lambda: r.endpoint.sent_to, timeout=2)
    ((ident, hdr),) = r.endpoint.sent_to
    assert ident == caller.ident and (hdr["t"], hdr["id"], hdr["ok"]) == ("res", "c1", True)
    assert r.lifecycle.swapins == ["peer"]
    try:
        for i in range(MAX_RELAYED):
            r.endpoint.deliver("cinv", caller, {"id": f"h{i}", "dst": "peer", "fn": "hang"}, Frame(b""))
        assert wait_for(lambda: len(r.hung) == MAX_RELAYED, timeout=2)
        r.endpoint.deliver("cinv", caller, {"id": "one-too-many", "dst": "peer", "fn": "echo"}, Frame(b""))
        refused = [h for _, h in r.endpoint.sent_to if h["id"] == "one-too-many"]
        assert refused and refused[0]["ok"] is False and refused[0]["err"]["type"] == "Overloaded"
    finally:
        r.release()
    assert wait_for(lambda: len(r.endpoint.sent_to) == MAX_RELAYED + 2, timeout=2)
    assert all(h["ok"] for _, h in r.endpoint.sent_to if h["id"].startswith("h"))
