"""The mailbox: channel messages keyed by ``(source, key)``, FIFO per source and key.

``put`` never drops a message: two pending messages with the same key queue in order.
``get(ANY, key)`` returns the oldest pending message with that key from any source.
Messages carry a per-source sequence number; a message whose number was already seen is a
duplicate (resent after a swap) and is ignored.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Any

from praas_kit.errors import RecvTimeout
from praas_kit.names import ANY

_Msg = tuple[int, int, bytes]  # (arrival order, seq, data)


class Mailbox:
    """Thread-safe mailbox with blocking, timed receive."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queues: dict[str, dict[str, deque[_Msg]]] = {}  # key -> source -> messages
        self._last_seq: dict[str, int] = {}
        self._arrival = itertools.count()

    def put(self, src: str, key: str, data: bytes, seq: int | None = None, ep: str = "") -> bool:
        """Store a message; ``False`` if ``(src, ep, seq)`` shows it is a duplicate.

        ``ep`` names the sender's incarnation; sequence numbers count per incarnation.
        """
        with self._cond:
            if seq is not None:
                tag = f"{src}/{ep}"
                if seq <= self._last_seq.get(tag, 0):
                    return False
                self._last_seq[tag] = seq
            self._queues.setdefault(key, {}).setdefault(src, deque()).append(
                (next(self._arrival), seq or 0, data)
            )
            self._cond.notify_all()
        return True

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
        if not q:
            del by_src[src]
            if not by_src:
                del self._queues[key]
        return data

    def get(self, src: str, key: str, timeout: float | None = None) -> bytes:
        """Remove and return the oldest message for ``(src, key)``; ``src`` may be ``ANY``.

        Blocks up to ``timeout`` seconds (forever if ``None``); raises :class:`RecvTimeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
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
        """Load what :meth:`dump` produced (before the process accepts work)."""
        with self._cond:
            for src, key, seq, data in dump["messages"]:
                self._queues.setdefault(key, {}).setdefault(src, deque()).append(
                    (next(self._arrival), seq, data)
                )
            for src, seq in dump["last_seq"].items():
                self._last_seq[src] = max(self._last_seq.get(src, 0), int(seq))
            self._cond.notify_all()

    def pending(self) -> int:
        """Number of undelivered messages."""
        with self._cond:
            return sum(len(q) for by_src in self._queues.values() for q in by_src.values())
