"""The swap-store plug-in point.

A snapshot is a set of named objects plus a manifest. Writers put objects first and the
manifest *last* (:meth:`SnapshotWriter.commit`); readers and :meth:`SwapStore.latest`
ignore any snapshot without a manifest. Every swap-out writes a *new* snapshot id, so a
crash mid-write leaves the previous snapshot intact. Object names are chosen by the
runtime (``state.bin``, ``f/0``...), never taken from user keys, so nothing a user names
can escape the snapshot's place in the store.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument, StorageError
from praas_kit.names import validate_name

Chunks = Iterable[bytes | memoryview]


def new_snapshot_id() -> str:
    """A fresh snapshot id that sorts by creation time."""
    return f"{time.time_ns():020d}-{os.urandom(3).hex()}"


def check_snapshot_id(snapshot: str) -> str:
    """Validate a snapshot id (it becomes a path component)."""
    if not isinstance(snapshot, str) or len(snapshot) != 27 or not all(
        c in "0123456789abcdef-" for c in snapshot
    ):
        raise InvalidArgument(f"invalid snapshot id {snapshot!r}")
    return snapshot


class SnapshotWriter(ABC):
    """Writes one snapshot. Call :meth:`commit` last; an uncommitted snapshot does not exist."""

    @abstractmethod
    def put(self, name: str, chunks: Chunks) -> int:
        """Write object ``name`` from ``chunks``; the number of bytes written."""

    def put_file(self, name: str, path: Path) -> int:
        """Write object ``name`` from the file at ``path``."""

        def read() -> Iterable[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(4 << 20):
                    yield chunk

        return self.put(name, read())

    @abstractmethod
    def commit(self, manifest: dict[str, Any]) -> None:
        """Write the manifest, making the snapshot visible and complete."""

    @abstractmethod
    def abort(self) -> None:
        """Remove whatever was written (best effort)."""


class SnapshotReader(ABC):
    """Reads one committed snapshot."""

    @abstractmethod
    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`StorageError` if the snapshot is incomplete or absent."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """The bytes of object ``name``."""

    def get_to_file(self, name: str, path: Path) -> None:
        """Write object ``name`` to ``path``."""
        path.write_bytes(self.get(name))


class SwapStore(ABC):
    """Where snapshots live. ``spec()`` is a JSON description a process can reopen with :func:`open_store`."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON description of this store (passed to processes)."""

    @abstractmethod
    def writer(self, app: str, proc: str, snapshot: str) -> SnapshotWriter:
        """A writer for a new snapshot."""

    @abstractmethod
    def reader(self, app: str, proc: str, snapshot: str) -> SnapshotReader:
        """A reader for a committed snapshot."""

    @abstractmethod
    def snapshots(self, app: str, proc: str) -> list[str]:
        """Ids of the committed snapshots of a process, oldest first."""

    @abstractmethod
    def delete(self, app: str, proc: str, snapshot: str | None = None) -> None:
        """Delete one snapshot, or every snapshot (committed or not) of the process."""

    def latest(self, app: str, proc: str) -> str | None:
        """The newest committed snapshot, or ``None``."""
        snaps = self.snapshots(app, proc)
        return snaps[-1] if snaps else None

    @staticmethod
    def _check(app: str, proc: str, snapshot: str | None = None) -> None:
        validate_name(app, "application name")
        validate_name(proc, "process name")
        if snapshot is not None:
            check_snapshot_id(snapshot)


def open_store(spec: dict[str, Any]) -> SwapStore:
    """Open the store that ``spec`` describes: ``{"kind": "dir", "root": ...}``, ``{"kind": "s3", ...}``,
    or ``{"kind": "faulty", "inner": spec, "fail_after": n, "crash_after": n}`` (fault injection for tests).
    """
    kind = spec.get("kind")
    if kind == "dir":
        from praas_kit.storage.directory import DirectoryStore

        return DirectoryStore(spec["root"], fsync=spec.get("fsync", True))
    if kind == "s3":
        from praas_kit.storage.s3 import S3Store

        return S3Store.from_spec(spec)
    if kind == "faulty":
        from praas_kit.storage.faulty import FaultyStore

        return FaultyStore(open_store(spec["inner"]), spec.get("fail_after"), spec.get("crash_after"))
    raise StorageError(f"unknown swap store kind {kind!r}")
