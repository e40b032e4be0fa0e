"""The downscaler: swap out processes that have been idle for ``idle_seconds``.

A pure rule (:func:`idle`) and a loop that applies it every ``interval`` seconds to the candidates it
is given and asks the controller to swap those that qualify. Idle is measured in seconds of wall
time since the last invocation (the original compared nanoseconds with seconds), and a process with
work in flight is never idle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from praas_kit.errors import PraasError

log = logging.getLogger("praas_kit.control")

Candidate = tuple[str, str, float, bool]
"""``(app, name, unix time of the last activity, busy now)`` of a running process."""


def idle(last_activity: float, busy: bool, now: float, idle_seconds: float) -> bool:
    """Whether a process qualifies for an idle swap."""
    return not busy and now - last_activity > idle_seconds


def default_interval(idle_seconds: float) -> float:
    """How often to look: a quarter of the idle time, between 0.2 and 30 seconds."""
    return min(30.0, max(0.2, idle_seconds / 4))


class Downscaler:
    """A thread that swaps idle processes out; :meth:`close` stops it."""

    def __init__(self, idle_seconds: float, interval: float | None, candidates: Callable[[], Iterable[Candidate]],
                 swap: Callable[[str, str, float], object], clock: Callable[[], float]) -> None:
        self.idle_seconds = float(idle_seconds)
        self.interval = interval or default_interval(self.idle_seconds)
        self._candidates, self._swap, self._clock = candidates, swap, clock
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="downscaler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closing.wait(self.interval):
            now = self._clock()
            for app, name, last, busy in self._candidates():
                if not idle(last, busy, now, self.idle_seconds):
                    continue
                log.info("downscaler: swapping %s/%s (idle %.1f s)", app, name, now - last)
                try:
                    self._swap(app, name, self.idle_seconds)
                except PraasError as exc:
                    log.info("downscaler: %s/%s not swapped: %s", app, name, exc.message)

    def close(self, timeout: float = 60.0) -> None:
        """Stop looking, and wait (up to ``timeout`` s) for a swap it started to end."""
        self._closing.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


__all__ = ["Downscaler", "Candidate", "idle", "default_interval"]
