"""Channel messages the control plane holds for processes that cannot take them yet.

A process sends ``fwd`` when the destination is not running (swapped out, starting, or bouncing
messages while it writes its snapshot). The message is stored durably in the registry first, then
delivered, in order, as soon as the destination runs; the sender gets its ``ack`` only after delivery,
so it keeps the message until then (and FIFO per sender holds across swaps).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from praas_kit import wire
from praas_kit.control.endpoint import ProcessEndpoint
from praas_kit.control.registry import Registry
from praas_kit.control.sessions import Session, Sessions
from praas_kit.errors import PraasError

log = logging.getLogger("praas_kit.control")


class HeldMessages:
    """Holds and delivers messages for processes; registers the ``fwd`` and ``ack`` handlers.

    ``is_running(app, name)`` tells whether the destination is ALLOCATED.
    """

    def __init__(self, registry: Registry, sessions: Sessions, endpoint: ProcessEndpoint,
                 is_running: Callable[[str, str], bool]) -> None:
        self.registry, self.sessions, self.endpoint = registry, sessions, endpoint
        self._is_running = is_running
        self._ack_to: dict[int, tuple[bytes, str, int]] = {}  # held message id -> (sender, dst, seq)
        self._flush_locks: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        endpoint.on("fwd", self._on_fwd)
        endpoint.on("ack", self._on_ack)

    def _on_fwd(self, sender: Session, hdr: dict[str, Any], payload: Any) -> None:
        """Hold a message for ``dst`` (durably) and deliver it when ``dst`` runs; ack the sender after delivery."""
        app, dst = sender.app, hdr["dst"]
        msg_id = self.registry.hold_message(app, dst, hdr["src"], hdr["ep"], hdr["key"], hdr["seq"], payload.bytes)
        assert sender.ident is not None
        with self.sessions.lock:
            self._ack_to.setdefault(msg_id, (sender.ident, dst, hdr["seq"]))
            target = self.sessions.get(app, dst)
            running = target is not None and target.ident is not None and self._is_running(app, dst)
        if running and target is not None:
            self.flush_async(target)

    @staticmethod
    def _on_ack(session: Session, hdr: dict[str, Any], payload: Any) -> None:
        if not hdr["ok"]:  # a held message bounced: the process is swapping out
            session.bounced.append((hdr.get("src"), hdr.get("ep"), hdr["seq"]))

    def pending_for(self, app: str, name: str) -> bool:
        """Whether messages are held for ``name``."""
        return bool(self.registry.held_messages(app, name))

    def flush_async(self, session: Session) -> None:
        """:meth:`flush` in a thread of its own (callers on the socket thread must not block)."""
        threading.Thread(target=self.flush, args=(session,), daemon=True).start()

    def flush(self, session: Session) -> None:
        """Deliver every held message for ``session``'s process in order, then drop the delivered ones
        and ack their senders. A message the process bounced stays held."""
        app, dst = session.key
        with self._flush_locks[(app, dst)]:
            msgs = self.registry.held_messages(app, dst)
            if not msgs or session.ident is None:
                return
            for m in msgs:
                self.endpoint.send(session, [wire.header("msg", src=m.src, ep=m.ep, key=m.key, seq=m.seq),
                                             m.payload])
            try:  # the process handles frames in order: its pong means every message above is in its mailbox
                self.endpoint.ask(session, "ping", "id").result(timeout=30)
            except (FutureTimeout, PraasError):
                return  # not delivered; stays held
            bounced, session.bounced = set(session.bounced), []
            done = [m.id for m in msgs if (m.src, m.ep, m.seq) not in bounced]
            self.registry.drop_messages(done)
            for mid in done:
                to = self._ack_to.pop(mid, None)
                if to is not None:
                    self.endpoint.send_to(to[0], [wire.header("ack", dst=to[1], seq=to[2], ok=True), b""])


__all__ = ["HeldMessages"]
