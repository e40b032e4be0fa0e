"""Swap stores: where swapped-out processes keep their snapshots (a plug-in point with a registry)."""

from praas_kit.storage.base import (
    ProcessHost,
    SnapshotReader,
    SnapshotWriter,
    SwapStore,
    check_object_name,
    check_snapshot_id,
    new_snapshot_id,
)
from praas_kit.storage.registry import kinds, open_store, register, spec_from_env, store_class

__all__ = ["SwapStore", "SnapshotWriter", "SnapshotReader", "ProcessHost", "open_store", "register", "kinds",
           "store_class", "spec_from_env", "new_snapshot_id", "check_snapshot_id", "check_object_name"]
