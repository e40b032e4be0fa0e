"""The swapper: a process's swap-out, in three phases.

``RUN`` (serving) -> ``DRAINING`` (no new invocation is admitted; a thread waits, bounded by
``drain_timeout``, until the running ones finish; the process keeps serving messages) -> ``SNAPSHOT``
(under the I/O lock, so no input is handled meanwhile: unacknowledged messages are re-routed, the
snapshot is written, manifest last) -> the process exits. Messages that arrive while the snapshot is
written are never taken: their senders still hold them and re-route them through the control plane when
the process leaves the world. A refused or failed swap returns to ``RUN`` and tells the control plane why.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit import wire
from praas_kit.errors import InvalidState, PraasError
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.snapshot import write_snapshot
from praas_kit.process.state import StateStore
from praas_kit.storage.base import SwapStore

log = logging.getLogger("praas_kit.process")


class Phase(enum.Enum):
    """Where a process is in its swap-out."""

    RUN = "run"
    DRAINING = "draining"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class SwapDrained:
    """The drain finished: write the snapshot (``error`` is ``None``) or refuse the swap."""

    rid: str
    snapshot: str
    error: PraasError | None


class Swapper:
    """Runs swap-outs for one process. ``phase`` is read under the I/O lock to admit work and messages.

    ``activity()`` returns ``(invocations in flight, unix time of the last activity)``;
    ``to_control`` sends frames to the control plane; ``locked(fn)`` runs ``fn`` under the I/O lock;
    ``before_snapshot`` runs under that lock once draining is done (the runtime re-routes its
    unacknowledged messages there); ``done`` runs after the snapshot is committed.
    """

    def __init__(self, app: str, proc: str, store: SwapStore | None, key: bytes, state: StateStore,
                 mailbox: Mailbox, state_dir: Path, drain_timeout: float, activity: Callable[[], tuple[int, float]],
                 to_control: Callable[[list[Any]], None] | None, locked: Callable[[Callable[[], None]], None],
                 before_snapshot: Callable[[], None], done: Callable[[], None]) -> None:
        self.app, self.proc, self.store, self._key = app, proc, store, key  # key: signs the snapshots
        self.state, self.mailbox, self.state_dir = state, mailbox, state_dir
        self.drain_timeout = drain_timeout
        self._activity, self._to_control, self._locked = activity, to_control, locked
        self._before_snapshot, self._done = before_snapshot, done
        self.phase = Phase.RUN

    def start(self, hdr: dict[str, Any]) -> None:
        """A ``swap`` frame from the control plane (I/O lock held). With ``idle`` the process refuses unless
        it has been idle that long and runs nothing."""
        rid = hdr["rid"]
        if self.phase is not Phase.RUN:
            return self.refuse(rid, InvalidState("a swap is already in progress"))
        idle = hdr.get("idle")
        if idle is not None:
            inflight, last = self._activity()
            if inflight > 0 or (isinstance(idle, (int, float)) and time.time() - last < idle):
                return self.refuse(rid, InvalidState("process is not idle"))
        if self.store is None or not self._key:
            return self.refuse(rid, InvalidState("no swap store or no snapshot key configured"))
        self.phase = Phase.DRAINING
        threading.Thread(target=self._drain, args=(rid, hdr["snapshot"]), daemon=True).start()

    def _drain(self, rid: str, snapshot: str) -> None:
        deadline = time.monotonic() + self.drain_timeout
        error: PraasError | None = None
        while True:
            inflight, _ = self._activity()
            if inflight == 0:
                break
            if time.monotonic() > deadline:
                error = InvalidState(
                    f"swap-out refused: {inflight} invocation(s) still running after {self.drain_timeout} s")
                break
            time.sleep(0.005)
        item = SwapDrained(rid, snapshot, error)
        self._locked(lambda: self.drained(item))

    def drained(self, item: SwapDrained) -> None:
        """Write the snapshot (I/O lock held), or refuse the swap when draining failed."""
        if item.error is not None:
            self.phase = Phase.RUN
            return self.refuse(item.rid, item.error)
        # drained: no invocation runs. From now on bounced messages go to the control plane.
        self.phase = Phase.SNAPSHOT
        self._before_snapshot()
        assert self.store is not None
        try:
            nbytes, secs = write_snapshot(self.store, self.app, self.proc, item.snapshot, self.state, self.mailbox,
                                          self.state_dir, self._key)
        except PraasError as exc:
            log.error("swap-out failed: %s", exc)
            self.phase = Phase.RUN
            return self.refuse(item.rid, exc)
        if self._to_control is not None:
            self._to_control([wire.header("swapped", rid=item.rid, ok=True, bytes=nbytes, seconds=secs,
                                          snapshot=item.snapshot), b""])
        self._done()

    def refuse(self, rid: str, error: PraasError) -> None:
        if self._to_control is not None:
            self._to_control([wire.header("swapped", rid=rid, ok=False, err=error.to_dict()), b""])


__all__ = ["Phase", "Swapper", "SwapDrained"]
