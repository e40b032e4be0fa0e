"""Fault injection for tests: a store that fails or crashes the writer after N objects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from praas_kit.errors import StorageError
from praas_kit.storage.base import Chunks, ProcessHost, SnapshotReader, SnapshotWriter, SwapStore
from praas_kit.storage.registry import open_store


class _FaultyWriter(SnapshotWriter):
    def __init__(self, inner: SnapshotWriter, fail_after: int | None, crash_after: int | None) -> None:
        self.inner, self.fail_after, self.crash_after, self.n = inner, fail_after, crash_after, 0

    def _tick(self, name: str) -> None:
        if self.crash_after is not None and self.n >= self.crash_after:
            os._exit(137)  # a crash in the middle of the snapshot
        if self.fail_after is not None and self.n >= self.fail_after:
            raise StorageError(f"injected storage failure while writing {name!r}")
        self.n += 1

    def put(self, name: str, chunks: Chunks) -> int:
        self._tick(name)
        return self.inner.put(name, chunks)

    def commit(self, manifest: dict[str, Any]) -> None:
        self._tick("manifest")
        self.inner.commit(manifest)

    def abort(self) -> None:
        self.inner.abort()


class FaultyStore(SwapStore):
    """Wraps a store; writers fail (``fail_after``) or kill the process (``crash_after``) after N puts.

    Spec: ``{"kind": "faulty", "inner": <spec>, "fail_after": n, "crash_after": n}``.
    """

    kind = "faulty"

    def __init__(self, inner: SwapStore, fail_after: int | None, crash_after: int | None) -> None:
        self.inner, self.fail_after, self.crash_after = inner, fail_after, crash_after

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FaultyStore:
        if not isinstance(spec.get("inner"), Mapping):
            raise StorageError("faulty swap store spec has no inner store")
        return cls(open_store(spec["inner"]), spec.get("fail_after"), spec.get("crash_after"))

    def spec(self) -> dict[str, Any]:
        return {"kind": "faulty", "inner": self.inner.spec(), "fail_after": self.fail_after,
                "crash_after": self.crash_after}

    def process_view(self, host: ProcessHost, app: str, proc: str) -> dict[str, Any]:
        return self.spec() | {"inner": self.inner.process_view(host, app, proc)}

    def close(self) -> None:
        self.inner.close()

    def writer(self, app: str, proc: str, snapshot: str) -> SnapshotWriter:
        return _FaultyWriter(self.inner.writer(app, proc, snapshot), self.fail_after, self.crash_after)

    def reader(self, app: str, proc: str, snapshot: str) -> SnapshotReader:
        return self.inner.reader(app, proc, snapshot)

    def snapshots(self, app: str, proc: str) -> list[str]:
        return self.inner.snapshots(app, proc)

    def snapshot_ids(self, app: str, proc: str) -> list[str]:
        return self.inner.snapshot_ids(app, proc)

    def delete(self, app: str, proc: str, snapshot: str | None = None) -> None:
        self.inner.delete(app, proc, snapshot)
