"""Reporting the exits of containers (and Swarm tasks) exactly once.

:class:`ExitReports` keeps the runtimes being followed (by container id, or by service id for the
``swarm`` backend) and calls each one's callback exactly once, in a thread of its own
(:meth:`ExitReports.fire`). :class:`ExitWatcher` feeds it from the Docker engine's event stream: one
thread follows the ``die`` events of the containers with one label (a ``docker kill`` gives 137); if
the stream breaks, it is re-opened and the tracked containers are reconciled with their inspected
state, so no exit is lost or reported twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from praas_kit.engines.docker import engine_errors
from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.backends.docker")


@dataclass
class Tracked:
    """A container whose exit is reported."""

    name: str
    on_exit: Callable[[int], None]
    exited: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    staged_code: str | None = None


class ExitReports:
    """The runtimes whose exit is reported, by id; each exit is reported once (:meth:`fire`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tracked: dict[str, Tracked] = {}  # id -> record
        self._closed = False

    def track(self, cid: str, record: Tracked) -> None:
        with self._lock:
            self.tracked[cid] = record

    def get(self, cid: str) -> Tracked | None:
        with self._lock:
            return self.tracked.get(cid)

    def forget(self, cid: str) -> Tracked | None:
        with self._lock:
            return self.tracked.pop(cid, None)

    def all_exited(self) -> bool:
        with self._lock:
            return all(t.exited.is_set() for t in self.tracked.values())

    def pending(self) -> list[str]:
        """Ids of the tracked runtimes whose exit is not reported yet."""
        with self._lock:
            return [key for key, t in self.tracked.items() if not t.exited.is_set()]

    def close(self) -> list[Tracked]:
        """Stop following exits; the records still tracked."""
        self._closed = True
        with self._lock:
            left = list(self.tracked.values())
            self.tracked.clear()
        return left

    def fire(self, key: str, code: int) -> None:
        """Report the exit of ``key`` once (later calls for the same id do nothing)."""
        with self._lock:
            t = self.tracked.get(key)
            if t is None or t.exited.is_set():
                return
            t.exit_code = code
            t.exited.set()
        log.info("%s exited with code %s", t.name, code)

        def call() -> None:
            try:
                t.on_exit(code)
            except Exception:
                log.exception("on_exit callback of %s failed", t.name)

        threading.Thread(target=call, name=f"exit-{t.name}", daemon=True).start()


class ExitWatcher(ExitReports):
    """Reports the exits of the containers labelled ``label`` (``"key=value"``) that were :meth:`track`-ed."""

    def __init__(self, client: Any, label: str) -> None:
        super().__init__()
        self.client = client
        self.label = label
        self._errors = engine_errors()
        try:
            self._events = self._subscribe(since=None)
        except self._errors as exc:
            raise BackendError(f"cannot follow the Docker engine's events: {exc}") from None
        self._thread = threading.Thread(target=self._watch, name="praas-docker-events", daemon=True)
        self._thread.start()

    def close(self) -> list[Tracked]:
        """Stop following events; the records still tracked."""
        left = super().close()
        with contextlib.suppress(Exception):
            self._events.close()
        return left

    def _subscribe(self, since: float | None) -> Any:
        return self.client.events(decode=True, since=since,
                                  filters={"type": "container", "event": "die", "label": [self.label]})

    def _watch(self) -> None:
        last = time.time()
        while True:
            stream = self._events
            try:
                for event in stream:
                    last = max(last, float(event.get("time", last)))
                    cid = event.get("id") or event.get("Actor", {}).get("ID")
                    attrs = event.get("Actor", {}).get("Attributes", {})
                    try:
                        code = int(attrs.get("exitCode", -1))
                    except (TypeError, ValueError):
                        code = -1
                    if cid:
                        self.fire(cid, code)
            except Exception as exc:  # noqa: BLE001 - a broken stream is re-opened below
                if not self._closed:
                    log.warning("Docker event stream broke (%s); re-subscribing", exc)
            if self._closed:
                return
            time.sleep(0.5)
            try:
                self._events = self._subscribe(since=last - 1)
            except Exception as exc:  # noqa: BLE001 - retried in the next round
                log.warning("cannot re-subscribe to Docker events: %s", exc)
                continue
            self._reconcile()

    def _reconcile(self) -> None:
        """Report the exits that happened while the event stream was down."""
        docker_errors = self._errors[0]
        for cid in self.pending():
            try:
                st = self.client.api.inspect_container(cid)["State"]
            except docker_errors as exc:
                if getattr(exc, "status_code", None) == 404:
                    self.fire(cid, -1)
                continue
            except self._errors:
                continue
            if not st.get("Running") and st.get("Status") not in ("created", "restarting"):
                self.fire(cid, int(st.get("ExitCode", -1)))


__all__ = ["ExitReports", "ExitWatcher", "Tracked"]
