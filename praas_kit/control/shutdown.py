"""A graceful shutdown: every running process is swapped out before the control plane stops.

``praas serve`` does this on Ctrl-C or SIGTERM, so a restart brings each process back with its state on the
next call (from the snapshot written here). A process that cannot be swapped out in time (it runs a long
call, the store is down) stays as it was in the registry: its runtime ends with the control plane, and the
next control plane on the home marks it FAILED, restorable from its last snapshot, which nothing deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from praas_kit.control.controller import Controller
from praas_kit.errors import PraasError
from praas_kit.lifecycle import Status

log = logging.getLogger("praas_kit.control")

WORKERS = 4  #: processes swapped out at once


@dataclass
class ShutdownReport:
    """What a graceful shutdown did: the processes saved, and those that were not (with why)."""

    saved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"swapped out {len(self.saved)} process(es)"
        if self.failed:
            text += (f"; {len(self.failed)} not ({', '.join(self.failed)}): they come back FAILED, restorable "
                     "from their last snapshot")
        return text


def swap_out_all(controller: Controller, report: Callable[[str], None] = log.info) -> ShutdownReport:
    """Swap out every ALLOCATED process, :data:`WORKERS` at a time (each bounded by the control plane's
    drain and swap timeouts); ``report`` gets one line per process as it finishes, and the summary."""
    running = [(r.app, r.name) for r in controller.registry.processes() if r.status == Status.ALLOCATED]
    out = ShutdownReport()
    if not running:
        return out
    report(f"swapping out {len(running)} running process(es) before stopping (Ctrl-C again stops at once)")
    with ThreadPoolExecutor(min(WORKERS, len(running)), thread_name_prefix="praas-shutdown") as pool:
        futures = {pool.submit(controller.swap, app, name): f"{app}/{name}" for app, name in running}
        for i, fut in enumerate(as_completed(futures), 1):
            who = futures[fut]
            try:
                done = fut.result()
                out.saved.append(who)
                report(f"  [{i}/{len(running)}] {who}: saved ({done['bytes']} bytes in {done['seconds']:.2f} s)")
            except PraasError as exc:
                out.failed[who] = exc.message
                report(f"  [{i}/{len(running)}] {who}: NOT saved: {exc.message}")
    report(out.summary())
    return out


__all__ = ["swap_out_all", "ShutdownReport"]
