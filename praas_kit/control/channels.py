"""Channel messages the control plane holds for processes that cannot take them yet.

A process sends ``fwd`` when the destination is not running (swapped out, starting) or refused a
message (it was swapping out, its mailbox was full, or an earlier message of the sender was still on its
way). The control plane stores the message durably in the registry first and tells the sender
(``ack held=true``: the sender forgets the payload but keeps its place in line), then delivers it, in
order, as soon as the destination runs, and acknowledges delivery to the sender (``ack``), which only
then sends directly again (so FIFO per sender holds across swaps).

Delivery is paced: at most :data:`BATCH` messages, then a ``ping`` whose ``pong`` says they are all in
the process's mailbox, then the next batch. A message the process refuses stops the delivery; it stays
held, and the delivery is tried again with the process's next metrics report (a mailbox that was full has
room again after the function received some messages). A message to a process that does not exist or was
stopped is dropped, so nothing reaches a later process of the same name.

A relayed message's source is the sender's own: the control plane refuses a ``fwd`` whose ``src`` and
``ep`` are not the name and epoch the sender's session said hello with (a forgery would otherwise take the
genuine message's place in line, and the genuine one would be dropped as a duplicate).
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
from praas_kit.errors import PraasError, ProtocolError

log = logging.getLogger("praas_kit.control")

BATCH = 256  #: messages delivered before waiting for the process to confirm them
ACK_TIMEOUT = 30.0  #: seconds a process may take to confirm a batch


class HeldMessages:
    """Holds and delivers messages for processes; registers the ``fwd``, ``ack`` and ``metrics`` handlers.

    ``accepts(app, name)`` tells whether messages for ``name`` may be held (it exists and is not stopped);
    ``is_running(app, name)`` whether it is ALLOCATED.
    """

    def __init__(self, registry: Registry, sessions: Sessions, endpoint: ProcessEndpoint,
                 accepts: Callable[[str, str], bool], is_running: Callable[[str, str], bool]) -> None:
        self.registry, self.sessions, self.endpoint = registry, sessions, endpoint
        self._accepts, self._is_running = accepts, is_running
        self._ack_to: dict[int, tuple[bytes, str, int]] = {}  # held message id -> (sender, dst, seq)
        self._flush_locks: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._waiting = registry.held_destinations()  # (app, dst) with messages held
        endpoint.on("fwd", self._on_fwd)
        endpoint.on("ack", self._on_ack)
        endpoint.on("metrics", self._on_metrics)

    def _on_fwd(self, sender: Session, hdr: dict[str, Any], payload: Any) -> None:
        """Hold a message for ``dst`` (durably), tell the sender, and deliver it if ``dst`` runs."""
        app, dst = sender.app, hdr["dst"]
        assert sender.ident is not None
        if hdr["src"] != sender.name or not sender.epoch or hdr["ep"] != sender.epoch:
            log.warning("refusing a message from %s/%s to %r that claims to come from %r (epoch %r)", app,
                        sender.name, dst, hdr["src"], hdr["ep"])
            err = ProtocolError(f"a message relayed for {sender.name!r} claimed to come from {hdr['src']!r}")
            self.endpoint.send_to(sender.ident, [wire.header("err", err=err.to_dict()), b""])
            return
        if not self._accepts(app, dst):
            log.info("dropping a message from %s/%s to %r, which does not exist or was stopped", app, sender.name, dst)
            self.endpoint.send_to(sender.ident, [wire.header("ack", dst=dst, seq=hdr["seq"], ok=True), b""])
            return
        msg_id = self.registry.hold_message(app, dst, hdr["src"], hdr["ep"], hdr["key"], hdr["seq"], payload.bytes)
        self.endpoint.send_to(sender.ident, [wire.header("ack", dst=dst, seq=hdr["seq"], ok=True, held=True), b""])
        with self.sessions.lock:
            self._ack_to[msg_id] = (sender.ident, dst, hdr["seq"])
            self._waiting.add((app, dst))
            target = self.sessions.get(app, dst)
            running = target is not None and target.ident is not None and self._is_running(app, dst)
        if running and target is not None:
            self.flush_async(target)

    @staticmethod
    def _on_ack(session: Session, hdr: dict[str, Any], payload: Any) -> None:
        if not hdr["ok"]:  # the process refused a held message (swapping out, mailbox full, out of order)
            session.bounced.append((hdr.get("src"), hdr.get("ep"), hdr["seq"]))

    def _on_metrics(self, session: Session, hdr: dict[str, Any], payload: Any) -> None:
        if session.key in self._waiting and self._is_running(*session.key):
            self.flush_async(session)

    def pending_for(self, app: str, name: str) -> bool:
        """Whether messages are held for ``name``."""
        return (app, name) in self._waiting

    def forget(self, app: str, name: str) -> None:
        """Drop every message held for ``name`` (it was stopped or deleted)."""
        with self.sessions.lock:
            n = self.registry.drop_held_for(app, name)
            self._waiting.discard((app, name))
        if n:
            log.info("dropped %d message(s) held for %s/%s", n, app, name)

    def flush_async(self, session: Session) -> None:
        """:meth:`flush` in a thread of its own, unless one runs for this process already (callers on the
        socket thread must not block)."""
        lock = self._flush_locks[session.key]
        if lock.locked():
            return
        threading.Thread(target=self.flush, args=(session,), daemon=True).start()

    def flush(self, session: Session) -> None:
        """Deliver the messages held for ``session``'s process in order, batch by batch; drop the delivered
        ones and ack their senders. Stops at the first batch the process does not fully take."""
        app, dst = session.key
        lock = self._flush_locks[(app, dst)]
        if not lock.acquire(blocking=False):
            return
        try:
            after = 0
            while session.ident is not None:
                msgs = self.registry.held_messages(app, dst, after=after, limit=BATCH)
                if not msgs:
                    with self.sessions.lock:
                        if not self.registry.held_count(app, dst):
                            self._waiting.discard((app, dst))
                    return
                session.bounced = []
                for m in msgs:
                    self.endpoint.send(session, [wire.header("msg", src=m.src, ep=m.ep, key=m.key, seq=m.seq),
                                                 m.payload])
                try:  # the process handles frames in order: its pong means it has answered every message above
                    self.endpoint.ask(session, "ping", "id").result(timeout=ACK_TIMEOUT)
                except (FutureTimeout, PraasError):
                    return  # not confirmed; everything stays held and is offered again
                bounced = set(session.bounced)
                done = [m.id for m in msgs if (m.src, m.ep, m.seq) not in bounced]
                self.registry.drop_messages(done)
                for mid in done:
                    to = self._ack_to.pop(mid, None)
                    if to is not None:
                        self.endpoint.send_to(to[0], [wire.header("ack", dst=to[1], seq=to[2], ok=True), b""])
                if bounced:
                    return  # refused: the rest stays held; the next metrics report tries again
                after = msgs[-1].id
        finally:
            lock.release()


__all__ = ["HeldMessages", "BATCH"]
