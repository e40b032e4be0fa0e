"""The process runtime: sockets, a leader/follower thread pool, state, mailbox and swapper.

* Every socket (the data-plane ROUTER that clients and peers connect to, the DEALER to the control
  plane, a DEALER per peer) is used under one I/O lock, by whichever thread needs it
  (:mod:`praas_kit.process.threads`): the leading thread handles input, a thread that finished an
  invocation sends its result itself, a function's ``send`` goes straight out. No queue and no thread
  hand-off lies on the path of an invocation or a message.
* Invocations run on the pool's threads (``workers`` at once). ``invoke(SELF)`` runs in the calling
  thread, so nested invocation never deadlocks.
* The **swapper** (:mod:`praas_kit.process.swapper`) drains running invocations in its own thread, then
  writes the snapshot under the I/O lock.

The process's secrets (its hello secret, CurveZMQ keys, the swap store's spec) come from the file the
backend wrote (:attr:`ProcessConfig.secrets_file`), which is then removed; the swap store is opened
once, at start. With keys, the data plane is a CurveZMQ server and a ZAP handler (run while draining)
admits only the application's clients and its peers (:mod:`praas_kit.keys`); a channel message is taken
only from the peer it names. The data plane answers malformed frames with an ``err`` frame and carries on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import zmq

from praas_kit import wire, zmqio
from praas_kit.errors import (
    FunctionNotFound,
    InvalidState,
    InvocationError,
    Overloaded,
    PraasError,
    ProtocolError,
)
from praas_kit.function import REGISTRY, Invocation, load_code
from praas_kit.keys import CLIENT_USER, PEER_PREFIX, ZAP_ENDPOINT, KeyPair, curve_client, curve_server, zap_reply
from praas_kit.limits import too_large
from praas_kit.payload import ZERO_COPY_MIN, encode_result
from praas_kit.process.config import DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CALLS, ProcessConfig, read_secrets_file
from praas_kit.process.context import Context
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.peers import Peers
from praas_kit.process.snapshot import restore_snapshot
from praas_kit.process.state import StateStore
from praas_kit.process.swapper import Phase, Swapper
from praas_kit.process.threads import IOPool, readable
from praas_kit.storage.base import SwapStore
from praas_kit.storage.registry import open_store

log = logging.getLogger("praas_kit.process")

_NOBLOCK = int(zmq.NOBLOCK)
#: the most rounds one drain runs before timers get a turn, and the most messages it takes from one socket a round
DRAIN_ROUNDS, DRAIN_BATCH = 64, 256
Route = tuple[Any, ...]
"""Where a result goes: ``("r", ident)`` a data-plane client or peer; ``("c",)`` the control plane."""
Work = tuple[Route, str, str, bytes]  # (route, invocation id, function, payload)


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
        self.functions = load_code(cfg.code) if cfg.code else dict(REGISTRY)
        secrets = read_secrets_file(cfg.secrets_file) if cfg.secrets_file else {}
        self.secret = str(secrets.get("secret") or "")
        self.store: SwapStore | None = open_store(secrets["store"]) if secrets.get("store") else None
        self.keys = KeyPair.from_json(secrets["keys"]) if secrets.get("keys") else None
        self.snapshot_key = bytes.fromhex(str(secrets.get("snapshot_key") or ""))  # signs this process's snapshots
        self.control_key: str | None = secrets.get("control_key")
        self.client_key: str | None = secrets.get("client_key")
        self._users: dict[str, str] = {self.client_key: CLIENT_USER} if self.client_key else {}
        self.restored: tuple[int, float] | None = None
        if cfg.swapin:
            if self.store is None or not self.snapshot_key:
                raise InvalidState("swap-in requested but no swap store or no snapshot key configured")
            t0 = time.perf_counter()
            nbytes = restore_snapshot(self.store, self.app, self.proc, cfg.swapin, self.state, self.mailbox,
                                      self.state_dir, self.snapshot_key)
            self.restored = (nbytes, time.perf_counter() - t0)
            log.info("restored snapshot %s (%d bytes in %.3f s)", cfg.swapin, *self.restored)
        # metrics
        self._mlock = threading.Lock()
        self.invocations = 0
        self.busy = 0.0
        self.last_activity = time.time()
        self.inflight = 0
        self.inflight_bytes = 0  # payload bytes of the invocations admitted and not answered
        self.queue_calls = cfg.queue_calls or DEFAULT_QUEUE_CALLS
        self.queue_bytes = cfg.queue_bytes or DEFAULT_QUEUE_BYTES
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.address = ""
        self.ctl: zmq.Socket[Any] | None = None
        self.zap: zmq.Socket[Any] | None = None
        self._fd_list: list[int] = []  # replaced (never mutated) when the sockets change
        self._poll_items: list[tuple[zmq.Socket[Any], int]] = []  # the same sockets, for zmqio.ready
        self._handlers: dict[zmq.Socket[Any], Callable[[zmq.Socket[Any]], None]] = {}
        self.pool = IOPool(cfg.workers, lambda: self._fd_list, self._drain, self._tick, self._execute)
        self._next_metrics = 0.0

    @property
    def io(self) -> threading.Lock:
        """The I/O lock: every socket, and the state the input handlers touch (peers, world, swapper)."""
        return self.pool.lock

    def stop(self) -> None:
        """End the runtime (thread-safe; used by signal handlers and by stop/swap frames)."""
        self.pool.stop()

    # ---------------------------------------------------------------- invocations
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
            kind = type(exc)
            raise InvocationError(f"{inv.function} raised {kind.__name__}: {exc}", traceback=traceback.format_exc(),
                                  remote_type=kind.__name__ if kind.__module__ == "builtins" else None) from None

    def _execute(self, item: Work) -> None:
        """Run one invocation on this pool thread and send its result."""
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
            self.inflight -= 1
            self.inflight_bytes -= len(payload)
        with self.io:
            self._reply(route, hdr, out)
            self.pool.touched(self.router if route[0] == "r" else self.ctl)  # type: ignore[arg-type]

    def invoke_peer(self, dst: str, fn: str, inv_id: str, payload: bytes) -> Future[bytes]:
        """Start an invocation in peer ``dst`` (from a function); the future resolves to the result bytes."""
        fut: Future[bytes] = Future()
        with self.io:
            sock = self.peers.invoke(dst, fn, inv_id, payload, fut)
            if sock is not None:
                self.pool.touched(sock)
        return fut

    def cancel_peer_invocation(self, inv_id: str) -> None:
        with self.io:
            self.peers.cancel(inv_id)

    def send(self, dst: str, key: str, payload: bytes) -> None:
        """``context.send``: to this process's own mailbox, or to peer ``dst`` (directly from this thread)."""
        with self.io:
            if dst == self.proc:
                self.mailbox.put_own(self.proc, key, payload)
                self.pool.waiters.wake_all()
                return
            sock = self.peers.send(dst, key, payload)
            if sock is not None:
                self.pool.touched(sock)

    def activity(self) -> tuple[int, float]:
        """``(invocations in flight, unix time of the last activity)``."""
        with self._mlock:
            return self.inflight, self.last_activity

    # ---------------------------------------------------------------- sockets
    def _to_control(self, frames: list[Any]) -> None:
        """Send to the control plane (I/O lock held)."""
        if self.ctl is not None:
            self.ctl.send_multipart(frames, copy=False)
            self.pool.touched(self.ctl)

    def _bind(self) -> None:
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 1000)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.setsockopt(zmq.SNDHWM, 0)  # replies and acknowledgements are never dropped
        self.router.setsockopt(zmq.MAXMSGSIZE, self.cfg.max_payload + (1 << 20))
        if self.keys is not None:
            self.zap = self.ctx.socket(zmq.REP)  # the ZAP handler, served while draining
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
            self.ctl.setsockopt(zmq.SNDHWM, 0)  # a message storm queues here instead of blocking
            self.ctl.setsockopt(zmq.RCVHWM, 0)
            if self.keys is not None and self.control_key:
                curve_client(self.ctl, self.control_key, self.keys)
            self.ctl.connect(self.cfg.control)
        to_control = self._to_control if self.ctl is not None else None
        self.peers = Peers(self.ctx, self.proc, self.epoch, lambda: self.world, to_control, self.keys,
                           changed=self._sockets_changed)
        self.swapper = Swapper(self.app, self.proc, self.store, self.snapshot_key, self.state, self.mailbox,
                               self.state_dir, self.cfg.drain_timeout, self.activity, to_control, self._locked,
                               before_snapshot=self.peers.reroute_all, done=self.stop)

    def _locked(self, fn: Callable[[], None]) -> None:
        with self.io:
            fn()

    def _sockets_changed(self) -> None:
        """(I/O lock held) The set of sockets changed: publish the new descriptor list, and make the leader
        wait on it."""
        socks = [self.router, self.ctl, self.zap, *self.peers.socks.values()]
        self._fd_list = [int(s.getsockopt(zmq.FD)) for s in socks if s is not None]
        self._poll_items = [(s, zmqio.POLLIN) for s in socks if s is not None]
        self._handlers = self._handlers_for()
        self.pool.wake_leader()

    def run(self) -> int:
        """Serve until stopped or swapped out; the exit code."""
        self._bind()
        if self.ctl is not None:
            extra = {"restored": self.restored[0], "restore_seconds": self.restored[1]} if self.restored else {}
            with self.io:
                self.ctl.send_multipart([wire.header("hello", app=self.app, proc=self.proc, secret=self.secret,
                                                     addr=self.address, ep=self.epoch, pid=os.getpid(), **extra), b""])
        with self.io:
            self._sockets_changed()
        log.info("process %s/%s serving at %s", self.app, self.proc, self.address)
        self._next_metrics = time.monotonic() + self.cfg.metrics_interval
        self.pool.start_threads()
        try:
            self.pool.run_thread()  # this thread is one of the pool's until the pool stops
        finally:
            self._close()
        return 0

    def _close(self) -> None:
        with self.io:
            self.peers.close()
            self.router.close()
            if self.zap is not None:
                self.zap.close()
            if self.ctl is not None:
                self.ctl.close()
        if self.store is not None:
            self.store.close()
        # flush what is queued (a swap confirmation, last replies) before the process exits
        self.ctx.destroy(linger=2000)

    # ---------------------------------------------------------------- input (I/O lock held)
    def _drain(self) -> bool:
        """Handle everything readable on every socket; whether anything was delivered. Each round asks libzmq
        once which sockets have input (:func:`praas_kit.zmqio.ready`) and takes up to :data:`DRAIN_BATCH`
        messages from each; it ends with a round that finds none, so every socket was checked after the last
        operation on it. Stops early (and sets the pool's ``backlog``) after :data:`DRAIN_ROUNDS` rounds, so
        that timers run under a flood."""
        got = False
        self.pool.backlog = True
        for _ in range(DRAIN_ROUNDS):
            hot = zmqio.ready(self._poll_items)
            if not hot:
                if self.peers.flush_acks(self.router, due_only=True):
                    continue  # that sent on the router: look again
                self.pool.backlog = False
                break
            got = True
            for sock, _ in hot:
                handle = self._handlers.get(sock)
                for _ in range(DRAIN_BATCH):
                    if handle is None or sock.closed:  # a peer's socket that a handler of this round dropped
                        break
                    try:
                        handle(sock)
                    except zmq.Again:
                        break
                    if not readable(sock):
                        break
        return got

    def _handlers_for(self) -> dict[zmq.Socket[Any], Callable[[zmq.Socket[Any]], None]]:
        """What takes one message from each socket."""
        out: dict[zmq.Socket[Any], Callable[[zmq.Socket[Any]], None]] = {
            self.router: lambda s: self._on_router(zmqio.recv_frames(s))}
        if self.ctl is not None:
            out[self.ctl] = lambda s: self._on_ctl(zmqio.recv_frames(s))
        if self.zap is not None:
            out[self.zap] = self._on_zap
        for name, sock in self.peers.socks.items():
            out[sock] = lambda s, name=name: self._on_peer(name, s)  # type: ignore[misc]
        return out

    def _on_zap(self, sock: zmq.Socket[Any]) -> None:
        sock.send_multipart(zap_reply(sock.recv_multipart(_NOBLOCK), self._users))

    def _on_peer(self, name: str, sock: zmq.Socket[Any]) -> None:
        frames = zmqio.recv_frames(sock)
        if self.peers.socks.get(name) is sock:
            self.peers.on_frames(name, frames)

    def _tick(self) -> float:
        """Timers (I/O lock held): metrics, the control plane's liveness; the seconds until the next."""
        now = time.monotonic()
        if now >= self._next_metrics:
            self._next_metrics = now + self.cfg.metrics_interval
            if self.cfg.parent_pid and os.getppid() != self.cfg.parent_pid:
                log.warning("control plane (pid %s) is gone; exiting", self.cfg.parent_pid)
                self.stop()
            elif self.ctl is not None:
                with self._mlock:
                    hdr = wire.header("metrics", inv=self.invocations, busy=self.busy, last=self.last_activity,
                                      inflight=self.inflight, rss=_rss_bytes(), mbox=self.mailbox.count,
                                      mbytes=self.mailbox.nbytes)
                self.ctl.send_multipart([hdr, b""])
                self.pool.touched(self.ctl)
        if self.peers.flush_acks(self.router, due_only=True):
            self.pool.touched(self.router)
        return max(0.0, min(self._next_metrics - now, self.peers.ack_due_in()))

    def _reply(self, route: Route, hdr: bytes, payload: Any) -> None:
        copy = len(payload) < ZERO_COPY_MIN
        if route[0] == "r":
            zmqio.send_frames(self.router, [route[1], hdr, payload], copy=copy)
        elif route[0] == "c" and self.ctl is not None:
            zmqio.send_frames(self.ctl, [hdr, payload], copy=copy)

    def _error(self, route: Route, inv_id: str, exc: PraasError) -> None:
        self._reply(route, wire.header("res", id=inv_id, ok=False, err=exc.to_dict()), b"")

    def _admit(self, route: Route, inv_id: str, fname: str, payload: Any) -> None:
        if self.swapper.phase is not Phase.RUN:
            return self._error(route, inv_id, InvalidState(f"process {self.proc!r} is swapping out"))
        if len(payload) > self.cfg.max_payload:
            return self._error(route, inv_id, too_large(len(payload), self.cfg.max_payload))
        if fname not in self.functions:
            return self._error(route, inv_id, FunctionNotFound(
                f"no function {fname!r} in application {self.app!r}"))
        data = payload.bytes if hasattr(payload, "bytes") else payload
        with self._mlock:  # bounded: a flood of calls is refused, it does not exhaust the process's memory
            if self.inflight >= self.queue_calls or self.inflight_bytes + len(data) > self.queue_bytes:
                busy = (self.inflight, self.inflight_bytes)
            else:
                busy = None
                self.inflight += 1
                self.inflight_bytes += len(data)
        if busy is not None:
            return self._error(route, inv_id, Overloaded(
                f"process {self.proc!r} has {busy[0]} invocations ({busy[1]} payload bytes) admitted, its bound is "
                f"{self.queue_calls} ({self.queue_bytes} bytes): this one did not run"))
        self.pool.submit((route, inv_id, fname, data))

    def _on_router(self, frames: list[Any]) -> None:
        ident = frames[0].bytes
        if len(frames) == 3:
            raw = frames[1].bytes
            try:  # the binary hot path first: an invocation, or a peer's message
                if raw[:1] == b"\x01":
                    inv_id, fn = wire.parse_inv(raw)
                    return self._admit(("r", ident), inv_id, fn, frames[2])
                if raw[:1] == b"\x03":
                    return self._on_peer_msg(ident, frames[1], *wire.parse_msg(raw), frames[2])
            except ProtocolError as exc:
                self.router.send_multipart([ident, wire.header("err", err=exc.to_dict()), b""])
                return
        try:
            hdr, payload = wire.decode(frames[1:])
        except ProtocolError as exc:
            self.router.send_multipart([ident, wire.header("err", err=exc.to_dict()), b""])
            return
        t = hdr["t"]
        if t == "inv":
            self._admit(("r", ident), hdr["id"], hdr["fn"], payload)
        elif t == "msg":
            self._on_peer_msg(ident, frames[1], hdr["src"], hdr["ep"], hdr["key"], hdr["seq"], payload)
        elif t == "ping":
            self.router.send_multipart([ident, wire.header("pong", id=hdr["id"]), b""])
        else:
            err = ProtocolError(f"frame type {t!r} is not accepted on the data plane")
            self.router.send_multipart([ident, wire.header("err", err=err.to_dict()), b""])

    def _on_peer_msg(self, ident: bytes, header_frame: Any, src: str, ep: str, key: str, seq: int,
                     payload: Any) -> None:
        if self.keys is not None and header_frame.get("User-Id") != PEER_PREFIX + src:
            err = ProtocolError(f"a message claiming to come from {src!r} came from someone else")
            self.router.send_multipart([ident, wire.header("err", err=err.to_dict()), b""])
            return
        refused = self._take_msg(src, ep, key, seq, payload)
        if refused is None:
            self.peers.owe(src, ident, seq)
        else:  # what was taken before is acknowledged first, then this one bounces
            self.peers.flush_acks(self.router, src)
            self.router.send_multipart([ident, wire.header("ack", dst=self.proc, seq=seq, ok=False, src=src, ep=ep,
                                                           why=refused), b""])

    def _take_msg(self, src: str, ep: str, key: str, seq: int, payload: Any) -> str | None:
        """Put a message into the mailbox; ``None`` if it is taken, else why it is refused (see the mailbox)."""
        if self.swapper.phase is Phase.SNAPSHOT:  # too late to be part of the snapshot
            return "swapping"
        got = self.mailbox.put(src, key, payload.bytes if hasattr(payload, "bytes") else payload, seq=seq, ep=ep)
        return None if got.taken else got.value

    # ---------------------------------------------------------------- the control plane (I/O lock held)
    def _on_ctl(self, frames: list[Any]) -> None:
        try:
            hdr, payload = wire.decode(frames)
        except ProtocolError as exc:
            log.warning("bad frame from the control plane: %s", exc)
            return
        t = hdr["t"]
        if t == "inv":
            self._admit(("c",), hdr["id"], hdr["fn"], payload)
        elif t == "msg":  # a message the control plane held
            refused = self._take_msg(hdr["src"], hdr["ep"], hdr["key"], hdr["seq"], payload)
            self._to_control([wire.header("ack", dst=self.proc, seq=hdr["seq"], ok=refused is None, src=hdr["src"],
                                          ep=hdr["ep"], **({"why": refused} if refused else {})), b""])
        elif t == "res":  # result of a "cinv"
            self.peers.complete(hdr["id"], hdr["ok"], payload, hdr.get("err"))
        elif t == "ack":  # the control plane holds (held=true) or delivered a forwarded message
            self.peers.forwarded(hdr["dst"], hdr["seq"], delivered=not hdr.get("held"))
        elif t == "world":
            try:
                self._on_world(wire.parse_world(payload.bytes))
            except ProtocolError as exc:
                log.warning("bad world from the control plane: %s", exc)
        elif t == "swap":
            self.swapper.start(hdr)
        elif t == "stop":
            self._to_control([wire.header("swapped", rid=hdr["rid"], ok=True, stopped=True), b""])
            self.stop()
        elif t == "ping":
            self._to_control([wire.header("pong", id=hdr["id"]), b""])

    def wait_for_peer(self, name: str, timeout: float) -> bool:
        """Wait until ``name`` is in the world (a world update may be on its way); whether it is."""
        deadline = time.monotonic() + timeout
        return self.pool.wait_for(lambda: True if name in self.world else None, deadline) is not None

    def _on_world(self, procs: dict[str, Any]) -> None:
        self.world = {str(k): dict(v) for k, v in procs.items() if isinstance(v, dict)}
        users = {self.client_key: CLIENT_USER} if self.client_key else {}
        users.update({info["key"]: PEER_PREFIX + name for name, info in self.world.items()
                      if isinstance(info.get("key"), str) and name != self.proc})
        self._users = users
        self.peers.world_changed(self.world)


__all__ = ["ProcessRuntime", "ProcessConfig"]
