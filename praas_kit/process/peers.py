"""A process's links to its peers: direct DEALER sockets, outgoing channel state, peer invocations.

Everything here runs on the runtime's I/O thread (it owns the sockets). Ordering rule: messages to
one peer carry increasing sequence numbers and are kept until the peer acknowledges them. A peer that
bounces a message (it is swapping out) or leaves the world gets every unacknowledged message again
*through the control plane*, in order, and no direct send overtakes them: the control plane holds
them durably until the peer runs again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import zmq

from praas_kit import wire
from praas_kit.errors import InvalidState, ProcessDied, ProtocolError, from_dict
from praas_kit.keys import KeyPair, curve_client
from praas_kit.lifecycle import Status

log = logging.getLogger("praas_kit.process")

_ALLOCATED = Status.ALLOCATED.value
# plain ints: pyzmq's flag enums cost microseconds per operation on the hot path
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)

SendToControl = Callable[[list[Any]], None]


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


class Peers:
    """Peer sockets and channel state of one process (I/O thread only).

    ``world`` is the runtime's view of the application's processes; ``to_control`` sends frames to
    the control plane (``None`` when the process runs without one).
    """

    def __init__(self, ctx: zmq.Context[Any], poller: zmq.Poller, proc: str, epoch: str,
                 world: Callable[[], dict[str, dict[str, Any]]], to_control: SendToControl | None,
                 keys: KeyPair | None = None) -> None:
        self.ctx, self.poller, self.proc, self.epoch, self.keys = ctx, poller, proc, epoch, keys
        self._world = world
        self._to_control = to_control
        self.socks: dict[str, zmq.Socket[Any]] = {}
        self.addr: dict[str, str] = {}
        self.out: dict[str, PeerOut] = {}
        self.pending: dict[str, tuple[str, Future[bytes]]] = {}  # invocation id -> (peer, future)

    # ---------------------------------------------------------------- sockets
    def sock(self, name: str) -> zmq.Socket[Any] | None:
        """The DEALER to ``name`` if it runs (connected on first use), else ``None``."""
        sock = self.socks.get(name)
        info = self._world().get(name)
        if sock is None and info and info.get("status") == _ALLOCATED and info.get("address"):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            if self.keys is not None and isinstance(info.get("key"), str):
                curve_client(sock, info["key"], self.keys)
            sock.connect(info["address"])
            self.socks[name] = sock
            self.addr[name] = info["address"]
            self.poller.register(sock, zmq.POLLIN)
        return sock

    def drop(self, name: str) -> None:
        sock = self.socks.pop(name, None)
        if sock is not None:
            self.poller.unregister(sock)
            sock.close(linger=0)

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close(linger=0)
        self.socks.clear()

    # ---------------------------------------------------------------- channels
    def send(self, dst: str, key: str, data: bytes) -> None:
        """Send a message to ``dst``: directly if nothing earlier is still on its way through the control
        plane, else through the control plane."""
        out = self.out.setdefault(dst, PeerOut())
        out.seq += 1
        sock = self.sock(dst) if out.direct() else None
        if sock is not None:
            out.unacked[out.seq] = (key, data)
            sock.send_multipart([wire.header("msg", src=self.proc, ep=self.epoch, key=key, seq=out.seq), data],
                                copy=False)
        else:
            self._forward(dst, out, out.seq, key, data)

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

    # ---------------------------------------------------------------- invocations
    def invoke(self, dst: str, fn: str, inv_id: str, payload: bytes, fut: Future[bytes]) -> None:
        """Start an invocation in ``dst``: directly, or through the control plane (which swaps it in)."""
        sock = self.sock(dst)
        if sock is not None:
            self.pending[inv_id] = (dst, fut)
            sock.send_multipart([wire.invoke_header(inv_id, fn), payload], copy=False)
        elif self._to_control is not None:  # not running: the control plane swaps it in
            self.pending[inv_id] = ("", fut)
            self._to_control([wire.header("cinv", id=inv_id, dst=dst, fn=fn), payload])
        else:
            fut.set_exception(InvalidState(f"process {dst!r} is not running"))

    def complete(self, hdr: dict[str, Any], payload: Any) -> None:
        """A ``res`` frame for a peer invocation."""
        entry = self.pending.pop(hdr["id"], None)
        if entry is None:
            return
        fut = entry[1]
        if hdr["ok"]:
            fut.set_result(payload.bytes if hasattr(payload, "bytes") else bytes(payload))
        else:
            fut.set_exception(from_dict(hdr.get("err")))

    # ---------------------------------------------------------------- frames and world changes
    def on_frames(self, name: str, sock: zmq.Socket[Any]) -> None:
        """Read what peer ``name`` sent: results of our invocations, acknowledgements of our messages."""
        while int(sock.getsockopt(_EVENTS)) & _POLLIN:
            frames = sock.recv_multipart(_NOBLOCK, copy=False)
            try:
                hdr, payload = wire.decode(frames)
            except ProtocolError as exc:
                log.warning("bad frame from peer %s: %s", name, exc)
                continue
            if hdr["t"] == "res":
                self.complete(hdr, payload)
            elif hdr["t"] == "ack":
                out = self.out.get(name)
                if out is not None and hdr["ok"]:
                    out.unacked.pop(hdr["seq"], None)
                elif out is not None:  # bounced: the peer is swapping out; go via the control plane
                    out.blocked = True
                    self.reroute(name)

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


__all__ = ["Peers", "PeerOut"]
