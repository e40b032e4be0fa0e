"""The swap-store plug-in point.

A snapshot is a set of named objects plus a manifest. Writers put objects first and the
manifest *last* (:meth:`SnapshotWriter.commit`); readers and :meth:`SwapStore.latest`
ignore any snapshot without a manifest. Every swap-out writes a *new* snapshot id, so a
crash mid-write leaves the previous snapshot intact. Object names are chosen by the
runtime (``state.bin``, ``f/0``...), never taken from user keys, so nothing a user names
can escape the snapshot's place in the store.

A store kind is registered by name in :mod:`praas_kit.storage.registry`; a store describes itself
as a JSON spec (:meth:`SwapStore.spec`) that the registry reopens in a process, and tells a
container backend what it needs there (:meth:`SwapStore.process_view`), so no backend has to
know the store kinds.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from praas_kit.errors import InvalidArgument, StorageError
from praas_kit.names import check_relative_path, validate_name

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


def check_object_name(name: str) -> str:
    """Validate an object name inside a snapshot (chosen by the runtime; path-like tricks refused anyway)."""
    try:
        return check_relative_path(name, "object name")
    except InvalidArgument as exc:
        raise StorageError(exc.message) from None


class ProcessHost(Protocol):
    """What a backend offers a store that a process must reach from where it runs (a container, another
    user, another machine)."""

    def share_directory(self, path: Path) -> str:
        """Make the control plane's directory ``path`` readable and writable for the process; its path there."""

    def reach(self, url: str) -> str:
        """The URL with which the process reaches the server the control plane reaches at ``url``."""


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
    """Where snapshots live. ``spec()`` is a JSON description a process reopens with
    :func:`praas_kit.storage.open_store`; constructing a store must not contact its server."""

    #: the name the store is registered under (``spec()["kind"]``)
    kind: str = ""

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> SwapStore:
        """The store that ``spec`` (as made by :meth:`spec`) describes."""

    @classmethod
    def spec_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """A spec from ``PRAAS_*`` variables (the control plane's ``PRAAS_SWAP_KIND=<kind>`` shorthand)."""
        raise InvalidArgument(f"swap store kind {cls.kind!r} takes no environment shorthand: "
                              "give PRAAS_SWAP_STORE_SPEC (JSON)")

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON description of this store (handed to processes through a private file)."""

    def process_view(self, host: ProcessHost, app: str, proc: str) -> dict[str, Any]:
        """The spec as process ``proc`` of ``app`` must see it; asks ``host`` for what it needs there (a shared
        directory, a reachable endpoint), and no more than that process needs. The default: the spec
        unchanged."""
        return self.spec()

    def close(self) -> None:
        """Release clients and connection pools (idempotent)."""

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

    def snapshot_ids(self, app: str, proc: str) -> list[str]:
        """Every snapshot id of a process in the store, committed or not (an interrupted write leaves an
        uncommitted one). The default lists the committed ones only."""
        return self.snapshots(app, proc)

    def collect(self, app: str, proc: str, keep: set[str]) -> list[str]:
        """Delete every snapshot of a process, committed or not, that is not in ``keep``; the ids deleted."""
        gone = [s for s in self.snapshot_ids(app, proc) if s not in keep]
        for snapshot in gone:
            self.delete(app, proc, snapshot)
        return gone

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
