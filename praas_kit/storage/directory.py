"""The directory swap store: ``<root>/<app>/<process>/<snapshot>/{objects..., manifest.json}``.

Snapshots hold a process's state: their directories are created 0700 and their files 0600.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from praas_kit.errors import StorageError
from praas_kit.storage.base import (
    Chunks,
    ProcessHost,
    SnapshotReader,
    SnapshotWriter,
    SwapStore,
    check_object_name,
)

MANIFEST = "manifest.json"


def _objpath(base: Path, name: str) -> Path:
    return base.joinpath(*check_object_name(name).split("/"))


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class _DirWriter(SnapshotWriter):
    def __init__(self, base: Path, fsync: bool) -> None:
        self.base = base
        self.fsync = fsync
        try:
            base.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            base.mkdir(mode=0o700, exist_ok=False)
        except OSError as exc:
            raise StorageError(f"cannot create snapshot directory: {exc}") from None

    def put(self, name: str, chunks: Chunks) -> int:
        path = _objpath(self.base, name)
        n = 0
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "wb", opener=_private) as f:
                for chunk in chunks:
                    n += f.write(chunk)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:
            raise StorageError(f"writing {name!r} to the swap directory failed: {exc}") from None
        return n

    def commit(self, manifest: dict[str, Any]) -> None:
        tmp = self.base / (MANIFEST + ".tmp")
        try:
            with open(tmp, "w", opener=_private) as f:
                json.dump(manifest, f)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self.base / MANIFEST)
            if self.fsync:
                fd = os.open(self.base, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StorageError(f"writing the snapshot manifest failed: {exc}") from None

    def abort(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


class _DirReader(SnapshotReader):
    def __init__(self, base: Path) -> None:
        self.base = base

    def manifest(self) -> dict[str, Any]:
        try:
            with open(self.base / MANIFEST) as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise StorageError(f"snapshot {self.base.name} is missing or incomplete: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError(f"the manifest of snapshot {self.base.name} is not a JSON object")
        return data

    def get(self, name: str) -> bytes:
        try:
            return _objpath(self.base, name).read_bytes()
        except OSError as exc:
            raise StorageError(f"reading {name!r} from the snapshot failed: {exc}") from None

    def get_to_file(self, name: str, path: Path) -> None:
        try:
            shutil.copyfile(_objpath(self.base, name), path)
        except OSError as exc:
            raise StorageError(f"reading {name!r} from the snapshot failed: {exc}") from None


class DirectoryStore(SwapStore):
    """Snapshots as directories under ``root``; ``fsync`` makes a commit durable across a power loss.

    Spec: ``{"kind": "dir", "root": path, "fsync": bool}``; environment shorthand
    ``PRAAS_SWAP_KIND=dir`` with ``PRAAS_SWAP_DIR``. In a container the root is bind-mounted
    (:meth:`process_view`: the process's own directory only), so the store works only where host and
    containers share a disk.
    """

    kind = "dir"

    def __init__(self, root: str | Path, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DirectoryStore:
        if not spec.get("root"):
            raise StorageError("directory swap store spec has no root")
        return cls(spec["root"], fsync=bool(spec.get("fsync", True)))

    @classmethod
    def spec_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        root = env.get("PRAAS_SWAP_DIR")
        if not root:
            raise StorageError("PRAAS_SWAP_KIND=dir needs PRAAS_SWAP_DIR (the directory of the snapshots)")
        return {"kind": "dir", "root": root}

    def spec(self) -> dict[str, Any]:
        return {"kind": "dir", "root": str(self.root), "fsync": self.fsync}

    def process_view(self, host: ProcessHost, app: str, proc: str) -> dict[str, Any]:
        """Only the process's own directory is shared (``<root>/<app>/<proc>``): where the backend isolates
        processes (a container), one cannot see or write another's snapshots."""
        there = PurePosixPath(host.share_directory(self._dir(app, proc)))
        return self.spec() | {"root": str(there.parent.parent)}

    def _dir(self, app: str, proc: str, snapshot: str | None = None) -> Path:
        self._check(app, proc, snapshot)
        d = self.root / app / proc
        return d / snapshot if snapshot else d

    def writer(self, app: str, proc: str, snapshot: str) -> SnapshotWriter:
        return _DirWriter(self._dir(app, proc, snapshot), self.fsync)

    def reader(self, app: str, proc: str, snapshot: str) -> SnapshotReader:
        return _DirReader(self._dir(app, proc, snapshot))

    def snapshots(self, app: str, proc: str) -> list[str]:
        d = self._dir(app, proc)
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if (p / MANIFEST).is_file())

    def snapshot_ids(self, app: str, proc: str) -> list[str]:
        d = self._dir(app, proc)
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def delete(self, app: str, proc: str, snapshot: str | None = None) -> None:
        shutil.rmtree(self._dir(app, proc, snapshot), ignore_errors=True)
