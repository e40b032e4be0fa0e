"""The mailbox: channel messages keyed by ``(source, key)``, FIFO per source and key, bounded.

* ``put`` never drops a message silently: two pending messages with the same key queue in order.
* ``get(ANY, key)`` returns the oldest pending message with that key from any source.
* Messages from a peer carry a sequence number per sender incarnation (``ep``), counted per
  destination and contiguous. The mailbox takes them strictly in order: a number already seen is a
  duplicate (resent after a swap; acknowledged, dropped), and a number past the next expected one is
  refused as out of order (an earlier message is still on its way, held by the control plane; the
  sender re-sends this one behind it). So a message that is refused once can never be overtaken.
* The mailbox is bounded by ``max_messages`` and ``max_bytes``; a message that does not fit is refused
  (:attr:`Delivery.FULL`) and stays with its sender or the control plane until there is room. A message
  larger than the byte bound is still taken when the mailbox is empty, so every message can arrive.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections import deque
from typing import Any

from praas_kit.errors import MailboxFull, RecvTimeout
from praas_kit.limits import check_timeout
from praas_kit.names import ANY

_Msg = tuple[int, int, bytes]  # (arrival order, seq, data)


class Delivery(enum.Enum):
    """What :meth:`Mailbox.put` did with a message."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # seen before: acknowledge, drop
    OUT_OF_ORDER = "out_of_order"  # an earlier message of this sender has not arrived yet: refuse
    FULL = "full"  # no room: refuse

    @property
    def taken(self) -> bool:
        """Whether the sender may forget the message (it is in the mailbox, or was already)."""
        return self in (Delivery.ACCEPTED, Delivery.DUPLICATE)


class Mailbox:
    """Thread-safe mailbox: :meth:`take` (non-blocking; the runtime waits on its sockets) and :meth:`get` (blocking,
    timed; for use without a runtime)."""

    def __init__(self, max_messages: int | None = None, max_bytes: int | None = None) -> None:
        self._cond = threading.Condition()
        self._queues: dict[str, dict[str, deque[_Msg]]] = {}  # key -> source -> messages
        self._last_seq: dict[str, int] = {}
        self._arrival = itertools.count()
        self.max_messages, self.max_bytes = max_messages, max_bytes
        self.count = 0
        self.nbytes = 0

    def _fits(self, size: int) -> bool:
        if self.count == 0:
            return True
        if self.max_messages is not None and self.count >= self.max_messages:
            return False
        return self.max_bytes is None or self.nbytes + size <= self.max_bytes

    def put(self, src: str, key: str, data: bytes, seq: int | None = None, ep: str = "") -> Delivery:
        """Offer a message; what happened to it. ``ep`` names the sender's incarnation; ``seq`` counts its
        messages to this process from 1 (``None``: a message of this process to itself, unnumbered)."""
        with self._cond:
            tag = f"{src}/{ep}"
            if seq is not None:
                last = self._last_seq.get(tag, 0)
                if seq <= last:
                    return Delivery.DUPLICATE
                if seq != last + 1:
                    return Delivery.OUT_OF_ORDER
            if not self._fits(len(data)):
                return Delivery.FULL
            if seq is not None:
                self._last_seq[tag] = seq
            self._queues.setdefault(key, {}).setdefault(src, deque()).append((next(self._arrival), seq or 0, data))
            self.count += 1
            self.nbytes += len(data)
            self._cond.notify_all()
        return Delivery.ACCEPTED

    def put_own(self, src: str, key: str, data: bytes) -> None:
        """A message of this process to itself; :class:`MailboxFull` when there is no room."""
        if self.put(src, key, data) is Delivery.FULL:
            raise MailboxFull(f"the mailbox of {src!r} is full ({self.count} messages, {self.nbytes} bytes); "
                              "receive some messages first")

    def take(self, src: str, key: str) -> bytes | None:
        """Remove and return the oldest message for ``(src, key)`` (``src`` may be ``ANY``), or ``None``."""
        with self._cond:
            return self._take(src, key)

    def _take(self, src: str, key: str) -> bytes | None:
        by_src = self._queues.get(key)
        if not by_src:
            return None
        if src == ANY:
            candidates = [(q[0][0], s) for s, q in by_src.items() if q]
            if not candidates:
                return None
            src = min(candidates)[1]
        q = by_src.get(src)
        if not q:
            return None
        data = q.popleft()[2]
        self.count -= 1
        self.nbytes -= len(data)
        if not q:
            del by_src[src]
            if not by_src:
                del self._queues[key]
        return data

    def get(self, src: str, key: str, timeout: float | None = None) -> bytes:
        """Remove and return the oldest message for ``(src, key)``; ``src`` may be ``ANY``.

        Blocks up to ``timeout`` seconds (forever if ``None``); raises :class:`RecvTimeout`.
        """
        wait = check_timeout(timeout, "recv", zero_ok=True, clamp=True)
        deadline = None if wait is None else time.monotonic() + wait
        with self._cond:
            while True:
                data = self._take(src, key)
                if data is not None:
                    return data
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise RecvTimeout(f"recv from {src!r} with key {key!r} timed out after {timeout} s")
                self._cond.wait(remaining)

    def dump(self) -> dict[str, Any]:
        """Every pending message in arrival order plus the sequence numbers seen (for swap)."""
        with self._cond:
            msgs = [
                (arr, src, key, seq, data)
                for key, by_src in self._queues.items()
                for src, q in by_src.items()
                for (arr, seq, data) in q
            ]
            msgs.sort(key=lambda m: m[0])
            return {
                "messages": [(src, key, seq, data) for _, src, key, seq, data in msgs],
                "last_seq": dict(self._last_seq),
            }

    def restore(self, dump: dict[str, Any]) -> None:
        """Load what :meth:`dump` produced (before the process accepts work; bounds do not apply)."""
        with self._cond:
            for src, key, seq, data in dump["messages"]:
                self._queues.setdefault(key, {}).setdefault(src, deque()).append(
                    (next(self._arrival), seq, data)
                )
                self.count += 1
                self.nbytes += len(data)
            for src, seq in dump["last_seq"].items():
                self._last_seq[src] = max(self._last_seq.get(src, 0), int(seq))
            self._cond.notify_all()

    def pending(self) -> int:
        """Number of undelivered messages."""
        with self._cond:
            return self.count


__all__ = ["Mailbox", "Delivery"]
