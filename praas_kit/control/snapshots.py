"""Which snapshots of a process the control plane keeps, and which one a swap-in restores.

The registry records every snapshot a process reported committed; the store may hold more: an uncommitted one
an interrupted swap-out left (collected), a committed one the control plane did not record because it died in
between (kept), or one something else wrote (skipped: its manifest is not signed with the process's key, see
:mod:`praas_kit.storage.signing`).
"""

from __future__ import annotations

import logging

from praas_kit.control.registry import Registry
from praas_kit.errors import PraasError, StorageError
from praas_kit.storage.base import SwapStore
from praas_kit.storage.signing import verify

log = logging.getLogger("praas_kit.control")


def collect_leftovers(store: SwapStore, registry: Registry, app: str, name: str) -> None:
    """Delete the uncommitted snapshots of ``name``: what an interrupted swap-out left behind. Committed ones
    stay (even one the registry did not record because the control plane died in between). Best effort."""
    try:
        keep = set(store.snapshots(app, name)) | {s["snapshot"] for s in registry.snapshots(app, name)}
        gone = store.collect(app, name, keep)
    except PraasError as exc:
        log.warning("could not collect the leftover snapshots of %s/%s: %s", app, name, exc)
        return
    if gone:
        log.info("removed %d snapshot(s) an interrupted swap-out of %s/%s left", len(gone), app, name)


def restorable(store: SwapStore, registry: Registry, key: bytes, app: str, name: str) -> str | None:
    """The snapshot a swap-in of ``name`` restores: the newest in the store whose manifest is signed with the
    process's ``key`` (others are skipped, with a warning), if it is not older than the newest the registry
    recorded. ``None``: it has none (it starts empty). :class:`StorageError` if the recorded one is gone or
    altered and nothing as new verifies (restoring an older one would silently roll the process back)."""
    recorded = max((s["snapshot"] for s in registry.snapshots(app, name)), default=None)
    for snapshot in reversed(store.snapshots(app, name)):
        if recorded is not None and snapshot < recorded:
            break
        try:
            verify(store.reader(app, name, snapshot).manifest(), key, app, name, snapshot)
        except StorageError as exc:
            log.warning("skipping snapshot %s of %s/%s: %s", snapshot, app, name, exc.message)
            continue
        return snapshot
    if recorded is not None:
        raise StorageError(f"the last snapshot of {app}/{name}, {recorded}, is missing from the swap store or was "
                           "altered there, and no newer one is the process's own: restoring an older one would "
                           "lose what it did since; it is not swapped in")
    return None


__all__ = ["collect_leftovers", "restorable"]
