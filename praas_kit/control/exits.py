"""What the control plane does when a process runtime exits.

The backend reports every exit once, from a thread of its own (:meth:`Exits.on_exit`). An expected exit (after a
confirmed swap-out, a stop, a delete) changes nothing; an unexpected one fails the process's pending calls and
its start with :class:`~praas_kit.errors.ProcessDied` quoting the end of its log, records the death (FAILED, the
log's tail kept in the registry), stops what is left of it and pushes the application's new world. An exit of an
older incarnation than the registry's is ignored. :meth:`Exits.close` waits for the handlers in flight, after
which none touches the registry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from praas_kit.backends.base import Backend
from praas_kit.control.registry import ProcRecord, Registry
from praas_kit.control.sessions import Sessions
from praas_kit.errors import ProcessDied
from praas_kit.lifecycle import AWAITING_EXIT, EXPECTED_EXIT, LIVE, STARTING, Event

log = logging.getLogger("praas_kit.control")

LOG_LINES = 40  #: lines of a failed process's log kept in the registry (``log_tail``)
LOG_LINES_IN_ERROR = 12  #: of which the error message quotes these
CLOSE_WAIT = 10.0  #: seconds :meth:`Exits.close` waits for the handlers in flight


class Exits:
    """Handles process exits on behalf of the controller (its ``transition`` and ``push_world``)."""

    def __init__(self, registry: Registry, sessions: Sessions, backend: Backend,
                 transition: Callable[..., ProcRecord], push_world: Callable[[str], None]) -> None:
        self.registry, self.sessions, self.backend = registry, sessions, backend
        self._transition: Callable[..., Any] = transition
        self._push_world = push_world
        self._running_cond = threading.Condition()  # handlers in flight, drained by close()
        self._running = 0
        self._closed = False

    def on_exit(self, app: str, name: str, incarnation: str, code: int) -> None:
        """A runtime exited with ``code`` (called by the backend, once, from a thread of its own): unless the exit was
        expected (a confirmed swap-out, a stop), fail its calls with :class:`ProcessDied` quoting the end of its
        log, mark it FAILED, and push the world. Ignored once :meth:`close` ran, and for an older incarnation."""
        with self._running_cond:
            if self._closed:
                return  # the control plane is gone; the registry says what was promised
            self._running += 1
        try:
            self._handle(app, name, incarnation, code)
        finally:
            with self._running_cond:
                self._running -= 1
                self._running_cond.notify_all()

    def _handle(self, app: str, name: str, incarnation: str, code: int) -> None:
        session = self.sessions.get(app, name)
        if code == 0 and session is not None:  # a clean exit follows a confirmation that may still be in flight
            deadline = time.monotonic() + 3.0
            while not session.swap_confirmed and time.monotonic() < deadline:
                rec = self.registry.get_process(app, name)
                if rec is None or rec.status not in AWAITING_EXIT:
                    break
                time.sleep(0.01)
        with self.sessions.lock:
            current = self.sessions.get(app, name)
            rec = self.registry.get_process(app, name)
            if rec is None or rec.incarnation != incarnation or current is None \
                    or current.incarnation != incarnation:
                return
            session = current
            if session.swap_confirmed or rec.status in EXPECTED_EXIT:
                return
            tail = self.backend.logs(rec.handle, tail=LOG_LINES)  # kept by the backend; said in the error
            last = "\n".join(tail.splitlines()[-LOG_LINES_IN_ERROR:])
            died = ProcessDied(f"process {name!r} exited unexpectedly (exit code {code})"
                               + (f"; the end of its log:\n{last}" if last else ""))
            if not session.connected.done():
                session.connected.set_exception(died)
            pending = list(session.pending.values())  # a future's callbacks may release its own entry
            session.pending.clear()
            for fut in pending:
                if not fut.done():
                    fut.set_exception(died)
            if rec.status in LIVE:
                self._transition(app, name, Event.DIED, error=died.message, address=None, log=tail or None)
            self.sessions.drop(app, name)
        log.warning("%s/%s died with exit code %s", app, name, code)
        if rec.status not in STARTING:
            self.backend.stop(rec.handle, grace=0)
        self._push_world(app)

    def close(self) -> None:
        """Ignore exits from now on, after waiting (at most :data:`CLOSE_WAIT` s) for the handlers in flight."""
        with self._running_cond:
            self._closed = True
            if not self._running_cond.wait_for(lambda: self._running == 0, timeout=CLOSE_WAIT):
                log.warning("closing while %d exit handler(s) still run", self._running)


__all__ = ["Exits", "LOG_LINES", "LOG_LINES_IN_ERROR"]
