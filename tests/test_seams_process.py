"""The process runtime's pieces alone, through their seams, with fakes: the swapper (an in-memory store, a fake
runtime around it), the peers (a fake ZeroMQ context and control plane; the direct path on in-process ZeroMQ
sockets, see below) and the leader/follower pool (an eventfd for the sockets, fake handlers). Each test asserts
what the piece's docstring promises; the control plane's pieces are in ``test_seams.py``.

The peers' direct path needs real ZeroMQ sockets: it sends with ``zmqio.send_frames``, which calls the compiled
``zmq.backend.Socket.send`` unbound (``praas_kit/zmqio.py``: ``_send = zmq.backend.Socket.send``), so a fake socket
cannot stand in; those tests use ``inproc://`` sockets of a context of their own (no network, no other process).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import zmq
from helpers import wait_for

from praas_kit import wire
from praas_kit.errors import InvalidState, ProcessDied, StorageError
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.peers import ACK_BATCH, ACK_DELAY, Peers
from praas_kit.process.snapshot import restore_snapshot
from praas_kit.process.state import StateStore
from praas_kit.process.swapper import Phase, Swapper
from praas_kit.process.threads import IOPool
from praas_kit.storage.base import Chunks, SnapshotReader, SnapshotWriter, SwapStore, new_snapshot_id
from praas_kit.storage.signing import process_key


class Frame:
    """A received ZeroMQ frame as the handlers see it (``.bytes``)."""

    def __init__(self, data: bytes) -> None:
        self.bytes = data


# ================================================================================================ the swapper
class MemoryStore(SwapStore):
    """A swap store in memory that logs what its writers do; ``fail_on`` names an object whose write fails."""

    kind = "memory"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.objects: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self.manifests: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.log: list[str] = []

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> MemoryStore:
        return cls()

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def writer(self, app: str, proc: str, snapshot: str) -> SnapshotWriter:
        store, key = self, (app, proc, snapshot)

        class Writer(SnapshotWriter):
            def put(self, name: str, chunks: Chunks) -> int:
                store.log.append(f"put {name}")
                if name == store.fail_on:
                    raise StorageError(f"injected failure writing {name}")
                data = b"".join(bytes(c) for c in chunks)
                store.objects.setdefault(key, {})[name] = data
                return len(data)

            def commit(self, manifest: dict[str, Any]) -> None:
                store.log.append("commit")
                store.manifests[key] = manifest

            def abort(self) -> None:
                store.log.append("abort")
                store.objects.pop(key, None)

        return Writer()

    def reader(self, app: str, proc: str, snapshot: str) -> SnapshotReader:
        store, key = self, (app, proc, snapshot)

        class Reader(SnapshotReader):
            def manifest(self) -> dict[str, Any]:
                if key not in store.manifests:
                    raise StorageError(f"no snapshot {snapshot}")
                return store.manifests[key]

            def get(self, name: str) -> bytes:
                return store.objects[key][name]

        return Reader()

    def snapshots(self, app: str, proc: str) -> list[str]:
        return sorted(s for a, p, s in self.manifests if (a, p) == (app, proc))

    def delete(self, app: str, proc: str, snapshot: str | None = None) -> None:
        for key in [k for k in {*self.objects, *self.manifests} if k[:2] == (app, proc) and snapshot in (None, k[2])]:
            self.objects.pop(key, None)
            self.manifests.pop(key, None)


KEY = process_key("11" * 32, "p")


class Runtime:
    """What a swapper needs of its process: the activity, the I/O lock, the control plane, the hooks."""

    def __init__(self, state_dir: Path, store: SwapStore | None, drain_timeout: float = 2.0, key: bytes = KEY) -> None:
        self.inflight, self.last = 0, time.time() - 3600
        self.io = threading.Lock()
        self.to_control: list[dict[str, Any]] = []
        self.before: list[tuple[Phase, bool]] = []
        self.done = threading.Event()
        self.state = StateStore()
        self.state.put("k", b"kept")
        self.mailbox = Mailbox()
        self.mailbox.put("peer", "chan", b"pending message")
        self.swapper = Swapper("app", "p", store, key, self.state, self.mailbox, state_dir, drain_timeout,
                               lambda: (self.inflight, self.last), self._send, self._locked, self._before,
                               self.done.set)

    def _send(self, frames: list[Any]) -> None:
        self.to_control.append(wire.decode(frames)[0])

    def _locked(self, fn: Callable[[], None]) -> None:
        with self.io:
            fn()

    def _before(self) -> None:
        self.before.append((self.swapper.phase, self.io.locked()))

    def swap(self, snapshot: str, **fields: Any) -> None:
        """A ``swap`` frame from the control plane, handled under the I/O lock."""
        with self.io:
            self.swapper.start({"t": "swap", "rid": f"r-{len(self.to_control)}", "snapshot": snapshot, **fields})

    def answers(self) -> list[tuple[bool, str]]:
        return [(h["ok"], h.get("err", {}).get("message", "")) for h in self.to_control if h["t"] == "swapped"]


def test_a_swap_drains_the_running_calls_then_writes_the_snapshot_manifest_last(tmp_path: Path) -> None:
    store = MemoryStore()
    rt = Runtime(tmp_path, store)
    rt.inflight = 1
    sid = new_snapshot_id()
    rt.swap(sid)
    assert rt.swapper.phase is Phase.DRAINING  # no new invocation is admitted from now on
    time.sleep(0.1)
    assert rt.swapper.phase is Phase.DRAINING and store.log == [] and rt.to_control == []  # waits for the call
    rt.inflight = 0
    assert rt.done.wait(2)
    assert rt.swapper.phase is Phase.SNAPSHOT and rt.before == [(Phase.SNAPSHOT, True)]  # under the I/O lock
    assert store.log[-1] == "commit" and store.log.count("commit") == 1
    (answer,) = rt.to_control
    assert (answer["t"], answer["ok"], answer["snapshot"]) == ("swapped", True, sid) and answer["bytes"] > 0
    state, mailbox = StateStore(), Mailbox()
    restore_snapshot(store, "app", "p", sid, state, mailbox, tmp_path / "restored", KEY)
    assert state.get("k") == b"kept" and mailbox.get("peer", "chan", 0) == b"pending message"


def test_an_idle_swap_is_refused_while_the_process_works_or_was_just_used(tmp_path: Path) -> None:
    store = MemoryStore()
    rt = Runtime(tmp_path, store)
    rt.inflight = 1
    rt.swap(new_snapshot_id(), idle=5)
    rt.inflight, rt.last = 0, time.time()
    rt.swap(new_snapshot_id(), idle=5)
    assert rt.answers() == [(False, "process is not idle")] * 2
    assert rt.swapper.phase is Phase.RUN and store.log == [] and not rt.done.is_set()
    rt.last = time.time() - 6
    rt.swap(new_snapshot_id(), idle=5)
    assert rt.done.wait(2) and rt.answers()[-1] == (True, "")


def test_a_second_swap_while_one_drains_is_refused(tmp_path: Path) -> None:
    rt = Runtime(tmp_path, MemoryStore())
    rt.inflight = 1
    first = new_snapshot_id()
    rt.swap(first)
    rt.swap(new_snapshot_id())
    assert rt.answers() == [(False, "a swap is already in progress")]
    rt.inflight = 0
    assert rt.done.wait(2) and rt.to_control[-1]["snapshot"] == first


def test_a_drain_that_runs_out_of_time_refuses_the_swap_and_the_process_serves_on(tmp_path: Path) -> None:
    store = MemoryStore()
    rt = Runtime(tmp_path, store, drain_timeout=0.05)
    rt.inflight = 1
    rt.swap(new_snapshot_id())
    assert wait_for(lambda: rt.answers(), timeout=2)
    ((ok, why),) = rt.answers()
    assert not ok and "1 invocation(s) still running after 0.05 s" in why
    assert rt.swapper.phase is Phase.RUN and store.log == [] and rt.before == [] and not rt.done.is_set()


def test_a_failed_write_refuses_the_swap_and_removes_the_partial_snapshot(tmp_path: Path) -> None:
    store = MemoryStore(fail_on="messages.bin")
    rt = Runtime(tmp_path, store)
    sid = new_snapshot_id()
    rt.swap(sid)
    assert wait_for(lambda: rt.answers(), timeout=2)
    assert rt.answers() == [(False, "injected failure writing messages.bin")]
    assert store.log == ["put state.bin", "put messages.bin", "abort"] and store.snapshots("app", "p") == []
    assert store.objects == {} and rt.swapper.phase is Phase.RUN and not rt.done.is_set()


def test_without_a_store_or_a_snapshot_key_a_swap_is_refused(tmp_path: Path) -> None:
    for rt in (Runtime(tmp_path, None), Runtime(tmp_path, MemoryStore(), key=b"")):
        rt.swap(new_snapshot_id())
        assert rt.answers() == [(False, "no swap store or no snapshot key configured")]
        assert rt.swapper.phase is Phase.RUN


# ================================================================================================ the peers
class FakeSocket:
    def __init__(self, kind: int) -> None:
        self.kind, self.options, self.connected, self.closed = kind, {}, [], False

    def setsockopt(self, option: int, value: Any) -> None:
        self.options[option] = value

    def connect(self, address: str) -> None:
        self.connected.append(address)

    def close(self, linger: int | None = None) -> None:
        self.closed = True


class FakeContext:
    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []

    def socket(self, kind: int) -> FakeSocket:
        self.sockets.append(FakeSocket(kind))
        return self.sockets[-1]


class Control:
    """The control plane as the peers see it: the frames sent to it, decoded."""

    def __init__(self) -> None:
        self.frames: list[tuple[dict[str, Any], bytes]] = []

    def __call__(self, frames: list[Any]) -> None:
        hdr, payload = wire.decode(frames)
        self.frames.append((hdr, bytes(payload)))

    def forwarded(self) -> list[tuple[str, int, bytes]]:
        return [(h["dst"], h["seq"], p) for h, p in self.frames if h["t"] == "fwd"]


def running(address: str) -> dict[str, Any]:
    return {"status": "ALLOCATED", "address": address, "key": None}


def test_messages_to_a_peer_that_does_not_run_go_through_the_control_plane_in_order() -> None:
    world: dict[str, dict[str, Any]] = {"b": {"status": "SWAPPED_OUT", "address": None}}
    ctx, control = FakeContext(), Control()
    peers = Peers(ctx, "a", "ep-a", lambda: world, control)
    for i in range(1, 4):
        assert peers.send("b", "k", f"m{i}".encode()) is None
    assert control.forwarded() == [("b", 1, b"m1"), ("b", 2, b"m2"), ("b", 3, b"m3")]
    assert {(h["src"], h["ep"], h["key"]) for h, _ in control.frames} == {("a", "ep-a", "k")}
    assert ctx.sockets == []  # no socket to a process that does not run
    # it runs again, but what went through the control plane is not delivered yet: nothing may overtake it
    world["b"] = running("tcp://10.0.0.2:8000")
    peers.world_changed(world)
    assert peers.send("b", "k", b"m4") is None and control.forwarded()[-1] == ("b", 4, b"m4")
    peers.forwarded("b", 1, delivered=False)  # held durably: the payload is dropped, the place in line kept
    assert peers.out["b"].via_cp[1] is None and not peers.out["b"].direct()
    for seq in (1, 2, 3, 4):
        peers.forwarded("b", seq, delivered=True)
    assert peers.out["b"].direct() and ctx.sockets == []


def test_a_peer_socket_is_made_once_per_running_peer_and_dropped_when_the_peer_goes() -> None:
    world = {"b": running("tcp://10.0.0.2:8000"), "c": {"status": "ALLOCATING", "address": "tcp://10.0.0.3:8000"}}
    ctx, changes = FakeContext(), []
    peers = Peers(ctx, "a", "ep-a", lambda: world, Control(), changed=lambda: changes.append(1))
    sock = peers.sock("b")
    assert sock is not None and peers.sock("b") is sock and len(ctx.sockets) == 1
    assert ctx.sockets[0].kind == zmq.DEALER and ctx.sockets[0].connected == ["tcp://10.0.0.2:8000"]
    assert ctx.sockets[0].options[zmq.LINGER] == 0 and changes == [1]  # the runtime waits on the new set
    assert peers.sock("c") is None and peers.sock("nobody") is None
    world["b"] = running("tcp://10.0.0.9:8000")  # it moved (swapped out and in elsewhere)
    peers.world_changed(world)
    assert ctx.sockets[0].closed and changes == [1, 1] and "b" not in peers.socks
    assert peers.sock("b") is not None and ctx.sockets[1].connected == ["tcp://10.0.0.9:8000"]


def test_a_peer_invocation_of_a_peer_that_does_not_run_goes_through_the_control_plane() -> None:
    control = Control()
    peers = Peers(FakeContext(), "a", "ep-a", dict, control)
    fut: Future[bytes] = Future()
    assert peers.invoke("b", "f", "i1", b"args", fut) is None
    ((hdr, payload),) = control.frames
    assert (hdr["t"], hdr["id"], hdr["dst"], hdr["fn"], payload) == ("cinv", "i1", "b", "f", b"args")
    peers.complete("i1", True, Frame(b"result"))
    assert fut.result(0) == b"result"
    failing: Future[bytes] = Future()
    peers.invoke("b", "f", "i2", b"", failing)
    peers.complete("i2", False, None, {"type": "ProcessDied", "message": "gone"})
    with pytest.raises(ProcessDied, match="gone"):
        failing.result(0)
    late: Future[bytes] = Future()
    peers.invoke("b", "f", "i3", b"", late)
    peers.cancel("i3")  # the caller gave up: a late result is dropped
    peers.complete("i3", True, Frame(b"too late"))
    assert not late.done()
    alone = Peers(FakeContext(), "a", "ep-a", dict, None)
    nowhere: Future[bytes] = Future()
    alone.invoke("b", "f", "i4", b"", nowhere)  # no control plane: nobody can swap it in
    with pytest.raises(InvalidState, match="not running"):
        nowhere.result(0)


def test_acknowledgements_are_owed_in_batches_or_after_a_delay() -> None:
    peers = Peers(FakeContext(), "a", "ep-a", dict, None)
    assert peers.ack_due_in() == float("inf")
    peers.owe("b", b"id-b", 1)
    assert 0 < peers.ack_due_in() <= ACK_DELAY
    time.sleep(ACK_DELAY)
    assert peers.ack_due_in() == 0.0
    peers = Peers(FakeContext(), "a", "ep-a", dict, None)
    for seq in range(1, ACK_BATCH):
        peers.owe("b", b"id-b", seq)
    assert peers.ack_due_in() > 0
    peers.owe("b", b"id-b", ACK_BATCH)
    assert peers.ack_due_in() == 0.0  # a full batch is due at once


@pytest.fixture
def inproc() -> Iterator[tuple[zmq.Context[Any], Callable[[], tuple[zmq.Socket[Any], str]]]]:
    """A ZeroMQ context of the test's own and a maker of bound ROUTERs on ``inproc://`` addresses; every socket of
    the context is closed afterwards."""
    ctx: zmq.Context[Any] = zmq.Context()

    def router() -> tuple[zmq.Socket[Any], str]:
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        address = f"inproc://peer-{uuid.uuid4().hex[:8]}"
        sock.bind(address)
        return sock, address

    yield ctx, router
    ctx.destroy(linger=0)


def _received(router: zmq.Socket[Any]) -> list[tuple[str, Any]]:
    """What arrived at ``router`` so far: ``("msg", seq)`` or ``("inv", fn)`` per message."""
    got = []
    while router.poll(200):
        _ident, raw, _payload = router.recv_multipart()
        got.append(("msg", wire.parse_msg(raw)[3]) if raw[:1] == b"\x03" else ("inv", wire.parse_inv(raw)[1]))
    return got


def test_direct_messages_are_kept_until_acknowledged_and_a_bounce_reroutes_them_in_order(inproc) -> None:
    ctx, make_router = inproc
    b_router, b_address = make_router()
    world = {"b": running(b_address)}
    control = Control()
    peers = Peers(ctx, "a", "ep-a", lambda: world, control)
    for i in range(1, 5):
        assert peers.send("b", "k", f"m{i}".encode()) is not None  # directly
    assert _received(b_router) == [("msg", 1), ("msg", 2), ("msg", 3), ("msg", 4)] and control.frames == []
    peers.on_frames("b", [Frame(wire.ack_header(2)), Frame(b"")])  # cumulative: 1 and 2 arrived
    assert list(peers.out["b"].unacked) == [3, 4]
    # b is swapping out: it bounces 3; 3 and 4 go again, through the control plane, in order
    peers.on_frames("b", [Frame(wire.header("ack", dst="b", seq=3, ok=False, why="swapping")), Frame(b"")])
    assert control.forwarded() == [("b", 3, b"m3"), ("b", 4, b"m4")]
    assert peers.send("b", "k", b"m5") is None  # no direct send overtakes them
    world["b"] = {"status": "SWAPPED_OUT", "address": None}
    peers.world_changed(world)
    assert "b" not in peers.socks
    b_router.close(linger=0)
    b_router, b_address = make_router()  # swapped in again, at another address
    world["b"] = running(b_address)
    peers.world_changed(world)  # b runs again; the control plane still holds 3, 4, 5
    assert peers.send("b", "k", b"m6") is None
    assert control.forwarded()[2:] == [("b", 5, b"m5"), ("b", 6, b"m6")] and _received(b_router) == []
    for seq in (3, 4, 5, 6):
        peers.forwarded("b", seq, delivered=True)
    assert peers.send("b", "k", b"m7") is not None and _received(b_router) == [("msg", 7)]  # direct again
    # b goes away with 7 unacknowledged and an invocation in flight
    fut: Future[bytes] = Future()
    assert peers.invoke("b", "f", "i1", b"", fut) is not None and _received(b_router) == [("inv", "f")]
    peers.world_changed({})
    with pytest.raises(ProcessDied, match="deleted during the invocation"):
        fut.result(0)
    assert control.forwarded()[-1] == ("b", 7, b"m7") and "b" not in peers.socks
    peers.close()


def test_owed_acknowledgements_go_to_the_senders_connection(inproc) -> None:
    ctx, make_router = inproc
    own_router, own_address = make_router()  # this process's data-plane socket
    sender = ctx.socket(zmq.DEALER)
    sender.connect(own_address)
    sender.send_multipart([wire.message_header("b", "ep-b", "k", 1), b"hi"])
    assert own_router.poll(1000)
    ident, _, _ = own_router.recv_multipart()
    peers = Peers(ctx, "a", "ep-a", dict, None)
    peers.owe("b", ident, 1)
    peers.owe("b", ident, 2)
    assert peers.flush_acks(own_router, due_only=True) is False  # not due yet (no batch, no delay)
    assert peers.flush_acks(own_router) is True
    assert sender.poll(1000) and sender.recv_multipart() == [wire.ack_header(2), b""]  # one frame for both
    assert peers.ack_due_in() == float("inf") and peers.flush_acks(own_router) is False


# ================================================================================================ the thread pool
class Pool:
    """An IOPool whose "sockets" are one eventfd: :meth:`arrive` queues input and makes it readable; the drain
    submits invocations (``("inv", fn)``) and delivers messages (``("msg", data)``) to :attr:`box`."""

    def __init__(self, workers: int) -> None:
        self.efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.fds = [self.efd]  # one list: the pool keeps its poller while the list is the same
        self.inbox: deque[tuple[str, Any]] = deque()
        self.box: list[bytes] = []
        self.ticks = 0
        self.running = self.peak = 0
        self.ran: list[Any] = []
        self.lock = threading.Lock()
        self.pool = IOPool(workers, lambda: self.fds, self._drain, self._tick, self._execute)
        self.threads = [*self.pool.start_threads(), threading.Thread(target=self.pool.run_thread)]
        self.threads[-1].start()  # the runtime's main thread runs as the last one

    def _drain(self) -> bool:
        try:
            os.eventfd_read(self.efd)
        except BlockingIOError:
            pass
        delivered = False
        while self.inbox:
            kind, item = self.inbox.popleft()
            if kind == "inv":
                self.pool.submit(item)
            else:
                self.box.append(item)
                delivered = True
        return delivered

    def _tick(self) -> float:
        self.ticks += 1
        return 0.02

    def _execute(self, fn: Callable[[], Any]) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self.ran.append(fn())
        finally:
            with self.lock:
                self.running -= 1

    def arrive(self, *items: tuple[str, Any]) -> None:
        self.inbox.extend(items)
        os.eventfd_write(self.efd, 1)

    def receive(self, timeout: float) -> bytes | None:
        """As a function waiting for a message does (``ctx.recv``)."""
        return self.pool.wait_for(lambda: self.box.pop(0) if self.box else None, time.monotonic() + timeout)

    def close(self) -> list[threading.Thread]:
        """Stop the pool (once); the threads that did not end within 2 s."""
        self.pool.stop()
        for t in self.threads:
            t.join(2)
        if self.efd >= 0:
            os.close(self.efd)
            self.efd = -1
        return [t for t in self.threads if t.is_alive()]


@pytest.fixture
def pool_of() -> Iterator[Callable[[int], Pool]]:
    """Pools with a given worker count, stopped afterwards (every thread must end)."""
    made: list[Pool] = []

    def make(workers: int) -> Pool:
        made.append(Pool(workers))
        return made[-1]

    yield make
    for p in made:
        assert p.close() == [], "a pool thread did not end"


def test_every_invocation_runs_once_and_at_most_workers_at_a_time(pool_of) -> None:
    p = pool_of(2)
    t0 = time.monotonic()
    p.arrive(*[("inv", lambda i=i: (time.sleep(0.1), i)[1]) for i in range(6)])
    assert wait_for(lambda: len(p.ran) == 6, timeout=3)
    elapsed = time.monotonic() - t0
    assert sorted(p.ran) == list(range(6)) and p.peak == 2
    assert 0.3 <= elapsed < 0.9, elapsed  # three rounds of two, not six one after another nor six at once


def test_a_function_waiting_for_a_message_gets_it_even_when_every_worker_is_busy(pool_of) -> None:
    p = pool_of(1)
    p.arrive(("inv", lambda: p.receive(2)))
    assert wait_for(lambda: p.running == 1, timeout=1)  # the only worker waits in receive
    time.sleep(0.05)
    t0 = time.monotonic()
    p.arrive(("msg", b"hello"))  # nobody else is free to drain: the waiting function does
    assert wait_for(lambda: p.ran == [b"hello"], timeout=1)
    assert time.monotonic() - t0 < 0.5
    p.arrive(("inv", lambda: p.receive(0.2)))
    assert wait_for(lambda: len(p.ran) == 2, timeout=1) and p.ran[1] is None  # nothing came: None at the deadline


def test_the_timers_run_while_the_pool_is_idle_and_stop_ends_every_thread(pool_of) -> None:
    p = pool_of(3)
    ticks = p.ticks
    time.sleep(0.3)
    assert p.ticks - ticks >= 5  # tick() said 0.02 s: the leader comes back for the timers
    assert p.ran == []
    assert p.close() == [] and p.pool.stopped
