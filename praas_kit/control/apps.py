"""Applications: creating (with the code checked first), looking up, and their data-plane credentials.

An application's code is checked when the application is created: the backend imports it in a
throw-away process shaped like the ones that will run it (:meth:`Backend.check_code
<praas_kit.backends.base.Backend.check_code>`), so a path that is not Python, a syntax error, a name that
shadows a standard-library module, a failing import or a module without functions is refused with the
problem named, before any process starts. Results are cached per file version and image.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import praas_kit
from praas_kit.backends.base import Backend
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.registry import AppRecord, Registry
from praas_kit.errors import ApplicationExists, ApplicationNotFound, InvalidArgument
from praas_kit.keys import KeyPair
from praas_kit.names import validate_name
from praas_kit.storage.signing import process_key


class Applications:
    """Application records, their checked code and their client keys (when ``curve`` is on)."""

    def __init__(self, cfg: ControlPlaneConfig, registry: Registry, lock: threading.RLock, backend: Backend,
                 curve: bool) -> None:
        self.cfg, self.registry, self.lock, self.backend, self.curve = cfg, registry, lock, backend, curve
        self._checked: dict[tuple[Any, ...], list[str]] = {}

    def check_resources(self, vcpus: Any, memory_mb: Any) -> tuple[float, int]:
        """``(vcpus, memory_mb)`` with the defaults filled in; :class:`InvalidArgument` when out of range."""
        v = self.cfg.default_vcpus if vcpus is None else vcpus
        m = self.cfg.default_memory_mb if memory_mb is None else memory_mb
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= self.cfg.max_vcpus:
            raise InvalidArgument(f"vcpus must be a number in (0, {self.cfg.max_vcpus}], got {v!r}")
        if isinstance(m, bool) or not isinstance(m, int) or not 32 <= m <= self.cfg.max_memory_mb:
            raise InvalidArgument(f"memory_mb must be an integer in [32, {self.cfg.max_memory_mb}], got {m!r}")
        return float(v), m

    def check_code_root(self, code: Path) -> None:
        """:class:`InvalidArgument` unless ``code`` (resolved) lies in one of ``code_roots`` (when set) or in
        praas-kit's own package (its bundled applications): a token holder cannot make the control plane load,
        mount or copy any other of its files into a process."""
        if not self.cfg.code_roots:
            return
        roots = [Path(r).resolve() for r in self.cfg.code_roots.split(os.pathsep) if r]
        roots.append(Path(praas_kit.__file__).resolve().parent)
        if not any(code.is_relative_to(r) for r in roots):
            raise InvalidArgument(f"application code {str(code)!r} is outside the directories this control plane "
                                  f"loads code from ({os.pathsep.join(map(str, roots))}: code_roots)")

    def check_code(self, code: str, image: str | None) -> list[str]:
        """The function names of the code at ``code`` (checked by the backend; cached per file version)."""
        p = Path(code)
        files = [p] if p.is_file() else sorted(p.rglob("*.py"))
        key = (str(p), image, tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))
        if key not in self._checked:
            self._checked[key] = self.backend.check_code(str(p), image)
        return self._checked[key]

    def create(self, name: str, code: str | None = None, image: str | None = None, vcpus: float | None = None,
               memory_mb: int | None = None, function_workers: int | None = None,
               resume_failed: bool = False) -> AppRecord:
        """Register an application; its code is a module/package path the processes can import."""
        validate_name(name, "application name")
        if code is not None:
            p = Path(code)
            if not p.exists():
                raise InvalidArgument(f"application code {code!r} does not exist")
            code = str(p.resolve())
            self.check_code_root(Path(code))
        v, m = self.check_resources(vcpus, memory_mb)
        workers = function_workers or self.cfg.function_workers
        if not isinstance(workers, int) or not 1 <= workers <= 256:
            raise InvalidArgument(f"function_workers must be an integer in 1..256, got {workers!r}")
        if self.registry.get_app(name) is not None:
            raise ApplicationExists(f"application {name!r} already exists")
        if code is not None:
            self.check_code(code, image)
        client = KeyPair.new() if self.curve else None
        rec = AppRecord(name, code, image, v, m, workers, time.time(), client.public if client else None,
                        client.secret if client else None, secrets.token_hex(32), bool(resume_failed))
        with self.lock:
            if self.registry.get_app(name) is not None:
                raise ApplicationExists(f"application {name!r} already exists")
            self.registry.add_app(rec)
        return rec

    def get(self, name: str) -> AppRecord:
        validate_name(name, "application name")
        rec = self.registry.get_app(name)
        if rec is None:
            raise ApplicationNotFound(f"application {name!r} does not exist")
        return rec

    def credentials(self, name: str) -> dict[str, Any]:
        """How the application's SDK clients authenticate on the data plane: ``{"auth": "none", ...}``, or
        ``{"auth": "curve", "public_key", "secret_key"}`` (the application's client key pair)."""
        arec = self.get(name)
        if not self.curve:
            return {"auth": "none", "public_key": None, "secret_key": None}
        if not arec.client_public or not arec.client_secret:  # made before keys existed
            client = KeyPair.new()
            arec.client_public, arec.client_secret = client.public, client.secret
            self.registry.set_app_keys(name, client.public, client.secret)
        return {"auth": "curve", "public_key": arec.client_public, "secret_key": arec.client_secret}

    def snapshot_key(self, name: str, proc: str) -> bytes:
        """The key that signs the snapshots of process ``proc`` (:mod:`praas_kit.storage.signing`); an
        application made before snapshots were signed gets its application key now."""
        arec = self.get(name)
        if not arec.snapshot_key:
            with self.lock:
                arec = self.get(name)
                if not arec.snapshot_key:
                    arec.snapshot_key = secrets.token_hex(32)
                    self.registry.set_snapshot_key(name, arec.snapshot_key)
        return process_key(arec.snapshot_key, proc)


__all__ = ["Applications"]
