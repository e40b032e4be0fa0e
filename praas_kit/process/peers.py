"""A process's links to its peers: direct DEALER sockets, outgoing channel state, peer invocations.

Every method runs with the runtime's I/O lock held (:mod:`praas_kit.process.threads`); the methods that
use a socket return it, so that the caller can check it for input afterwards.

Ordering rule: messages to one peer carry increasing sequence numbers and are kept until the peer
acknowledges them. The peer acknowledges **cumulatively and in batches** (one ``ack`` frame for up to
:data:`ACK_BATCH` messages or after :data:`ACK_DELAY` seconds), not one frame per message. A peer that
bounces a message (it is swapping out, or its mailbox is full) or leaves the world gets every
unacknowledged message again *through the control plane*, in order, and no direct send overtakes them: the
control plane holds them durably until the peer runs again. A message that arrives twice that way is
recognised by its sequence number and dropped (:class:`~praas_kit.process.mailbox.Mailbox`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import zmq

from praas_kit import wire
from praas_kit.errors import InvalidState, ProcessDied, ProtocolError, from_dict
from praas_kit.keys import KeyPair, curve_client
from praas_kit.lifecycle import Status
from praas_kit.payload import ZERO_COPY_MIN
from praas_kit.zmqio import send_frames

log = logging.getLogger("praas_kit.process")

_ALLOCATED = Status.ALLOCATED.value
ACK_BATCH = 32
"""Acknowledge at the latest after this many messages from one peer..."""
ACK_DELAY = 0.02
"""...or this many seconds after the first unacknowledged one."""

SendToControl = Callable[[list[Any]], None]
Sock = zmq.Socket[Any]


class PeerOut:
    """Outgoing channel state towards one peer: sequence numbers and unacknowledged messages."""

    def __init__(self) -> None:
        self.seq = 0
        self.unacked: OrderedDict[int, tuple[str, bytes]] = OrderedDict()  # sent directly
        # forwarded to the control plane and not yet delivered; the payload is dropped (None) once the control
        # plane holds the message durably, the number stays until delivery so that nothing overtakes it
        self.via_cp: OrderedDict[int, tuple[str, bytes] | None] = OrderedDict()
        self.blocked = False  # the peer bounced a message: no direct sends until it is ALLOCATED again

    def direct(self) -> bool:
        """Whether the next message may go straight to the peer without overtaking earlier ones."""
        return not self.blocked and not self.via_cp

    def acked(self, seq: int) -> None:
        """Forget every direct message up to ``seq`` (a cumulative acknowledgement)."""
        unacked = self.unacked
        while unacked and next(iter(unacked)) <= seq:
            unacked.popitem(last=False)


class Peers:
    """Peer sockets and channel state of one process.

    ``world()`` is the runtime's view of the application's processes; ``to_control`` sends frames to the
    control plane (``None`` when the process runs without one); ``changed()`` is called when the set of
    sockets changed (the runtime then waits on the new set).
    """

    def __init__(self, ctx: zmq.Context[Any], proc: str, epoch: str, world: Callable[[], dict[str, dict[str, Any]]],
                 to_control: SendToControl | None, keys: KeyPair | None = None,
                 changed: Callable[[], None] = lambda: None) -> None:
        self.ctx, self.proc, self.epoch, self.keys = ctx, proc, epoch, keys
        self._world, self._to_control, self._changed = world, to_control, changed
        self.socks: dict[str, Sock] = {}
        self.addr: dict[str, str] = {}
        self.out: dict[str, PeerOut] = {}
        self.pending: dict[str, tuple[str, Future[bytes]]] = {}  # invocation id -> (peer, future)
        # acknowledgements owed: sender -> [router identity of its socket, highest sequence taken, since]
        self._owed: dict[str, list[Any]] = {}
        self._owed_count = 0

    # ---------------------------------------------------------------- sockets
    def sock(self, name: str) -> Sock | None:
        """The DEALER to ``name`` if it runs (connected on first use), else ``None``."""
        sock = self.socks.get(name)
        if sock is not None:
            return sock
        info = self._world().get(name)
        if info and info.get("status") == _ALLOCATED and info.get("address"):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)  # a storm of messages queues rather than blocking the sender
            if self.keys is not None and isinstance(info.get("key"), str):
                curve_client(sock, info["key"], self.keys)
            sock.connect(info["address"])
            self.socks[name] = sock
            self.addr[name] = info["address"]
            self._changed()
        return sock

    def drop(self, name: str) -> None:
        sock = self.socks.pop(name, None)
        if sock is not None:
            sock.close(linger=0)
            self._changed()

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close(linger=0)
        self.socks.clear()

    # ---------------------------------------------------------------- outgoing messages
    def send(self, dst: str, key: str, data: bytes) -> Sock | None:
        """Send a message to ``dst``: directly if nothing earlier is still on its way through the control
        plane, else through the control plane. The socket used directly, or ``None``."""
        out = self.out.get(dst)
        if out is None:
            out = self.out[dst] = PeerOut()
        out.seq += 1
        sock = self.sock(dst) if out.direct() else None
        if sock is None:
            self._forward(dst, out, out.seq, key, data)
            return None
        out.unacked[out.seq] = (key, data)
        send_frames(sock, [wire.message_header(self.proc, self.epoch, key, out.seq), data],
                    copy=len(data) < ZERO_COPY_MIN)
        return sock

    def _forward(self, dst: str, out: PeerOut, seq: int, key: str, data: bytes) -> None:
        out.via_cp[seq] = (key, data)
        if self._to_control is not None:
            self._to_control([wire.header("fwd", dst=dst, src=self.proc, ep=self.epoch, key=key, seq=seq), data])

    def reroute(self, dst: str) -> None:
        """Send every unacknowledged direct message to ``dst`` through the control plane, in order."""
        out = self.out.get(dst)
        if out is None:
            return
        out.blocked = True
        pending, out.unacked = out.unacked, OrderedDict()
        for seq, (key, data) in pending.items():
            self._forward(dst, out, seq, key, data)

    def reroute_all(self) -> None:
        for dst in list(self.out):
            self.reroute(dst)

    def forwarded(self, dst: str, seq: int, delivered: bool) -> None:
        """The control plane holds a forwarded message durably (``delivered=False``: forget its payload), or
        delivered it (forget it)."""
        out = self.out.get(dst)
        if out is None or seq not in out.via_cp:
            return
        if delivered:
            del out.via_cp[seq]
        else:
            out.via_cp[seq] = None

    # ---------------------------------------------------------------- acknowledgements we owe
    def owe(self, src: str, ident: bytes, seq: int) -> None:
        """We took message ``seq`` of ``src`` (it came from the router identity ``ident``); acknowledge later."""
        owed = self._owed.get(src)
        if owed is None:
            self._owed[src] = [ident, seq, time.monotonic()]
        elif owed[0] != ident:  # a new connection of the sender: what the old one is owed goes nowhere now
            owed[0], owed[1] = ident, seq
        else:
            owed[1] = seq
        self._owed_count += 1

    def flush_acks(self, router: Sock, src: str | None = None, due_only: bool = False) -> bool:
        """Send what we owe (to ``src`` only, if given; only when due, if ``due_only``); whether we sent."""
        if not self._owed or (due_only and self.ack_due_in() > 0):
            return False
        for name in [src] if src is not None else list(self._owed):
            owed = self._owed.pop(name, None)
            if owed is not None:
                send_frames(router, [owed[0], wire.ack_header(owed[1]), b""])
        if not self._owed:
            self._owed_count = 0
        return True

    def ack_due_in(self) -> float:
        """Seconds until the owed acknowledgements must go out (``inf`` when none are owed)."""
        if not self._owed:
            return float("inf")
        if self._owed_count >= ACK_BATCH:
            return 0.0
        first: float = min(owed[2] for owed in self._owed.values())
        return max(0.0, first + ACK_DELAY - time.monotonic())

    # ---------------------------------------------------------------- invocations
    def invoke(self, dst: str, fn: str, inv_id: str, payload: bytes, fut: Future[bytes]) -> Sock | None:
        """Start an invocation in ``dst``: directly (the socket used is returned), or through the control plane
        (which swaps it in)."""
        sock = self.sock(dst)
        if sock is not None:
            self.pending[inv_id] = (dst, fut)
            send_frames(sock, [wire.invoke_header(inv_id, fn), payload], copy=len(payload) < ZERO_COPY_MIN)
        elif self._to_control is not None:  # not running: the control plane swaps it in
            self.pending[inv_id] = ("", fut)
            self._to_control([wire.header("cinv", id=inv_id, dst=dst, fn=fn), payload])
        else:
            fut.set_exception(InvalidState(f"process {dst!r} is not running"))
        return sock

    def cancel(self, inv_id: str) -> None:
        """Forget a peer invocation whose caller gave up (timeout); a late result is dropped."""
        self.pending.pop(inv_id, None)

    def complete(self, inv_id: str, ok: bool, payload: Any, err: Any = None) -> None:
        """The result of a peer invocation."""
        entry = self.pending.pop(inv_id, None)
        if entry is None:
            return
        if ok:
            entry[1].set_result(payload.bytes if hasattr(payload, "bytes") else bytes(payload))
        else:
            entry[1].set_exception(from_dict(err))

    # ---------------------------------------------------------------- frames and world changes
    def on_frames(self, name: str, frames: list[Any]) -> None:
        """Handle what peer ``name`` sent on our socket to it: results of our invocations, acknowledgements of
        our messages (cumulative, or a bounce)."""
        raw = frames[0].bytes
        try:
            if raw[:1] == b"\x02" and len(frames) == 2:
                return self.complete(wire.parse_res(raw)[0], True, frames[1])
            if raw[:1] == b"\x04":
                out = self.out.get(name)
                if out is not None:
                    out.acked(wire.parse_ack(raw))
                return None
            hdr, payload = wire.decode(frames)
        except ProtocolError as exc:
            log.warning("bad frame from peer %s: %s", name, exc)
            return None
        if hdr["t"] == "res":
            self.complete(hdr["id"], hdr["ok"], payload, hdr.get("err"))
        elif hdr["t"] == "ack" and not hdr["ok"]:  # bounced: swapping out or full; go via the control plane
            out = self.out.get(name)
            if out is not None:
                self.reroute(name)
        return None

    def world_changed(self, world: dict[str, dict[str, Any]]) -> None:
        """Drop links to peers that stopped running or moved; fail their in-flight invocations."""
        for name in list(self.socks):
            info = world.get(name)
            if info is None or info.get("status") != _ALLOCATED or info.get("address") != self.addr.get(name):
                self.drop(name)
                self.reroute(name)
                for inv_id, (peer, fut) in list(self.pending.items()):
                    if peer == name:
                        del self.pending[inv_id]
                        status = info.get("status") if info else "deleted"
                        fut.set_exception(ProcessDied(f"process {name!r} became {status} during the invocation"))
        for name, out in self.out.items():
            info = world.get(name)
            if info and info.get("status") == _ALLOCATED and name not in self.socks and out.blocked:
                out.blocked = False  # running again (after swap-in); direct once via_cp drains


__all__ = ["Peers", "PeerOut", "ACK_BATCH", "ACK_DELAY"]
