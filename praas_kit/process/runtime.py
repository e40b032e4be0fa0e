"""The process runtime: one ZeroMQ I/O loop, a pool of function workers, state, mailbox and swapper.

Threads and ownership:

* The **I/O thread** owns every socket: the data-plane ROUTER (clients and peers connect
  here), the DEALER to the control plane, one DEALER per peer it talks to, and an inproc
  eventfd that wakes it when a worker has posted something. No other thread touches a socket.
* **Workers** (``function_workers`` threads) take invocations from the work queue, run them,
  and post results back to the I/O thread (:meth:`ProcessRuntime.post`).
* The **swapper** waits for running invocations to drain in its own thread (the I/O loop keeps
  serving meanwhile), then the I/O thread writes the snapshot; messages that arrive while it writes
  stay unacknowledged at their senders, which re-route them through the control plane.

The data plane answers malformed frames with an ``err`` frame and carries on.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from praas_kit import wire
from praas_kit.errors import (
    FunctionNotFound,
    InvalidState,
    InvocationError,
    PayloadTooLarge,
    PraasError,
    ProcessDied,
    ProtocolError,
    from_dict,
)
from praas_kit.function import REGISTRY, Invocation, encode_result, load_code
from praas_kit.process.context import Context
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.snapshot import restore_snapshot, write_snapshot
from praas_kit.process.state import StateStore
from praas_kit.storage.base import open_store

log = logging.getLogger("praas_kit.process")

ALLOCATED = "ALLOCATED"
# plain ints: pyzmq's flag enums cost microseconds per operation on the hot path
_EVENTS, _POLLIN, _NOBLOCK, _RCVMORE = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK), int(zmq.RCVMORE)


@dataclass
class ProcessConfig:
    """Everything a process runtime needs; read from ``PRAAS_*`` environment variables by :meth:`from_env`."""

    app: str
    proc: str
    code: str | None = None
    control: str | None = None  # tcp://host:port of the control plane
    secret: str = ""
    bind: str = "tcp://127.0.0.1:0"
    advertise: str | None = None  # host peers use to reach us; default: the bound interface
    state_dir: Path = field(default_factory=lambda: Path("state"))
    workers: int = 2
    max_payload: int = 64 << 20
    store: dict[str, Any] | None = None
    swapin: str | None = None
    parent_pid: int | None = None
    metrics_interval: float = 1.0
    drain_timeout: float = 30.0
    invoke_timeout: float = 300.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ProcessConfig:
        import json

        e = os.environ if env is None else env
        return cls(
            app=e["PRAAS_APP"],
            proc=e["PRAAS_PROCESS"],
            code=e.get("PRAAS_CODE") or None,
            control=e.get("PRAAS_CONTROL") or None,
            secret=e.get("PRAAS_SECRET", ""),
            bind=e.get("PRAAS_BIND", "tcp://127.0.0.1:0"),
            advertise=e.get("PRAAS_ADVERTISE") or None,
            state_dir=Path(e.get("PRAAS_STATE_DIR", "state")),
            workers=int(e.get("PRAAS_WORKERS", "2")),
            max_payload=int(e.get("PRAAS_MAX_PAYLOAD", str(64 << 20))),
            store=json.loads(e["PRAAS_SWAP_STORE"]) if e.get("PRAAS_SWAP_STORE") else None,
            swapin=e.get("PRAAS_SWAPIN") or None,
            parent_pid=int(e["PRAAS_PARENT_PID"]) if e.get("PRAAS_PARENT_PID") else None,
            metrics_interval=float(e.get("PRAAS_METRICS_INTERVAL", "1.0")),
            drain_timeout=float(e.get("PRAAS_DRAIN_TIMEOUT", "30")),
            invoke_timeout=float(e.get("PRAAS_INVOKE_TIMEOUT", "300")),
        )


def _recv_frames(sock: zmq.Socket[Any]) -> list[bytes]:
    """One multipart message as bytes. Functions receive their payload as ``bytes``, so one copy is needed
    anyway; libzmq makes it directly, which is cheaper than a zero-copy frame converted later."""
    parts = [sock.recv(_NOBLOCK)]
    while sock.getsockopt(_RCVMORE):
        parts.append(sock.recv(_NOBLOCK))
    return parts


class _PeerOut:
    """Outgoing channel state towards one peer: sequence numbers and unacknowledged messages."""

    def __init__(self) -> None:
        self.seq = 0
        self.unacked: OrderedDict[int, tuple[str, bytes]] = OrderedDict()  # sent directly
        self.via_cp: OrderedDict[int, tuple[str, bytes]] = OrderedDict()  # forwarded to the control plane
        self.blocked = False  # the peer bounced a message: no direct sends until it is ALLOCATED again

    def direct(self) -> bool:
        """Whether the next message may go straight to the peer without overtaking earlier ones."""
        return not self.blocked and not self.via_cp


class ProcessRuntime:
    """One cloud process. Construct, then :meth:`run` (blocks until stop or swap-out)."""

    def __init__(self, cfg: ProcessConfig) -> None:
        self.cfg = cfg
        self.app, self.proc = cfg.app, cfg.proc
        self.state_dir = cfg.state_dir.resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = StateStore()
        self.mailbox = Mailbox()
        self.context = Context(self)
        self.invoke_timeout = cfg.invoke_timeout
        self.epoch = os.urandom(4).hex()
        self.world: dict[str, dict[str, Any]] = {}
        self._world_cond = threading.Condition()
        self.functions = load_code(cfg.code) if cfg.code else dict(REGISTRY)
        self.restored: tuple[int, float] | None = None
        if cfg.swapin:
            if not cfg.store:
                raise InvalidState("swap-in requested but no swap store configured")
            t0 = time.perf_counter()
            nbytes = restore_snapshot(open_store(cfg.store), self.app, self.proc, cfg.swapin, self.state,
                                      self.mailbox, self.state_dir)
            self.restored = (nbytes, time.perf_counter() - t0)
            log.info("restored snapshot %s (%d bytes in %.3f s)", cfg.swapin, *self.restored)
        # metrics
        self._mlock = threading.Lock()
        self.invocations = 0
        self.busy = 0.0
        self.last_activity = time.time()
        self.inflight = 0
        # phases: "run" -> "draining" -> "snapshot" -> exit
        self.phase = "run"
        self._outq: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._workq: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._pending_peer: dict[str, tuple[str, Future[bytes]]] = {}  # inv id -> (peer, future)
        self._peer_out: dict[str, _PeerOut] = {}
        self._peer_socks: dict[str, zmq.Socket[Any]] = {}
        self._peer_addr: dict[str, str] = {}
        self._stop = False
        self.ctx = zmq.Context.instance()
        self.address = ""

    # ---------------------------------------------------------------- worker side
    def post(self, item: tuple[Any, ...]) -> None:
        """Hand ``item`` to the I/O thread (thread-safe): queue it, then wake the loop through an eventfd."""
        self._outq.put(item)
        os.eventfd_write(self._wake_fd, 1)

    def run_inline(self, inv: Invocation) -> bytes | memoryview:
        """Run an invocation in the calling thread; raise :class:`InvocationError` on failure."""
        fn = self.functions.get(inv.function)
        if fn is None:
            raise FunctionNotFound(f"no function {inv.function!r} in application {self.app!r}")
        try:
            value = fn(inv, self.context)
        except PraasError:
            raise
        except Exception as exc:
            raise InvocationError(f"{inv.function} raised {type(exc).__name__}: {exc}",
                                  traceback=traceback.format_exc()) from None
        return encode_result(value)[1]

    def _worker(self) -> None:
        while True:
            item = self._workq.get()
            if item is None:
                return
            route, inv_id, fname, payload = item
            t0 = time.perf_counter()
            fn = self.functions.get(fname)
            try:
                value = fn(Invocation(fname, inv_id, payload), self.context)  # type: ignore[misc]
                ct, out = encode_result(value)
                hdr = wire.result_header(inv_id, ct)
            except PraasError as exc:
                hdr, out = wire.header("res", id=inv_id, ok=False, err=exc.to_dict()), b""
            except Exception as exc:
                err = InvocationError(f"{fname} raised {type(exc).__name__}: {exc}",
                                      traceback=traceback.format_exc())
                hdr, out = wire.header("res", id=inv_id, ok=False, err=err.to_dict()), b""
            with self._mlock:
                self.invocations += 1
                self.busy += time.perf_counter() - t0
                self.last_activity = time.time()
            self.post(("res", route, hdr, out))

    # ---------------------------------------------------------------- peers (called from workers)
    def invoke_peer(self, dst: str, fn: str, inv_id: str, payload: bytes) -> Future[bytes]:
        """Start an invocation in peer ``dst``; the future resolves to the result bytes."""
        fut: Future[bytes] = Future()
        self.post(("pinv", dst, fn, inv_id, payload, fut))
        return fut

    # ---------------------------------------------------------------- I/O thread
    def _bind(self) -> None:
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 1000)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, self.cfg.max_payload + (1 << 20))
        self.router.bind(self.cfg.bind)
        endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        port = endpoint.rsplit(":", 1)[1]
        host = self.cfg.advertise
        if not host:
            bound = endpoint.split("//", 1)[1].rsplit(":", 1)[0]
            host = bound if bound not in ("0.0.0.0", "*") else socket.gethostbyname(socket.gethostname())
        self.address = f"tcp://{host}:{port}"
        self.ctl = None
        if self.cfg.control:
            self.ctl = self.ctx.socket(zmq.DEALER)
            self.ctl.setsockopt(zmq.LINGER, 2000)
            self.ctl.connect(self.cfg.control)
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        self.poller.register(self._wake_fd, zmq.POLLIN)
        if self.ctl is not None:
            self.poller.register(self.ctl, zmq.POLLIN)

    def run(self) -> int:
        """Serve until stopped or swapped out; the exit code."""
        self._bind()
        threads = [threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True)
                   for i in range(max(1, self.cfg.workers))]
        for t in threads:
            t.start()
        if self.ctl is not None:
            extra = {"restored": self.restored[0], "restore_seconds": self.restored[1]} if self.restored else {}
            self.ctl.send_multipart([wire.header("hello", app=self.app, proc=self.proc, secret=self.cfg.secret,
                                                 addr=self.address, pid=os.getpid(), **extra), b""])
        log.info("process %s/%s serving at %s", self.app, self.proc, self.address)
        next_metrics = time.monotonic() + self.cfg.metrics_interval
        try:
            while not self._stop:
                timeout = max(0.0, next_metrics - time.monotonic())
                events = dict(self.poller.poll(int(timeout * 1000) + 1))
                if self.router in events:
                    for _ in range(64):  # bounded, so that results and the control plane are served too
                        if not self.router.getsockopt(_EVENTS) & _POLLIN:
                            break
                        self._on_router(_recv_frames(self.router))
                if self._wake_fd in events:
                    self._drain_wake()
                if self.ctl is not None and self.ctl in events:
                    while self.ctl.getsockopt(_EVENTS) & _POLLIN:
                        self._on_ctl(self.ctl.recv_multipart(_NOBLOCK, copy=False))
                for name, sock in list(self._peer_socks.items()):
                    if sock in events:
                        self._on_peer(name, sock)
                if time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self.cfg.metrics_interval
                    self._tick()
        finally:
            for _ in threads:
                self._workq.put(None)
            self._close()
        return 0

    def _close(self) -> None:
        for sock in self._peer_socks.values():
            sock.close(linger=0)
        self.router.close()
        if self.ctl is not None:
            self.ctl.close()
        os.close(self._wake_fd)
        # flush what is queued (a swap confirmation, last replies) before the process exits
        self.ctx.destroy(linger=2000)

    def _tick(self) -> None:
        if self.cfg.parent_pid and os.getppid() != self.cfg.parent_pid:
            log.warning("control plane (pid %s) is gone; exiting", self.cfg.parent_pid)
            self._stop = True
            return
        if self.ctl is not None:
            with self._mlock:
                hdr = wire.header("metrics", inv=self.invocations, busy=self.busy, last=self.last_activity,
                                  inflight=self.inflight)
            self.ctl.send_multipart([hdr, b""])

    def _reply(self, route: tuple[Any, ...], hdr: bytes, payload: Any) -> None:
        copy = len(payload) < 65536  # zero-copy pays off only for large payloads
        if route[0] == "r":
            self.router.send_multipart([route[1], hdr, payload], copy=copy)
        elif route[0] == "c" and self.ctl is not None:
            self.ctl.send_multipart([hdr, payload], copy=copy)

    def _error(self, route: tuple[Any, ...], inv_id: str, exc: PraasError) -> None:
        self._reply(route, wire.header("res", id=inv_id, ok=False, err=exc.to_dict()), b"")

    def _admit(self, route: tuple[Any, ...], hdr: dict[str, Any], payload: Any) -> None:
        inv_id, fname = hdr["id"], hdr["fn"]
        if self.phase != "run":
            return self._error(route, inv_id, InvalidState(f"process {self.proc!r} is swapping out"))
        if len(payload) > self.cfg.max_payload:
            return self._error(route, inv_id, PayloadTooLarge(
                f"payload of {len(payload)} bytes exceeds the limit of {self.cfg.max_payload} bytes"))
        if fname not in self.functions:
            return self._error(route, inv_id, FunctionNotFound(
                f"no function {fname!r} in application {self.app!r}"))
        with self._mlock:
            self.inflight += 1
        self._workq.put((route, inv_id, fname, payload.bytes if hasattr(payload, "bytes") else payload))

    def _on_router(self, frames: list[Any]) -> None:
        ident = frames[0]
        try:
            hdr, payload = wire.decode(frames[1:])
        except ProtocolError as exc:
            self.router.send_multipart([ident, wire.header("err", err=exc.to_dict()), b""])
            return
        t = hdr["t"]
        if t == "inv":
            self._admit(("r", ident), hdr, payload)
        elif t == "msg":
            self._on_msg(hdr, payload, lambda h: self.router.send_multipart([ident, h, b""]))
        elif t == "ping":
            self.router.send_multipart([ident, wire.header("pong", id=hdr["id"]), b""])
        else:
            err = ProtocolError(f"frame type {t!r} is not accepted on the data plane")
            self.router.send_multipart([ident, wire.header("err", err=err.to_dict()), b""])

    def _on_msg(self, hdr: dict[str, Any], payload: Any, reply: Any) -> None:
        if self.phase == "snapshot":  # too late to be part of the snapshot: bounce to the control plane
            reply(wire.header("ack", dst=self.proc, seq=hdr["seq"], ok=False, src=hdr["src"], ep=hdr["ep"]))
            return
        self.mailbox.put(hdr["src"], hdr["key"], payload.bytes if hasattr(payload, "bytes") else payload,
                         seq=hdr["seq"], ep=hdr["ep"])
        reply(wire.header("ack", dst=self.proc, seq=hdr["seq"], ok=True, src=hdr["src"], ep=hdr["ep"]))

    def _drain_wake(self) -> None:
        try:
            os.eventfd_read(self._wake_fd)
        except BlockingIOError:
            pass
        outq = self._outq
        while not outq.empty():
            item = outq.get_nowait()
            kind = item[0]
            if kind == "res":
                with self._mlock:
                    self.inflight -= 1
                self._reply(item[1], item[2], item[3])
            elif kind == "send":
                self._send_msg(item[1], item[2], item[3])
            elif kind == "pinv":
                self._start_peer_invoke(*item[1:])
            elif kind == "swapped":
                self._finish_swap(*item[1:])

    # ---------------------------------------------------------------- peers
    def _peer_sock(self, name: str) -> zmq.Socket[Any] | None:
        sock = self._peer_socks.get(name)
        info = self.world.get(name)
        if sock is None and info and info.get("status") == ALLOCATED and info.get("address"):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(info["address"])
            self._peer_socks[name] = sock
            self._peer_addr[name] = info["address"]
            self.poller.register(sock, zmq.POLLIN)
        return sock

    def _drop_peer(self, name: str) -> None:
        sock = self._peer_socks.pop(name, None)
        if sock is not None:
            self.poller.unregister(sock)
            sock.close(linger=0)

    def _send_msg(self, dst: str, key: str, data: bytes) -> None:
        out = self._peer_out.setdefault(dst, _PeerOut())
        out.seq += 1
        sock = self._peer_sock(dst) if out.direct() else None
        if sock is not None:
            out.unacked[out.seq] = (key, data)
            sock.send_multipart([wire.header("msg", src=self.proc, ep=self.epoch, key=key, seq=out.seq), data],
                                copy=False)
        else:
            self._forward(dst, out, out.seq, key, data)

    def _forward(self, dst: str, out: _PeerOut, seq: int, key: str, data: bytes) -> None:
        out.via_cp[seq] = (key, data)
        if self.ctl is not None:
            self.ctl.send_multipart([wire.header("fwd", dst=dst, src=self.proc, ep=self.epoch, key=key, seq=seq),
                                     data], copy=False)

    def _reroute(self, dst: str) -> None:
        """Send every unacknowledged direct message to ``dst`` through the control plane, in order."""
        out = self._peer_out.get(dst)
        if out is None:
            return
        out.blocked = True
        pending, out.unacked = out.unacked, OrderedDict()
        for seq, (key, data) in pending.items():
            self._forward(dst, out, seq, key, data)

    def _start_peer_invoke(self, dst: str, fn: str, inv_id: str, payload: bytes, fut: Future[bytes]) -> None:
        sock = self._peer_sock(dst)
        hdr_fields = {"id": inv_id, "fn": fn}
        if sock is not None:
            self._pending_peer[inv_id] = (dst, fut)
            sock.send_multipart([wire.header("inv", **hdr_fields), payload], copy=False)
        elif self.ctl is not None:  # not running: the control plane swaps it in
            self._pending_peer[inv_id] = ("", fut)
            self.ctl.send_multipart([wire.header("cinv", dst=dst, **hdr_fields), payload], copy=False)
        else:
            fut.set_exception(InvalidState(f"process {dst!r} is not running"))

    def _complete(self, hdr: dict[str, Any], payload: Any) -> None:
        entry = self._pending_peer.pop(hdr["id"], None)
        if entry is None:
            return
        fut = entry[1]
        if hdr["ok"]:
            fut.set_result(payload.bytes if hasattr(payload, "bytes") else bytes(payload))
        else:
            fut.set_exception(from_dict(hdr.get("err")))

    def _on_peer(self, name: str, sock: zmq.Socket[Any]) -> None:
        while sock.getsockopt(_EVENTS) & _POLLIN:
            frames = sock.recv_multipart(_NOBLOCK, copy=False)
            try:
                hdr, payload = wire.decode(frames)
            except ProtocolError as exc:
                log.warning("bad frame from peer %s: %s", name, exc)
                continue
            if hdr["t"] == "res":
                self._complete(hdr, payload)
            elif hdr["t"] == "ack":
                out = self._peer_out.get(name)
                if out is not None and hdr["ok"]:
                    out.unacked.pop(hdr["seq"], None)
                elif out is not None:  # bounced: the peer is swapping out; go via the control plane
                    out.blocked = True
                    self._reroute(name)

    # ---------------------------------------------------------------- control plane
    def _on_ctl(self, frames: list[Any]) -> None:
        try:
            hdr, payload = wire.decode(frames)
        except ProtocolError as exc:
            log.warning("bad frame from the control plane: %s", exc)
            return
        t = hdr["t"]
        if t == "inv":
            self._admit(("c",), hdr, payload)
        elif t == "msg":
            self._on_msg(hdr, payload, lambda h: self.ctl.send_multipart([h, b""]))  # type: ignore[union-attr]
        elif t == "res":  # result of a "cinv"
            self._complete(hdr, payload)
        elif t == "ack":  # the control plane took a forwarded message
            out = self._peer_out.get(hdr["dst"])
            if out is not None:
                out.via_cp.pop(hdr["seq"], None)
        elif t == "world":
            self._on_world(hdr["procs"])
        elif t == "swap":
            self._start_swap(hdr)
        elif t == "stop":
            self.ctl.send_multipart([wire.header("swapped", rid=hdr["rid"], ok=True, stopped=True), b""])  # type: ignore[union-attr]
            self._stop = True
        elif t == "ping":
            self.ctl.send_multipart([wire.header("pong", id=hdr["id"]), b""])  # type: ignore[union-attr]

    def wait_for_peer(self, name: str, timeout: float) -> bool:
        """Wait until ``name`` is in the world (a world update may be on its way); whether it is."""
        with self._world_cond:
            return self._world_cond.wait_for(lambda: name in self.world, timeout)

    def _on_world(self, procs: dict[str, Any]) -> None:
        with self._world_cond:
            self.world = {str(k): dict(v) for k, v in procs.items() if isinstance(v, dict)}
            self._world_cond.notify_all()
        for name in list(self._peer_socks):
            info = self.world.get(name)
            if info is None or info.get("status") != ALLOCATED or info.get("address") != self._peer_addr.get(name):
                self._drop_peer(name)
                self._reroute(name)
                for inv_id, (peer, fut) in list(self._pending_peer.items()):
                    if peer == name:
                        del self._pending_peer[inv_id]
                        status = info.get("status") if info else "deleted"
                        fut.set_exception(ProcessDied(f"process {name!r} became {status} during the invocation"))
        for name, out in self._peer_out.items():
            info = self.world.get(name)
            if info and info.get("status") == ALLOCATED and name not in self._peer_socks and out.blocked:
                out.blocked = False  # running again (after swap-in); direct once via_cp drains

    # ---------------------------------------------------------------- swap
    def _start_swap(self, hdr: dict[str, Any]) -> None:
        if self.phase != "run":
            self._swap_refused(hdr["rid"], InvalidState("a swap is already in progress"))
            return
        idle = hdr.get("idle")
        with self._mlock:
            busy = self.inflight > 0 or (isinstance(idle, (int, float)) and time.time() - self.last_activity < idle)
        if idle is not None and busy:
            self._swap_refused(hdr["rid"], InvalidState("process is not idle"))
            return
        if not self.cfg.store:
            self._swap_refused(hdr["rid"], InvalidState("no swap store configured"))
            return
        self.phase = "draining"
        threading.Thread(target=self._swap_thread, args=(hdr["rid"], hdr["snapshot"]), daemon=True).start()

    def _swap_thread(self, rid: str, snapshot: str) -> None:
        deadline = time.monotonic() + self.cfg.drain_timeout
        while True:
            with self._mlock:
                inflight = self.inflight
            if inflight == 0:
                break
            if time.monotonic() > deadline:
                self.post(("swapped", rid, snapshot, InvalidState(
                    f"swap-out refused: {inflight} invocation(s) still running after {self.cfg.drain_timeout} s")))
                return
            time.sleep(0.005)
        self.post(("swapped", rid, snapshot, None))

    def _finish_swap(self, rid: str, snapshot: str, error: PraasError | None) -> None:
        if error is not None:
            self.phase = "run"
            self._swap_refused(rid, error)
            return
        # drained: no invocation runs. From now on bounced messages go to the control plane.
        self.phase = "snapshot"
        for dst in list(self._peer_out):
            self._reroute(dst)
        try:
            nbytes, secs = write_snapshot(open_store(self.cfg.store or {}), self.app, self.proc, snapshot,
                                          self.state, self.mailbox, self.state_dir)
        except PraasError as exc:
            log.error("swap-out failed: %s", exc)
            self.phase = "run"
            self._swap_refused(rid, exc)
            return
        self.ctl.send_multipart([wire.header("swapped", rid=rid, ok=True, bytes=nbytes, seconds=secs,  # type: ignore[union-attr]
                                             snapshot=snapshot), b""])
        self._stop = True

    def _swap_refused(self, rid: str, error: PraasError) -> None:
        if self.ctl is not None:
            self.ctl.send_multipart([wire.header("swapped", rid=rid, ok=False, err=error.to_dict()), b""])
