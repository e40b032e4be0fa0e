"""What every process of an application knows about the others: the *world* (each process's status, its
data-plane address and public key while it is ALLOCATED), pushed to every connected process of the
application whenever one of them changes, and the messages held for a process that just became ALLOCATED
flushed to it.

:class:`World` stands alone on the registry, the sessions, the process endpoint and the held messages, so a
benchmark or a test drives it with a counting endpoint and no backend (``bench/scaling.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from praas_kit import wire
from praas_kit.lifecycle import Status

if TYPE_CHECKING:
    from praas_kit.control.channels import HeldMessages
    from praas_kit.control.endpoint import ProcessEndpoint
    from praas_kit.control.registry import Registry
    from praas_kit.control.sessions import Sessions


class World:
    """Pushes an application's world to its connected processes (:meth:`push`)."""

    def __init__(self, registry: Registry, sessions: Sessions, endpoint: ProcessEndpoint,
                 held: HeldMessages) -> None:
        self.registry, self.sessions, self.endpoint, self.held = registry, sessions, endpoint, held

    def push(self, app: str) -> None:
        """Send ``app``'s world (one ``world`` frame) to each of its connected processes, then start flushing the
        held messages of every ALLOCATED, connected process that has some. Never blocks on a process."""
        recs = self.registry.processes(app)
        procs = {r.name: {"status": r.status.value, "address": r.address if r.status == Status.ALLOCATED else None,
                          "key": r.public_key if r.status == Status.ALLOCATED else None} for r in recs}
        frames = wire.world_frames(procs)
        for connected in self.sessions.connected(app):
            self.endpoint.send(connected, frames)
        for r in recs:  # a newly ALLOCATED process may have messages held for it
            if r.status == Status.ALLOCATED:
                session = self.sessions.get(app, r.name)
                if session is not None and session.ident is not None and self.held.pending_for(app, r.name):
                    self.held.flush_async(session)


__all__ = ["World"]
