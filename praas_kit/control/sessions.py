"""Run-time facts about the process runtimes that are up: one :class:`Session` per incarnation.

Sessions are not persisted (the registry is). :class:`Sessions` holds them under one re-entrant lock,
which the controller also takes for status changes, so "look at a session and the registry, then
act" is atomic for whoever holds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    """One incarnation of a process, from its start until it exits."""

    app: str
    name: str
    incarnation: str
    secret: str
    epoch: str = ""  # the epoch its messages carry (``ep``), from its hello
    ident: bytes | None = None  # its connection on the process endpoint, once it said hello
    connected: Future[str] = field(default_factory=Future)  # resolves to the data-plane address on hello
    pending: dict[str, Future[Any]] = field(default_factory=dict)  # request/invocation id -> future
    metrics: dict[str, Any] = field(default_factory=dict)  # the last metrics frame
    metrics_at: float = 0.0  # when it arrived (Unix time)
    cp_inflight: int = 0  # invocations through the control plane now running in it
    cp_last: float = field(default_factory=time.time)  # last invocation through the control plane
    swap_confirmed: bool = False  # it reported a committed snapshot: its exit is expected
    bounced: list[tuple[Any, Any, int]] = field(default_factory=list)  # held messages it refused (swapping)
    restored: tuple[Any, Any] = (None, None)  # (bytes, seconds) restored from a snapshot at start

    @property
    def key(self) -> tuple[str, str]:
        return self.app, self.name

    def last_activity(self) -> float:
        """Unix time of its last invocation, direct or through the control plane."""
        return max(float(self.metrics.get("last", 0.0)), self.cp_last)

    def busy(self) -> bool:
        """Whether an invocation runs in it now: one through the control plane, or one the last metrics
        frame reported, if that frame is newer than the control plane's own last call (an older frame may
        count a call through the control plane that has finished since: a pooled process that just answered
        is idle, not busy for up to a metrics period)."""
        if self.cp_inflight:
            return True
        return bool(self.metrics.get("inflight", 0)) and self.metrics_at > self.cp_last


class Sessions:
    """The sessions of every running process, by ``(app, name)`` and by endpoint identity."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._by_key: dict[tuple[str, str], Session] = {}
        self._by_ident: dict[bytes, Session] = {}

    def get(self, app: str, name: str) -> Session | None:
        return self._by_key.get((app, name))

    def by_ident(self, ident: bytes) -> Session | None:
        return self._by_ident.get(ident)

    def add(self, session: Session) -> None:
        with self.lock:
            self._by_key[session.key] = session

    def attach(self, session: Session, ident: bytes) -> None:
        """``session`` said hello on connection ``ident``."""
        with self.lock:
            session.ident = ident
            self._by_ident[ident] = session

    def drop(self, app: str, name: str) -> Session | None:
        with self.lock:
            session = self._by_key.pop((app, name), None)
            if session is not None and session.ident is not None:
                self._by_ident.pop(session.ident, None)
            return session

    def connected(self, app: str) -> list[Session]:
        """The sessions of ``app`` that said hello."""
        with self.lock:
            return [s for s in self._by_key.values() if s.app == app and s.ident is not None]

    def __iter__(self) -> Iterator[Session]:
        with self.lock:
            return iter(list(self._by_key.values()))


__all__ = ["Session", "Sessions"]
