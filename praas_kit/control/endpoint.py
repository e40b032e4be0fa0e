"""The control plane's process endpoint: hello, a frame dispatch table, and requests to processes.

Every runtime connects to the endpoint's ROUTER (:mod:`praas_kit.control.transport`) and says
``hello`` with the secret its session was started with; only then are its frames dispatched, by type,
to the handler registered with :meth:`ProcessEndpoint.on`. Handlers run on the socket's thread and
must not block. :meth:`ProcessEndpoint.ask` sends a request and returns a future for the reply.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from praas_kit import wire
from praas_kit.control.sessions import Session, Sessions
from praas_kit.control.transport import RouterThread
from praas_kit.errors import from_dict

log = logging.getLogger("praas_kit.control")

Handler = Callable[[Session, dict[str, Any], Any], None]


class ProcessEndpoint:
    """The ROUTER every process connects to, with its dispatch table."""

    def __init__(self, sessions: Sessions, bind: str, port: int = 0, max_message: int = 1 << 30,
                 curve_secret: bytes | None = None) -> None:
        self.sessions = sessions
        self.handlers: dict[str, list[Handler]] = {
            "metrics": [self._on_metrics], "res": [self._on_reply], "pong": [self._on_reply],
            "swapped": [self._on_swapped],
        }
        self.transport = RouterThread(bind, self._on_frame, port=port, max_message=max_message,
                                      curve_secret=curve_secret)
        self.port = self.transport.port

    def on(self, frame_type: str, handler: Handler) -> None:
        """Dispatch frames of ``frame_type`` from connected processes to ``handler`` too (after the handlers
        registered before it)."""
        self.handlers.setdefault(frame_type, []).append(handler)

    def send(self, session: Session, frames: list[Any]) -> None:
        """Send ``[header, payload]`` to a connected process (thread-safe)."""
        if session.ident is not None:
            self.transport.send(session.ident, frames)

    def send_to(self, ident: bytes, frames: list[Any]) -> None:
        """Send ``[header, payload]`` to the connection ``ident`` (thread-safe)."""
        self.transport.send(ident, frames)

    def ask(self, session: Session, kind: str, id_field: str, **fields: Any) -> Future[Any]:
        """Send a ``kind`` request; the future resolves with the reply (or fails if the process dies)."""
        rid = uuid.uuid4().hex
        fut: Future[Any] = Future()
        session.pending[rid] = fut
        self.send(session, [wire.header(kind, **{id_field: rid}, **fields), b""])
        return fut

    def close(self) -> None:
        self.transport.close()

    # ---------------------------------------------------------------- dispatch (socket thread)
    def _on_frame(self, ident: bytes, hdr: dict[str, Any], payload: Any) -> None:
        t = hdr["t"]
        if t == "hello":
            return self._on_hello(ident, hdr)
        session = self.sessions.by_ident(ident)
        if session is not None:
            for handler in self.handlers.get(t, ()):
                handler(session, hdr, payload)

    def _on_hello(self, ident: bytes, hdr: dict[str, Any]) -> None:
        with self.sessions.lock:
            session = self.sessions.get(hdr["app"], hdr["proc"])
            if session is None or not secrets.compare_digest(session.secret, hdr["secret"]) \
                    or session.ident is not None:
                log.warning("ignoring hello from %s/%s (unknown or stale)", hdr["app"], hdr["proc"])
                return
            session.restored = (hdr.get("restored"), hdr.get("restore_seconds"))
            session.epoch = str(hdr.get("ep", ""))
            self.sessions.attach(session, ident)
        if not session.connected.done():
            session.connected.set_result(hdr["addr"])

    @staticmethod
    def _on_metrics(session: Session, hdr: dict[str, Any], payload: Any) -> None:
        session.metrics = hdr
        session.metrics_at = time.time()

    @staticmethod
    def _on_reply(session: Session, hdr: dict[str, Any], payload: Any) -> None:
        """``res`` (an invocation's result) and ``pong``: resolve the request's future."""
        fut = session.pending.pop(hdr["id"], None)
        if fut is None or fut.done():
            return
        if hdr["t"] == "pong":
            fut.set_result(True)
        elif hdr["ok"]:
            fut.set_result((hdr.get("ct", "b"), payload.bytes))
        else:
            fut.set_exception(from_dict(hdr.get("err")))

    @staticmethod
    def _on_swapped(session: Session, hdr: dict[str, Any], payload: Any) -> None:
        fut = session.pending.pop(hdr["rid"], None)
        if fut is None:  # not asked for (or given up on): an exit after it is not expected
            log.warning("ignoring a swap result from %s/%s that was not asked for", session.app, session.name)
            return
        if hdr["ok"]:
            session.swap_confirmed = True  # before the process exits: its exit is then expected
        if not fut.done():
            fut.set_result(hdr)


__all__ = ["ProcessEndpoint", "Handler"]
