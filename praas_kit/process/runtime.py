"""The process runtime: one ZeroMQ I/O loop, a pool of function workers, state, mailbox and swapper.

Threads and ownership:

* The **I/O thread** owns every socket: the data-plane ROUTER (clients and peers connect
  here), the DEALER to the control plane, one DEALER per peer it talks to
  (:class:`~praas_kit.process.peers.Peers`), and an eventfd that wakes it when a worker has posted
  something. No other thread touches a socket.
* **Workers** (``workers`` threads) take invocations from the work queue, run them, and post
  results back to the I/O thread (:meth:`ProcessRuntime.post`, items from :mod:`praas_kit.process.posts`).
* The **swapper** (:mod:`praas_kit.process.swapper`) drains running invocations in its own thread (the
  I/O loop keeps serving meanwhile), then the I/O thread writes the snapshot.

The process's secrets (its hello secret, CurveZMQ keys, the swap store's spec) come from the file the
backend wrote (:attr:`ProcessConfig.secrets_file`), which is then removed; the swap store is opened
once, at start. With keys, the data plane is a CurveZMQ server and a ZAP handler on the I/O loop admits
only the application's clients and its peers (:mod:`praas_kit.keys`); a channel message is taken only
from the peer it names. The data plane answers malformed frames with an ``err`` frame and carries on.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import zmq

from praas_kit import wire
from praas_kit.errors import (
    FunctionNotFound,
    InvalidState,
    InvocationError,
    PayloadTooLarge,
    PraasError,
    ProtocolError,
)
from praas_kit.function import REGISTRY, Invocation, load_code
from praas_kit.keys import CLIENT_USER, PEER_PREFIX, ZAP_ENDPOINT, KeyPair, curve_client, curve_server, zap_reply
from praas_kit.payload import ZERO_COPY_MIN, encode_result
from praas_kit.process.config import ProcessConfig, read_secrets_file
from praas_kit.process.context import Context
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.peers import Peers
from praas_kit.process.posts import PeerInvoke, Post, Reply, Route, Send, SwapDrained
from praas_kit.process.snapshot import restore_snapshot
from praas_kit.process.state import StateStore
from praas_kit.process.swapper import Phase, Swapper
from praas_kit.storage.base import SwapStore
from praas_kit.storage.registry import open_store

log = logging.getLogger("praas_kit.process")

# plain ints: pyzmq's flag enums cost microseconds per operation on the hot path
_EVENTS, _POLLIN, _NOBLOCK, _RCVMORE = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK), int(zmq.RCVMORE)


def _readable(sock: zmq.Socket[Any]) -> bool:
    """Whether ``sock`` has a message waiting (``ZMQ_EVENTS`` is an int option)."""
    return bool(int(sock.getsockopt(_EVENTS)) & _POLLIN)


def _rss_bytes() -> int:
    """Resident memory of this process (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE")


class ProcessRuntime:
    """One cloud process. Construct, then :meth:`run` (blocks until stop or swap-out)."""

    def __init__(self, cfg: ProcessConfig) -> None:
        self.cfg = cfg
        self.app, self.proc = cfg.app, cfg.proc
        self.state_dir = cfg.state_dir.resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = StateStore()
        self.mailbox = Mailbox(cfg.mailbox_messages, cfg.mailbox_bytes)
        self.context = Context(self)
        self.invoke_timeout = cfg.invoke_timeout
        self.epoch = os.urandom(4).hex()
        self.world: dict[str, dict[str, Any]] = {}
        self._world_cond = threading.Condition()
        self.functions = load_code(cfg.code) if cfg.code else dict(REGISTRY)
        secrets = read_secrets_file(cfg.secrets_file) if cfg.secrets_file else {}
        self.secret = str(secrets.get("secret") or "")
        self.store: SwapStore | None = open_store(secrets["store"]) if secrets.get("store") else None
        self.keys = KeyPair.from_json(secrets["keys"]) if secrets.get("keys") else None
        self.control_key: str | None = secrets.get("control_key")
        self.client_key: str | None = secrets.get("client_key")
        self._users: dict[str, str] = {self.client_key: CLIENT_USER} if self.client_key else {}
        self.restored: tuple[int, float] | None = None
        if cfg.swapin:
            if self.store is None:
                raise InvalidState("swap-in requested but no swap store configured")
            t0 = time.perf_counter()
            nbytes = restore_snapshot(self.store, self.app, self.proc, cfg.swapin, self.state, self.mailbox,
                                      self.state_dir)
            self.restored = (nbytes, time.perf_counter() - t0)
            log.info("restored snapshot %s (%d bytes in %.3f s)", cfg.swapin, *self.restored)
        # metrics
        self._mlock = threading.Lock()
        self.invocations = 0
        self.busy = 0.0
        self.last_activity = time.time()
        self.inflight = 0
        self._outq: queue.SimpleQueue[Post] = queue.SimpleQueue()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._workq: queue.SimpleQueue[tuple[Route, str, str, bytes] | None] = queue.SimpleQueue()
        self._stop = False
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.address = ""
        self.ctl: zmq.Socket[Any] | None = None
        self._dispatch: dict[type, Callable[[Any], None]] = {
            Reply: self._on_reply, Send: self._on_send, PeerInvoke: self._on_peer_invoke,
            SwapDrained: self._on_swap_drained,
        }

    def stop(self) -> None:
        """Ask the I/O loop to end (thread-safe; used by signal handlers)."""
        self._stop = True

    # ---------------------------------------------------------------- worker side
    def post(self, item: Post) -> None:
        """Hand ``item`` to the I/O thread (thread-safe): queue it, then wake the loop through an eventfd."""
        self._outq.put(item)
        os.eventfd_write(self._wake_fd, 1)

    def run_inline(self, inv: Invocation) -> bytes | bytearray | memoryview:
        """Run an invocation in the calling thread; raise :class:`InvocationError` on failure."""
        fn = self.functions.get(inv.function)
        if fn is None:
            raise FunctionNotFound(f"no function {inv.function!r} in application {self.app!r}")
        return encode_result(self._call(fn, inv))[1]

    def _call(self, fn: Callable[[Invocation, Any], Any], inv: Invocation) -> Any:
        """Run ``fn``; any exception but a :class:`PraasError` becomes :class:`InvocationError` with its traceback."""
        try:
            return fn(inv, self.context)
        except PraasError:
            raise
        except Exception as exc:
            raise InvocationError(f"{inv.function} raised {type(exc).__name__}: {exc}",
                                  traceback=traceback.format_exc()) from None

    def _worker(self) -> None:
        while True:
            item = self._workq.get()
            if item is None:
                return
            route, inv_id, fname, payload = item
            t0 = time.perf_counter()
            try:
                ct, out = encode_result(self._call(self.functions[fname], Invocation(fname, inv_id, payload)))
                hdr = wire.result_header(inv_id, ct)
            except PraasError as exc:
                hdr, out = wire.header("res", id=inv_id, ok=False, err=exc.to_dict()), b""
            with self._mlock:
                self.invocations += 1
                self.busy += time.perf_counter() - t0
                self.last_activity = time.time()
            self.post(Reply(route, hdr, out))

    def invoke_peer(self, dst: str, fn: str, inv_id: str, payload: bytes) -> Future[bytes]:
        """Start an invocation in peer ``dst`` (from a worker); the future resolves to the result bytes."""
        fut: Future[bytes] = Future()
        self.post(PeerInvoke(dst, fn, inv_id, payload, fut))
        return fut

    def activity(self) -> tuple[int, float]:
        """``(invocations in flight, unix time of the last activity)``."""
        with self._mlock:
            return self.inflight, self.last_activity

    # ---------------------------------------------------------------- I/O thread
    def _to_control(self, frames: list[Any]) -> None:
        if self.ctl is not None:
            self.ctl.send_multipart(frames, copy=False)

    def _bind(self) -> None:
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 1000)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.setsockopt(zmq.SNDHWM, 0)  # replies and acknowledgements are never dropped
        self.router.setsockopt(zmq.MAXMSGSIZE, self.cfg.max_payload + (1 << 20))
        self.zap: zmq.Socket[Any] | None = None
        if self.keys is not None:
            self.zap = self.ctx.socket(zmq.REP)  # the ZAP handler, served on this loop
            self.zap.setsockopt(zmq.LINGER, 0)
            self.zap.bind(ZAP_ENDPOINT)
            curve_server(self.router, self.keys)
        self.router.bind(self.cfg.bind)
        endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        port = endpoint.rsplit(":", 1)[1]
        host = self.cfg.advertise
        if not host:
            bound = endpoint.split("//", 1)[1].rsplit(":", 1)[0]
            host = bound if bound not in ("0.0.0.0", "*") else socket.gethostbyname(socket.gethostname())
        self.address = f"tcp://{host}:{port}"
        if self.cfg.control:
            self.ctl = self.ctx.socket(zmq.DEALER)
            self.ctl.setsockopt(zmq.LINGER, 2000)
            self.ctl.setsockopt(zmq.SNDHWM, 0)  # a message storm queues here instead of blocking the loop
            self.ctl.setsockopt(zmq.RCVHWM, 0)
            if self.keys is not None and self.control_key:
                curve_client(self.ctl, self.control_key, self.keys)
            self.ctl.connect(self.cfg.control)
        self.poller = zmq.Poller()
        self.poller.register(self.router, zmq.POLLIN)
        self.poller.register(self._wake_fd, zmq.POLLIN)
        if self.ctl is not None:
            self.poller.register(self.ctl, zmq.POLLIN)
        if self.zap is not None:
            self.poller.register(self.zap, zmq.POLLIN)
        to_control = self._to_control if self.ctl is not None else None
        self.peers = Peers(self.ctx, self.poller, self.proc, self.epoch, lambda: self.world, to_control, self.keys)
        self.swapper = Swapper(self.app, self.proc, self.store, self.state, self.mailbox, self.state_dir,
                               self.cfg.drain_timeout, self.activity, to_control, self.post,
                               before_snapshot=self.peers.reroute_all, done=self.stop)

    def run(self) -> int:
        """Serve until stopped or swapped out; the exit code."""
        self._bind()
        threads = [threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True)
                   for i in range(max(1, self.cfg.workers))]
        for t in threads:
            t.start()
        if self.ctl is not None:
            extra = {"restored": self.restored[0], "restore_seconds": self.restored[1]} if self.restored else {}
            self.ctl.send_multipart([wire.header("hello", app=self.app, proc=self.proc, secret=self.secret,
                                                 addr=self.address, pid=os.getpid(), **extra), b""])
        log.info("process %s/%s serving at %s", self.app, self.proc, self.address)
        next_metrics = time.monotonic() + self.cfg.metrics_interval
        try:
            while not self._stop:
                timeout = max(0.0, next_metrics - time.monotonic())
                events = dict(self.poller.poll(int(timeout * 1000) + 1))
                if self.zap is not None and self.zap in events:
                    self.zap.send_multipart(zap_reply(self.zap.recv_multipart(), self._users))
                if self.router in events:
                    for _ in range(64):  # bounded, so that results and the control plane are served too
                        if not _readable(self.router):
                            break
                        self._on_router(self.router.recv_multipart(_NOBLOCK, copy=False))
                if self._wake_fd in events:
                    self._drain_wake()
                if self.ctl is not None and self.ctl in events:
                    while _readable(self.ctl):
                        self._on_ctl(self.ctl.recv_multipart(_NOBLOCK, copy=False))
                for name, sock in list(self.peers.socks.items()):
                    if sock in events:
                        self.peers.on_frames(name, sock)
                if time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self.cfg.metrics_interval
                    self._tick()
        finally:
            for _ in threads:
                self._workq.put(None)
            self._close()
        return 0

    def _close(self) -> None:
        self.peers.close()
        self.router.close()
        if self.zap is not None:
            self.zap.close()
        if self.ctl is not None:
            self.ctl.close()
        os.close(self._wake_fd)
        if self.store is not None:
            self.store.close()
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
                                  inflight=self.inflight, rss=_rss_bytes(), mbox=self.mailbox.count,
                                  mbytes=self.mailbox.nbytes)
            self.ctl.send_multipart([hdr, b""])

    def _reply(self, route: Route, hdr: bytes, payload: Any) -> None:
        copy = len(payload) < ZERO_COPY_MIN
        if route[0] == "r":
            self.router.send_multipart([route[1], hdr, payload], copy=copy)
        elif route[0] == "c" and self.ctl is not None:
            self.ctl.send_multipart([hdr, payload], copy=copy)

    def _error(self, route: Route, inv_id: str, exc: PraasError) -> None:
        self._reply(route, wire.header("res", id=inv_id, ok=False, err=exc.to_dict()), b"")

    def _admit(self, route: Route, hdr: dict[str, Any], payload: Any) -> None:
        inv_id, fname = hdr["id"], hdr["fn"]
        if self.swapper.phase is not Phase.RUN:
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
        ident = frames[0].bytes
        try:
            hdr, payload = wire.decode(frames[1:])
        except ProtocolError as exc:
            self.router.send_multipart([ident, wire.header("err", err=exc.to_dict()), b""])
            return
        t = hdr["t"]
        if t == "inv":
            self._admit(("r", ident), hdr, payload)
        elif t == "msg":
            if self.keys is not None and frames[1].get("User-Id") != PEER_PREFIX + hdr["src"]:
                err = ProtocolError(f"a message claiming to come from {hdr['src']!r} came from someone else")
                self.router.send_multipart([ident, wire.header("err", err=err.to_dict()), b""])
                return
            self._on_msg(hdr, payload, lambda h: self.router.send_multipart([ident, h, b""]))
        elif t == "ping":
            self.router.send_multipart([ident, wire.header("pong", id=hdr["id"]), b""])
        else:
            err = ProtocolError(f"frame type {t!r} is not accepted on the data plane")
            self.router.send_multipart([ident, wire.header("err", err=err.to_dict()), b""])

    def _on_msg(self, hdr: dict[str, Any], payload: Any, reply: Callable[[bytes], None]) -> None:
        """A channel message: take it, or refuse it so that its sender (or the control plane) keeps it and
        offers it again later, in order (see :mod:`praas_kit.process.mailbox`)."""
        if self.swapper.phase is Phase.SNAPSHOT:  # too late to be part of the snapshot
            why = "swapping"
        else:
            got = self.mailbox.put(hdr["src"], hdr["key"], payload.bytes if hasattr(payload, "bytes") else payload,
                                   seq=hdr["seq"], ep=hdr["ep"])
            if got.taken:
                reply(wire.header("ack", dst=self.proc, seq=hdr["seq"], ok=True, src=hdr["src"], ep=hdr["ep"]))
                return
            why = got.value
        reply(wire.header("ack", dst=self.proc, seq=hdr["seq"], ok=False, src=hdr["src"], ep=hdr["ep"], why=why))

    def _drain_wake(self) -> None:
        try:
            os.eventfd_read(self._wake_fd)
        except BlockingIOError:
            pass
        outq, dispatch = self._outq, self._dispatch
        while not outq.empty():
            item = outq.get_nowait()
            dispatch[type(item)](item)

    def _on_reply(self, item: Reply) -> None:
        with self._mlock:
            self.inflight -= 1
        self._reply(item.route, item.header, item.payload)

    def _on_send(self, item: Send) -> None:
        self.peers.send(item.dst, item.key, item.data)

    def _on_peer_invoke(self, item: PeerInvoke) -> None:
        self.peers.invoke(item.dst, item.fn, item.inv_id, item.payload, item.future)

    def _on_swap_drained(self, item: SwapDrained) -> None:
        self.swapper.drained(item)

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
            self._on_msg(hdr, payload, lambda h: self._to_control([h, b""]))
        elif t == "res":  # result of a "cinv"
            self.peers.complete(hdr, payload)
        elif t == "ack":  # the control plane holds (held=true) or delivered a forwarded message
            self.peers.forwarded(hdr["dst"], hdr["seq"], delivered=not hdr.get("held"))
        elif t == "world":
            self._on_world(hdr["procs"])
        elif t == "swap":
            self.swapper.start(hdr)
        elif t == "stop":
            self._to_control([wire.header("swapped", rid=hdr["rid"], ok=True, stopped=True), b""])
            self._stop = True
        elif t == "ping":
            self._to_control([wire.header("pong", id=hdr["id"]), b""])

    def wait_for_peer(self, name: str, timeout: float) -> bool:
        """Wait until ``name`` is in the world (a world update may be on its way); whether it is."""
        with self._world_cond:
            return self._world_cond.wait_for(lambda: name in self.world, timeout)

    def _on_world(self, procs: dict[str, Any]) -> None:
        with self._world_cond:
            self.world = {str(k): dict(v) for k, v in procs.items() if isinstance(v, dict)}
            self._world_cond.notify_all()
        users = {self.client_key: CLIENT_USER} if self.client_key else {}
        users.update({info["key"]: PEER_PREFIX + name for name, info in self.world.items()
                      if isinstance(info.get("key"), str) and name != self.proc})
        self._users = users
        self.peers.world_changed(self.world)


__all__ = ["ProcessRuntime", "ProcessConfig"]
