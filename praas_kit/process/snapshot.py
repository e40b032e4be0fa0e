"""Writing and restoring a process snapshot: state objects, undelivered messages, ``state_dir`` files.

Layout inside a snapshot: ``state.bin`` (all state values back to back), ``messages.bin``
(all pending message payloads back to back), ``f/<i>`` (one object per file), and the
manifest that indexes them, written last. The manifest lists every object's SHA-256 and is signed with
the process's own key (:mod:`praas_kit.storage.signing`); restoring checks both.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument, StorageError
from praas_kit.names import check_relative_path
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.state import StateStore
from praas_kit.storage.base import SwapStore
from praas_kit.storage.signing import check_digest, file_sha256, hashed, sign, verify

FORMAT = 1


def write_snapshot(
    store: SwapStore, app: str, proc: str, snapshot: str, state: StateStore, mailbox: Mailbox, state_dir: Path,
    key: bytes,
) -> tuple[int, float]:
    """Write a complete snapshot (manifest last, signed with ``key``, the process's own); ``(bytes written,
    seconds)``.

    On any failure the partial snapshot is removed and :class:`StorageError` raised; earlier
    snapshots are untouched.
    """
    t0 = time.perf_counter()
    writer = store.writer(app, proc, snapshot)
    try:
        items = state.items()
        entries, offset = [], 0
        for name, value, mtime in items:
            entries.append({"key": name, "mtime": mtime, "offset": offset, "size": len(value)})
            offset += len(value)
        digests = {"state.bin": hashlib.sha256(), "messages.bin": hashlib.sha256()}
        total = writer.put("state.bin", hashed((v for _, v, _ in items), digests["state.bin"]))
        dump = mailbox.dump()
        msgs, offset = [], 0
        for src, mkey, seq, data in dump["messages"]:
            msgs.append({"src": src, "key": mkey, "seq": seq, "offset": offset, "size": len(data)})
            offset += len(data)
        total += writer.put("messages.bin", hashed((m[3] for m in dump["messages"]), digests["messages.bin"]))
        sums = {name: h.hexdigest() for name, h in digests.items()}
        files = []
        base = state_dir.resolve()
        for i, path in enumerate(sorted(p for p in base.rglob("*") if p.is_file() and not p.is_symlink())):
            rel = path.relative_to(base).as_posix()
            sums[f"f/{i}"] = file_sha256(path)  # no invocation runs: the file does not change in between
            n = writer.put_file(f"f/{i}", path)
            files.append({"path": rel, "object": f"f/{i}", "size": n, "mode": path.stat().st_mode & 0o777})
            total += n
        writer.commit(sign({
            "format": FORMAT, "app": app, "process": proc, "snapshot": snapshot, "created": time.time(),
            "bytes": total, "state": entries, "messages": msgs, "last_seq": dump["last_seq"], "files": files,
            "digests": sums,
        }, key))
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, StorageError):
            raise
        if isinstance(exc, Exception):
            raise StorageError(f"swap-out failed: {type(exc).__name__}: {exc}") from exc
        raise
    return total, time.perf_counter() - t0


def _safe_target(base: Path, rel: Any) -> Path:
    try:
        return base.joinpath(*check_relative_path(rel, "file path in the snapshot").split("/"))
    except InvalidArgument as exc:
        raise StorageError(exc.message) from None


def restore_snapshot(
    store: SwapStore, app: str, proc: str, snapshot: str, state: StateStore, mailbox: Mailbox, state_dir: Path,
    key: bytes,
) -> int:
    """Load a committed snapshot into empty stores and ``state_dir``; the bytes restored. :class:`StorageError`
    if its manifest is not signed with ``key`` (the process's own) or an object is not the one it lists."""
    reader = store.reader(app, proc, snapshot)
    manifest = reader.manifest()
    verify(manifest, key, app, proc, snapshot)
    if manifest.get("format") != FORMAT:
        raise StorageError(f"snapshot {snapshot} has unknown format {manifest.get('format')!r}")

    def get(name: str) -> memoryview:
        data = reader.get(name)
        check_digest(manifest, name, hashlib.sha256(data).hexdigest())
        return memoryview(data)

    blob = get("state.bin")
    for e in manifest["state"]:
        state.put(e["key"], blob[e["offset"]: e["offset"] + e["size"]], mtime=e["mtime"])
    mblob = get("messages.bin")
    mailbox.restore({
        "messages": [
            (m["src"], m["key"], m["seq"], bytes(mblob[m["offset"]: m["offset"] + m["size"]]))
            for m in manifest["messages"]
        ],
        "last_seq": manifest.get("last_seq", {}),
    })
    base = state_dir.resolve()
    for f in manifest["files"]:
        target = _safe_target(base, f["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        reader.get_to_file(f["object"], target)
        check_digest(manifest, f["object"], file_sha256(target))
        os.chmod(target, int(f.get("mode", 0o644)) & 0o777)
    return int(manifest["bytes"])
