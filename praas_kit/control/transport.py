"""The socket of the control plane's process endpoint: a ZeroMQ ROUTER that every process runtime
connects to (the logic on top is :mod:`praas_kit.control.endpoint`).

One thread owns the socket. Other threads hand it frames with :meth:`RouterThread.send`, which queues
them and wakes the thread through an eventfd: a sending thread needs no socket of its own, so threads
that come and go (one per process exit, a pool per REST server) leave nothing behind. Frames that arrive
are decoded and passed to the ``on_frame`` callback in the socket's thread, so the callback must not
block.

Outgoing queues have no high-water mark (``SNDHWM=0``): what is sent is never dropped silently, and
callers that could send without bound (held messages) pace themselves with acknowledgements. A frame for
a process that is no longer connected is dropped with a debug log (``ROUTER_MANDATORY``).

With ``curve_secret`` the socket is a CurveZMQ server: traffic is encrypted; processes prove who they are
with the secret of their ``hello``.
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

log = logging.getLogger("praas_kit.control.transport")

FrameHandler = Callable[[bytes, dict[str, Any], Any], None]


class RouterThread:
    """ROUTER socket on ``tcp://<bind>:<port>`` served by one thread."""

    def __init__(self, bind: str, on_frame: FrameHandler, port: int = 0, max_message: int = 1 << 30,
                 curve_secret: bytes | None = None) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.on_frame = on_frame
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, max_message)
        self.router.setsockopt(zmq.SNDHWM, 0)
        self.router.setsockopt(zmq.RCVHWM, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if curve_secret is not None:
            self.router.curve_server = True
            self.router.curve_secretkey = curve_secret
        if port:
            self.router.bind(f"tcp://{bind}:{port}")
            self.port = port
        else:
            self.port = self.router.bind_to_random_port(f"tcp://{bind}")
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._outq: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="praas-endpoint", daemon=True)
        self._thread.start()

    def send(self, ident: bytes, frames: list[Any]) -> None:
        """Queue ``[header, payload]`` for the process connected as ``ident`` (thread-safe, never blocks)."""
        self._outq.put([ident, *frames])
        os.eventfd_write(self._wake, 1)

    def _flush_out(self) -> None:
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        while True:
            try:
                frames = self._outq.get_nowait()
            except queue.Empty:
                return
            try:
                self.router.send_multipart(frames, copy=False)
            except zmq.ZMQError as exc:  # EHOSTUNREACH: the process is gone
                log.debug("frame for a process that is not connected dropped: %s", exc)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        while self._running:
            try:
                events = dict(poller.poll(500))
            except zmq.ZMQError:
                break
            if self._wake in events:
                self._flush_out()
            if self.router in events:
                for _ in range(256):
                    try:
                        frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    ident = frames[0].bytes
                    try:
                        hdr, payload = wire.decode(frames[1:])
                    except ProtocolError as exc:
                        log.warning("bad frame on the process endpoint: %s", exc)
                        continue
                    try:
                        self.on_frame(ident, hdr, payload)
                    except Exception:
                        log.exception("error handling a %r frame", hdr.get("t"))
        self.router.close(linger=0)

    def close(self) -> None:
        """Stop the thread and close the socket."""
        self._running = False
        os.eventfd_write(self._wake, 1)
        self._thread.join(5)
        os.close(self._wake)
