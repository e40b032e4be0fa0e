"""Direct data-plane invocation: a ZeroMQ DEALER per thread and process address.

A call sends ``[inv header, payload]`` and waits for the matching ``res``. A socket monitor
watches the connection, so a process that dies mid-call fails the call at once with
:class:`~praas_kit.errors.ProcessDied` instead of waiting for the timeout.

A ZeroMQ socket must only be used, and closed, by one thread. :meth:`DataPlaneClient.close` therefore
closes the sockets no call is using and marks the client closed; a call still running on another thread
ends within one monitor slice with :class:`~praas_kit.errors.InvalidState` and its thread closes its socket.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from praas_kit import wire
from praas_kit.errors import InvalidState, ProcessDied, Timeout, from_dict
from praas_kit.payload import ZERO_COPY_MIN, Result

_ids = itertools.count(1)
_EVENTS, _POLLIN, _RCVTIMEO = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.RCVTIMEO)
MONITOR_SLICE_MS = 50  # a dead process is noticed within this long


class _Conn:
    def __init__(self, ctx: zmq.Context[Any], address: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, MONITOR_SLICE_MS)
        self.mon = self.sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self.sock.connect(address)
        self.connected = False
        self.in_use = threading.Lock()  # held by the thread running a call on this connection
        self.closed = False

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

    def _conn(self, address: str) -> _Conn:
        conns: dict[str, _Conn] | None = getattr(self._tls, "conns", None)
        if conns is None:
            conns = self._tls.conns = {}
        conn = conns.get(address)
        if conn is None:
            conn = conns[address] = _Conn(self.ctx, address)
            with self._lock:
                self._all.append(conn)
        return conn

    def forget(self, address: str) -> None:
        """Close this thread's connection to ``address``."""
        conns = getattr(self._tls, "conns", {})
        conn = conns.pop(address, None)
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def invoke(self, address: str, fn: str, payload: bytes, timeout: float | None = None,
               process: str | None = None) -> Result:
        """Invoke ``fn`` at ``address``; raise the remote error, :class:`ProcessDied` or :class:`Timeout`
        (:class:`InvalidState` once the client is closed)."""
        if self._closed.is_set():
            raise InvalidState("the data-plane client is closed")
        conn = self._conn(address)
        with conn.in_use:
            try:
                return self._call(conn, address, fn, payload, timeout, process)
            finally:
                if self._closed.is_set():  # closed by another thread meanwhile: this thread owns the socket
                    self.forget(address)

    def _call(self, conn: _Conn, address: str, fn: str, payload: bytes, timeout: float | None,
              process: str | None) -> Result:
        # connection events from before this call (a process that went away, replaced by another at the same
        # address, e.g. a container that got the same IP) are history: they must not fail this call
        while conn.mon.getsockopt(_EVENTS) & _POLLIN:
            ev = parse_monitor_message(conn.mon.recv_multipart())
            conn.connected = ev["event"] == zmq.EVENT_CONNECTED
        inv_id = self._prefix + str(next(_ids))
        conn.sock.send_multipart([wire.invoke_header(inv_id, fn), payload], copy=len(payload) < ZERO_COPY_MIN)
        deadline = None if timeout is None else time.monotonic() + timeout
        sock, mon = conn.sock, conn.mon
        while True:
            # block on the data socket alone (RCVTIMEO = one slice); look at the connection monitor between slices
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self.forget(address)
                raise Timeout(f"invocation of {fn!r} at {address} timed out after {timeout} s")
            if left is not None and left * 1000 < MONITOR_SLICE_MS:
                sock.setsockopt(_RCVTIMEO, max(1, int(left * 1000)))
            try:
                frames = sock.recv_multipart(copy=False)
            except zmq.Again:
                if self._closed.is_set():
                    raise InvalidState(f"the client was closed during the invocation of {fn!r}") from None
                while mon.getsockopt(_EVENTS) & _POLLIN:
                    ev = parse_monitor_message(mon.recv_multipart())
                    if ev["event"] == zmq.EVENT_CONNECTED:
                        conn.connected = True
                    elif ev["event"] == zmq.EVENT_DISCONNECTED:
                        self.forget(address)
                        raise ProcessDied(
                            f"process {process or address} disconnected during the invocation of {fn!r}") from None
                continue
            finally:
                if left is not None and left * 1000 < MONITOR_SLICE_MS:
                    sock.setsockopt(_RCVTIMEO, MONITOR_SLICE_MS)
            hdr, body = wire.decode(frames)
            if hdr["t"] == "err":
                raise from_dict(hdr["err"])
            if hdr["t"] != "res" or hdr["id"] != inv_id:
                continue  # a late answer to an earlier, timed-out call
            if not hdr["ok"]:
                raise from_dict(hdr.get("err"))
            data = body.bytes if len(body) < ZERO_COPY_MIN else body  # large results stay zero-copy (Result.buffer)
            return Result(data, str(hdr.get("ct", "b")), process, inv_id)

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

