"""Direct data-plane invocation: a ZeroMQ DEALER per thread, process address and server key.

A call sends ``[inv header, payload]`` and waits for the matching ``res``. A socket monitor watches the
connection between waits of :data:`MONITOR_SLICE_MS`:

* a process that dies mid-call fails the call at once with :class:`~praas_kit.errors.ProcessDied`;
* a process that refuses the client's key fails it with :class:`~praas_kit.errors.Unauthorized`;
* an address where no process completes a handshake within :data:`CONNECT_TIMEOUT` (it was swapped out
  and came back elsewhere, or is gone) fails it with :class:`Unreachable`, and the request is discarded
  unsent, so the caller may safely look the process up again and retry.

With a server key and a client key pair, connections are CurveZMQ (see :mod:`praas_kit.keys`). Connections do
not reconnect by themselves (``ZMQ_RECONNECT_IVL=-1``): an idle connection's monitor then receives a few
events at most, never a stream that would fill its queue and block libzmq's I/O thread.

A ZeroMQ socket must only be used, and closed, by one thread. :meth:`DataPlaneClient.close` therefore
closes the sockets no call is using and marks the client closed; a call still running on another thread
ends within one monitor slice with :class:`~praas_kit.errors.InvalidState` and its thread closes its socket.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from praas_kit import wire
from praas_kit.errors import InvalidState, ProcessDied, Timeout, Unauthorized, Unreachable, from_dict
from praas_kit.keys import KeyPair, curve_client
from praas_kit.payload import ZERO_COPY_MIN, Result
from praas_kit.zmqio import recv_frames, send_frames

_ids = itertools.count(1)
_EVENTS, _POLLIN, _RCVTIMEO = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.RCVTIMEO)
MONITOR_SLICE_MS = 50  # a dead process is noticed within this long
CONNECT_TIMEOUT = 1.0  # seconds without a completed handshake after which the address is given up
_READY = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_DOWN = int(zmq.EVENT_DISCONNECTED)
_REFUSED = (int(zmq.EVENT_HANDSHAKE_FAILED_AUTH), int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL),
            int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL))


class _Conn:
    def __init__(self, ctx: zmq.Context[Any], address: str, server_key: str | None, client: KeyPair | None) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, MONITOR_SLICE_MS)
        # No automatic reconnection: a connection that drops or is refused stays down (the SDK looks the process
        # up again and makes a new one). Reconnecting by itself, a socket whose process is gone, or whose address
        # now belongs to another process (Docker reuses addresses), would report a failed handshake to its
        # monitor ten times a second while idle; nobody reads an idle connection's monitor, and once its queue
        # is full libzmq's I/O thread blocks on it, stalling every socket of the context.
        self.sock.setsockopt(zmq.RECONNECT_IVL, -1)
        if server_key and client is not None:
            curve_client(self.sock, server_key, client)
        self.mon = self.sock.get_monitor_socket(_READY | _DOWN | sum(_REFUSED))
        self.sock.connect(address)
        self.ready = False  # a handshake completed (the process is there and took our key)
        self.refused = False
        self.down = False  # the connection was up and dropped: without reconnection it never comes back
        self.in_use = threading.Lock()  # held by the thread running a call on this connection
        self.closed = False

    def events(self) -> None:
        """Take in what the monitor reported; :class:`ProcessDied` when a ready connection dropped."""
        while self.mon.getsockopt(_EVENTS) & _POLLIN:
            event = parse_monitor_message(self.mon.recv_multipart())["event"]
            if event == _READY:
                self.ready, self.refused = True, False
            elif event in _REFUSED:
                self.refused = True
            elif event == _DOWN and self.ready:
                self.ready, self.down = False, True
                raise ProcessDied("disconnected")

    def dropped(self) -> bool:
        """Take in the monitor's events; whether this connection was up and has dropped since (a process
        swapped out, moved or dead: the connection is useless, a new one must be made)."""
        try:
            self.events()
        except ProcessDied:
            pass
        return self.down

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.mon.close(linger=0)
        self.sock.close(linger=0)


class DataPlaneClient:
    """Invokes functions directly in processes. Thread-safe: each thread gets its own sockets."""

    def __init__(self) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self._tls = threading.local()
        self._all: list[_Conn] = []
        self._lock = threading.Lock()
        self._prefix = f"{os.getpid()}-{id(self) & 0xFFFF:x}-"
        self._closed = threading.Event()

    def _conn(self, address: str, server_key: str | None, client: KeyPair | None) -> _Conn:
        conns: dict[tuple[str, str | None], _Conn] | None = getattr(self._tls, "conns", None)
        if conns is None:
            conns = self._tls.conns = {}
        conn = conns.get((address, server_key))
        if conn is None:
            conn = conns[(address, server_key)] = _Conn(self.ctx, address, server_key, client)
            with self._lock:
                self._all.append(conn)
        return conn

    def forget(self, address: str) -> None:
        """Close this thread's connections to ``address``."""
        conns: dict[tuple[str, str | None], _Conn] = getattr(self._tls, "conns", {})
        for key in [k for k in conns if k[0] == address]:
            conn = conns.pop(key)
            conn.close()
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def invoke(self, address: str, fn: str, payload: bytes, timeout: float | None = None,
               process: str | None = None, server_key: str | None = None, client: KeyPair | None = None) -> Result:
        """Invoke ``fn`` at ``address`` (a CurveZMQ server with ``server_key``, reached with ``client`` keys).

        Raises the remote error, :class:`ProcessDied`, :class:`Unreachable`, :class:`Unauthorized`,
        :class:`Timeout`, or :class:`InvalidState` once the client is closed.
        """
        name = process or address
        return self.request(address, lambda inv_id: wire.invoke_header(inv_id, fn), fn, payload, timeout,
                            f"process {name}", name, server_key, client)

    def request(self, address: str, header: Callable[[str], bytes], fn: str, payload: bytes, timeout: float | None,
                peer: str, process: str, server_key: str | None = None, client: KeyPair | None = None) -> Result:
        """Send ``[header(call id), payload]`` to ``address`` and wait for the ``res`` with that id; the errors
        of :meth:`invoke` (``peer`` describes the other side in them). The result names ``process`` unless the
        reply names the process (``proc``) and the invocation id (``inv``) itself, as the gateway's do."""
        if self._closed.is_set():
            raise InvalidState("the data-plane client is closed")
        conn = self._conn(address, server_key, client)
        if conn.dropped():  # dropped since this thread's last call (e.g. another client swapped the process)
            self.forget(address)
            conn = self._conn(address, server_key, client)
        with conn.in_use:
            try:
                return self._call(conn, address, header, fn, payload, timeout, peer, process)
            finally:
                if self._closed.is_set():  # closed by another thread meanwhile: this thread owns the socket
                    self.forget(address)

    def _call(self, conn: _Conn, address: str, header: Callable[[str], bytes], fn: str, payload: bytes,
              timeout: float | None, peer: str, process: str) -> Result:
        try:
            conn.events()  # connection events from before this call are history
        except ProcessDied:
            pass
        inv_id = self._prefix + str(next(_ids))
        sent = time.monotonic()
        deadline = None if timeout is None else sent + timeout
        self._send(conn, address, [header(inv_id), payload], copy=len(payload) < ZERO_COPY_MIN, sent=sent,
                   deadline=deadline, fn=fn, timeout=timeout, peer=peer)
        sock = conn.sock
        while True:
            # block on the data socket alone (RCVTIMEO = one slice); look at the connection monitor between slices
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self.forget(address)
                raise Timeout(f"invocation of {fn!r} at {address} timed out after {timeout} s")
            short = left is not None and left * 1000 < MONITOR_SLICE_MS
            if left is not None and short:
                sock.setsockopt(_RCVTIMEO, max(1, int(left * 1000)))
            try:
                frames = recv_frames(sock, 0)
            except zmq.Again:
                if self._closed.is_set():
                    raise InvalidState(f"the client was closed during the invocation of {fn!r}") from None
                try:
                    conn.events()
                except ProcessDied:
                    self.forget(address)
                    raise ProcessDied(f"{peer} disconnected during the invocation of {fn!r}") from None
                if conn.refused and not conn.ready:
                    self.forget(address)
                    raise Unauthorized(f"{peer} refused this client's key (a key of another application, "
                                       "or of an earlier incarnation)") from None
                if not conn.ready and time.monotonic() - sent > CONNECT_TIMEOUT:
                    self.forget(address)  # the request is dropped unsent
                    raise Unreachable(f"nothing answered at {address} ({peer}) within {CONNECT_TIMEOUT} s") \
                        from None
                continue
            finally:
                if short:
                    sock.setsockopt(_RCVTIMEO, MONITOR_SLICE_MS)
            hdr, body = wire.decode(frames)
            if hdr["t"] == "err":
                raise from_dict(hdr["err"])
            if hdr["t"] != "res" or hdr["id"] != inv_id:
                continue  # a late answer to an earlier, timed-out call
            if not hdr["ok"]:
                raise from_dict(hdr.get("err"))
            data = body.bytes if len(body) < ZERO_COPY_MIN else body  # large results stay zero-copy (Result.buffer)
            return Result(data, str(hdr.get("ct", "b")), str(hdr.get("proc", process)), str(hdr.get("inv", inv_id)))

    def _send(self, conn: _Conn, address: str, frames: list[Any], copy: bool, sent: float, deadline: float | None,
              fn: str, timeout: float | None, peer: str) -> None:
        """Queue the request without ever blocking for good: a DEALER without a connection (dropped, and never
        reconnected) cannot take it; wait for one in monitor slices until :data:`CONNECT_TIMEOUT`
        (:class:`Unreachable`, the request unsent), the call's deadline (:class:`Timeout`), a refused key
        (:class:`Unauthorized`) or the client's close (:class:`InvalidState`)."""
        while True:
            try:
                send_frames(conn.sock, frames, zmq.NOBLOCK, copy=copy)
                return
            except zmq.Again:
                pass
            now = time.monotonic()
            if self._closed.is_set():
                raise InvalidState(f"the client was closed during the invocation of {fn!r}")
            try:
                conn.events()
            except ProcessDied:
                pass
            if conn.refused and not conn.ready:
                self.forget(address)
                raise Unauthorized(f"{peer} refused this client's key (a key of another application, "
                                   "or of an earlier incarnation)")
            if deadline is not None and now >= deadline:
                self.forget(address)
                raise Timeout(f"invocation of {fn!r} at {address} timed out after {timeout} s")
            if now - sent > CONNECT_TIMEOUT:
                self.forget(address)
                raise Unreachable(f"nothing answered at {address} ({peer}) within {CONNECT_TIMEOUT} s")
            conn.sock.poll(MONITOR_SLICE_MS, zmq.POLLOUT)

    def close(self) -> None:
        """Close the client (from any thread): every socket no call is using now is closed; a call still
        running elsewhere ends soon with :class:`InvalidState`, and its thread closes its socket."""
        self._closed.set()
        with self._lock:
            conns = list(self._all)
        for c in conns:
            if c.in_use.acquire(blocking=False):
                try:
                    c.close()
                finally:
                    c.in_use.release()
                with self._lock:
                    if c in self._all:
                        self._all.remove(c)


__all__ = ["DataPlaneClient", "Unreachable", "MONITOR_SLICE_MS", "CONNECT_TIMEOUT"]
