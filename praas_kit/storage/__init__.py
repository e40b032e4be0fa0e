"""Swap stores: where swapped-out processes keep their snapshots."""

from praas_kit.storage.base import SnapshotReader, SnapshotWriter, SwapStore, new_snapshot_id, open_store

__all__ = ["SwapStore", "SnapshotWriter", "SnapshotReader", "open_store", "new_snapshot_id"]
