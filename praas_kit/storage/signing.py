"""Signed snapshots: a process restores only a snapshot that an incarnation of itself wrote.

Every runtime holds a key of its own process, which the control plane derives from its application's
snapshot key (:func:`process_key`); no process holds an application key, so no process can make another's.
A snapshot's manifest lists the SHA-256 of every object and carries an HMAC-SHA256 of itself under that key
(:func:`sign`). Restoring checks the HMAC and that the manifest names this application, process and snapshot
(:func:`verify`), then every object's digest as it is read. The control plane swaps in the newest snapshot
whose manifest verifies and never one older than the last it recorded.

So code that can write to the swap store but holds another key (a function of another application with the S3
store's bucket-wide credentials, or of another process) cannot make a process restore what it wrote, a
snapshot it moved or replayed, or objects it replaced: the manifest is skipped, or the swap-in fails with
:class:`~praas_kit.errors.StorageError`. What signing does not give: secrecy (such code can still read the
objects of the S3 store) and availability (it can delete them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from praas_kit.errors import StorageError
from praas_kit.storage.base import Chunks

MAC = "mac"  #: the manifest field that holds the signature


def process_key(app_key: str, proc: str) -> bytes:
    """The key of process ``proc``, from its application's key (hex): HMAC-SHA256(app key, name)."""
    return hmac.new(bytes.fromhex(app_key), b"praas-snapshot/" + proc.encode(), hashlib.sha256).digest()


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != MAC}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(manifest: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``manifest`` with its signature (the HMAC of its canonical JSON, without the signature field)."""
    return {**manifest, MAC: hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()}


def verify(manifest: Mapping[str, Any], key: bytes, app: str, proc: str, snapshot: str) -> None:
    """:class:`StorageError` unless ``manifest`` carries a valid signature under ``key`` and names ``app``,
    ``proc`` and ``snapshot`` (a signed manifest moved to another place is refused too)."""
    where = f"snapshot {snapshot} of {app}/{proc}"
    mac = manifest.get(MAC)
    if not isinstance(mac, str):
        raise StorageError(f"{where} is not signed (written by something other than the process, or by a "
                           "praas-kit release before snapshots were signed): it is not restored")
    want = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, want):
        raise StorageError(f"{where} has a signature that is not the process's own (it was written or altered "
                           "by something else): it is not restored")
    named = (manifest.get("app"), manifest.get("process"), manifest.get("snapshot"))
    if named != (app, proc, snapshot):
        raise StorageError(f"{where} holds the signed manifest of {'/'.join(map(str, named))}: it is not restored")


def hashed(chunks: Chunks, digest: Any) -> Iterator[bytes | memoryview]:
    """``chunks`` unchanged, each fed to ``digest`` (a :mod:`hashlib` object) on its way."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(manifest: Mapping[str, Any], name: str, actual: str) -> None:
    """:class:`StorageError` unless object ``name``'s SHA-256 is the one its signed manifest lists."""
    want = (manifest.get("digests") or {}).get(name)
    if not isinstance(want, str) or not hmac.compare_digest(want, actual):
        raise StorageError(f"object {name!r} of snapshot {manifest.get('snapshot')} is not what the process "
                           "wrote (its digest differs from the signed manifest's): it is not restored")


__all__ = ["process_key", "sign", "verify", "hashed", "file_sha256", "check_digest", "MAC"]
