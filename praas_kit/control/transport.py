"""The control plane's ZeroMQ sockets: ROUTERs served by one thread (the logic on top is
:mod:`praas_kit.control.endpoint` for processes and :mod:`praas_kit.control.gateway` for clients).

One thread owns the sockets. Other threads hand it frames with :meth:`RouterThread.send`, which queues
them and wakes the thread through an eventfd: a sending thread needs no socket of its own, so threads
that come and go (one per process exit, a pool per REST server) leave nothing behind. Frames that arrive
are decoded and passed to their socket's ``on_frame`` callback in the sockets' thread, so a callback must
not block. Because the process endpoint and the invocation gateway share this thread, a call that
arrives from a client is forwarded to its process, and the process's result back to the client, without
a hand-off between threads.

The process endpoint's queues have no high-water mark (``SNDHWM=0``): what is sent to a process is never
dropped silently, and callers that could send without bound (held messages) pace themselves with
acknowledgements. A listener for clients (the gateway) is opened with ``hwm``: at most that many messages
queue per peer in each direction, so a client that floods and does not read is slowed down by TCP and has
the replies it does not read dropped, instead of growing the control plane's memory without bound. A frame
for a peer that is no longer connected is dropped with a debug log (``ROUTER_MANDATORY``).

With ``curve_secret`` a socket is a CurveZMQ server: traffic is encrypted.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import zmq

from praas_kit import wire
from praas_kit.errors import ProtocolError
from praas_kit.zmqio import recv_frames, send_frames

log = logging.getLogger("praas_kit.control.transport")

FrameHandler = Callable[[bytes, dict[str, Any], Any], None]


class Listener:
    """One ROUTER socket of a :class:`RouterThread` (``port`` is where it listens)."""

    def __init__(self, owner: RouterThread, sock: zmq.Socket[Any], port: int, on_frame: FrameHandler,
                 name: str, hwm: int = 0) -> None:
        self.owner, self.sock, self.port, self.on_frame, self.name = owner, sock, port, on_frame, name
        self.send_flags = zmq.NOBLOCK if hwm else 0  # bounded: a full peer's frames are dropped, never waited for

    def send(self, ident: bytes, frames: list[Any]) -> None:
        """Queue frames for the peer connected as ``ident`` (thread-safe, never blocks)."""
        self.owner.queue(self, [ident, *frames])


class RouterThread:
    """ROUTER sockets served by one thread; the first listens on ``tcp://<bind>:<port>``."""

    def __init__(self, bind: str, on_frame: FrameHandler, port: int = 0, max_message: int = 1 << 30,
                 curve_secret: bytes | None = None) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_lock = threading.Lock()
        self._outq: queue.SimpleQueue[tuple[Listener, list[Any]]] = queue.SimpleQueue()
        self._new: queue.SimpleQueue[Listener] = queue.SimpleQueue()
        self._listeners: dict[Any, Listener] = {}
        self.main = self._open(bind, on_frame, port, max_message, curve_secret, "process endpoint")
        self._listeners[self.main.sock] = self.main
        self.router, self.port = self.main.sock, self.main.port
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="praas-endpoint", daemon=True)
        self._thread.start()

    def listen(self, bind: str, on_frame: FrameHandler, port: int = 0, max_message: int = 1 << 30,
               curve_secret: bytes | None = None, name: str = "listener", hwm: int = 0) -> Listener:
        """Open another ROUTER socket served by this thread (its frames go to ``on_frame``); ``hwm``: messages
        queued per peer and direction (0: unbounded)."""
        listener = self._open(bind, on_frame, port, max_message, curve_secret, name, hwm)
        self._new.put(listener)  # the socket moves to the thread through the queue (a memory barrier)
        os.eventfd_write(self._wake, 1)
        return listener

    def _open(self, bind: str, on_frame: FrameHandler, port: int, max_message: int, curve_secret: bytes | None,
              name: str, hwm: int = 0) -> Listener:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, max_message)
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if curve_secret is not None:
            sock.curve_server = True
            sock.curve_secretkey = curve_secret
        try:
            if port:
                sock.bind(f"tcp://{bind}:{port}")
            else:
                port = sock.bind_to_random_port(f"tcp://{bind}")
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        return Listener(self, sock, port, on_frame, name, hwm)

    def send(self, ident: bytes, frames: list[Any]) -> None:
        """Queue ``[header, payload]`` for the process connected as ``ident`` (thread-safe, never blocks)."""
        self.queue(self.main, [ident, *frames])

    def queue(self, listener: Listener, frames: list[Any]) -> None:
        """Queue ``[ident, header, payload]`` on ``listener``'s socket (thread-safe, never blocks). Once the
        thread is closed, frames are dropped (a relayed call that finishes after its control plane closed)."""
        with self._wake_lock:  # the eventfd is not closed (and its number reused) under a sender
            if not self._running:
                log.debug("frame for the %s dropped: the control plane is closed", listener.name)
                return
            self._outq.put((listener, frames))
            os.eventfd_write(self._wake, 1)

    def _flush_out(self, poller: zmq.Poller) -> None:
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        while not self._new.empty():
            listener = self._new.get_nowait()
            self._listeners[listener.sock] = listener
            poller.register(listener.sock, zmq.POLLIN)
        while True:
            try:
                listener, frames = self._outq.get_nowait()
            except queue.Empty:
                return
            try:
                send_frames(listener.sock, frames, flags=listener.send_flags, copy=False)
            except zmq.Again:  # a bounded listener's peer has as many frames queued as it may: it does not read
                log.debug("frame for a peer of the %s that does not read dropped", listener.name)
            except zmq.ZMQError as exc:  # EHOSTUNREACH: the peer is gone
                log.debug("frame for a peer of the %s that is not connected dropped: %s", listener.name, exc)

    def _drain(self, listener: Listener) -> None:
        for _ in range(256):
            try:
                frames = recv_frames(listener.sock)
            except zmq.Again:
                return
            ident = frames[0].bytes
            try:
                hdr, payload = wire.decode(frames[1:])
            except ProtocolError as exc:
                log.warning("bad frame on the %s: %s", listener.name, exc)
                continue
            try:
                listener.on_frame(ident, hdr, payload)
            except Exception:
                log.exception("error handling a %r frame on the %s", hdr.get("t"), listener.name)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.main.sock, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        while self._running:
            try:
                events = dict(poller.poll(500))
            except zmq.ZMQError:
                break
            if self._wake in events:
                self._flush_out(poller)
            for sock in events:
                listener = self._listeners.get(sock)
                if listener is not None:
                    self._drain(listener)
        while not self._new.empty():
            listener = self._new.get_nowait()
            self._listeners[listener.sock] = listener
        for listener in self._listeners.values():
            listener.sock.close(linger=0)

    def close(self) -> None:
        """Stop the thread and close every socket."""
        with self._wake_lock:
            self._running = False
            os.eventfd_write(self._wake, 1)
        self._thread.join(5)
        with self._wake_lock:
            os.close(self._wake)


__all__ = ["RouterThread", "Listener", "FrameHandler"]
