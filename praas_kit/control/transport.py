"""The socket of the control plane's process endpoint: a ZeroMQ ROUTER that every process runtime
connects to (the logic on top is :mod:`praas_kit.control.endpoint`).

One thread owns the socket. Other threads hand it frames with :meth:`RouterThread.send`;
frames that arrive are decoded and passed to the ``on_frame`` callback in that thread, so the
callback must not block.
"""

from __future__ import annotations

import logging
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

    def __init__(self, bind: str, on_frame: FrameHandler, port: int = 0, max_message: int = 1 << 30) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.on_frame = on_frame
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, max_message)
        if port:
            self.router.bind(f"tcp://{bind}:{port}")
            self.port = port
        else:
            self.port = self.router.bind_to_random_port(f"tcp://{bind}")
        self._wake_addr = f"inproc://praas-ctl-{id(self)}"
        self._wake = self.ctx.socket(zmq.PULL)
        self._wake.bind(self._wake_addr)
        self._outq: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        self._tls = threading.local()
        self._socks: list[zmq.Socket[Any]] = []  # every thread's wake-up socket, closed in close()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="praas-ctl", daemon=True)
        self._thread.start()

    def send(self, ident: bytes, frames: list[Any]) -> None:
        """Queue ``[header, payload]`` for the process connected as ``ident`` (thread-safe)."""
        self._outq.put([ident, *frames])
        self._poke()

    def _poke(self) -> None:
        sock = getattr(self._tls, "sock", None)
        if sock is None:
            sock = self._tls.sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._wake_addr)
            self._socks.append(sock)
        sock.send(b"", zmq.NOBLOCK)

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
                while True:
                    try:
                        self._wake.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                while True:
                    try:
                        frames = self._outq.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        self.router.send_multipart(frames, copy=False)
                    except zmq.ZMQError as exc:
                        log.warning("cannot send to a process: %s", exc)
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
        self._wake.close(linger=0)

    def close(self) -> None:
        """Stop the thread and close the socket."""
        self._running = False
        self._poke()
        self._thread.join(5)
        for sock in self._socks:
            try:
                sock.close(linger=0)
            except zmq.ZMQError:
                pass
