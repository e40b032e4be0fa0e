"""The process lifecycle as one pure state machine.

``ALLOCATING -> ALLOCATED -> SWAPPING_OUT -> SWAPPED_OUT -> SWAPPING_IN -> ALLOCATED``;
``ALLOCATED -> CLOSING -> CLOSED``; any live state ``-> FAILED`` when the process dies.
Two recovery edges complete the machine: an aborted swap-out returns to ``ALLOCATED``
(nothing was written), and a ``FAILED`` process can be swapped in from its last snapshot.
The control plane asks :func:`transition` and executes what it returns; it never sets a
status by hand. The named sets below (:data:`LIVE`, :data:`DELETABLE`, ...) and :func:`view` are the
only place that groups states: every other module asks them instead of comparing strings.
"""

from __future__ import annotations

from enum import Enum

from praas_kit.errors import InvalidState


class Status(str, Enum):
    """Lifecycle states of a cloud process."""

    ALLOCATING = "ALLOCATING"
    ALLOCATED = "ALLOCATED"
    SWAPPING_OUT = "SWAPPING_OUT"
    SWAPPED_OUT = "SWAPPED_OUT"
    SWAPPING_IN = "SWAPPING_IN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"
    FAILED = "FAILED"


class Event(str, Enum):
    """What happens to a process."""

    ALLOCATED = "allocated"  # the runtime connected and is ready
    SWAP = "swap"  # swap-out requested
    SWAP_DONE = "swap_done"  # the snapshot is committed and the runtime exited
    SWAP_ABORTED = "swap_aborted"  # swap-out refused or failed before commit; process keeps running
    SWAPIN = "swapin"  # swap-in requested
    STOP = "stop"
    CLOSED = "closed"  # the runtime exited after a stop
    DIED = "died"  # the runtime ended unexpectedly


S = Status
E = Event

LIVE = frozenset({S.ALLOCATING, S.ALLOCATED, S.SWAPPING_OUT, S.SWAPPING_IN, S.CLOSING})
"""A runtime exists (or is being started) for the process."""
STARTING = frozenset({S.ALLOCATING, S.SWAPPING_IN})
"""A runtime is being started and has not connected yet."""
DELETABLE = frozenset({S.CLOSED, S.SWAPPED_OUT, S.FAILED})
"""No runtime runs: the record and its snapshots may be deleted."""
RESUMABLE = frozenset({S.SWAPPED_OUT, S.FAILED})
"""A swap-in (or an invocation through the control plane) brings the process back."""
AWAITING_EXIT = frozenset({S.SWAPPING_OUT, S.CLOSING})
"""The runtime was asked to exit (its confirmation may still be on the way when it does)."""
EXPECTED_EXIT = frozenset({S.CLOSING, S.CLOSED, S.SWAPPED_OUT})
"""A runtime that exits in these states ended as asked; in SWAPPING_OUT only once its snapshot is confirmed."""

_TABLE: dict[tuple[Status, Event], Status] = {
    (S.ALLOCATING, E.ALLOCATED): S.ALLOCATED,
    (S.SWAPPING_IN, E.ALLOCATED): S.ALLOCATED,
    (S.ALLOCATED, E.SWAP): S.SWAPPING_OUT,
    (S.SWAPPING_OUT, E.SWAP_DONE): S.SWAPPED_OUT,
    (S.SWAPPING_OUT, E.SWAP_ABORTED): S.ALLOCATED,
    (S.SWAPPED_OUT, E.SWAPIN): S.SWAPPING_IN,
    (S.FAILED, E.SWAPIN): S.SWAPPING_IN,
    (S.ALLOCATED, E.STOP): S.CLOSING,
    (S.CLOSING, E.CLOSED): S.CLOSED,
}
for _live in LIVE:
    _TABLE[(_live, E.DIED)] = S.FAILED
# A process that dies while closing has closed.
_TABLE[(S.CLOSING, E.DIED)] = S.CLOSED


def transition(current: Status, event: Event) -> Status:
    """The state after ``event`` in ``current``; raise :class:`InvalidState` if the edge is illegal."""
    try:
        return _TABLE[(Status(current), Event(event))]
    except KeyError:
        raise InvalidState(
            f"cannot {Event(event).value} a process that is {Status(current).value}"
        ) from None


def allowed(current: Status, event: Event) -> bool:
    """Whether ``event`` is legal in ``current``."""
    return (Status(current), Event(event)) in _TABLE


def transitions() -> list[tuple[Status, Event, Status]]:
    """Every legal edge of the machine as ``(state, event, next state)``, ordered by state and then by event
    (both in declaration order), so that pictures of the machine come out the same every time. A new list:
    changing it changes nothing."""
    state_rank = {s: i for i, s in enumerate(Status)}
    event_rank = {e: i for i, e in enumerate(Event)}
    return sorted(((s, e, t) for (s, e), t in _TABLE.items()),
                  key=lambda edge: (state_rank[edge[0]], event_rank[edge[1]]))


def view(status: Status) -> str:
    """How listings group a status: ``"swapped"`` (SWAPPED_OUT), ``"inactive"`` (CLOSED, FAILED) or
    ``"active"`` (running, or changing state)."""
    s = Status(status)
    if s == S.SWAPPED_OUT:
        return "swapped"
    if s in (S.CLOSED, S.FAILED):
        return "inactive"
    return "active"


__all__ = ["Status", "Event", "LIVE", "STARTING", "DELETABLE", "RESUMABLE", "AWAITING_EXIT", "EXPECTED_EXIT",
           "transition", "allowed", "transitions", "view"]
