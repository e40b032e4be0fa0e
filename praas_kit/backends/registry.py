"""The compute-backend registry: backends by name.

Built-in backends are ``local`` (:mod:`praas_kit.backends.local`), ``docker``
(:mod:`praas_kit.backends.docker`) and ``swarm`` (:mod:`praas_kit.backends.swarm`). A package adds
one with :func:`register`, or with an entry
point in the group ``praas_kit.backends`` whose value is a :class:`~praas_kit.backends.base.Backend`
subclass (``"module:Class"``). Modules load when their backend is first used, so the Docker SDK is
imported only by a control plane that runs containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from praas_kit._plugins import Plugins
from praas_kit.backends.base import Backend
from praas_kit.errors import BackendError

BACKENDS: Plugins[Backend] = Plugins("backend", Backend, "praas_kit.backends", {
    "local": "praas_kit.backends.local:LocalBackend",
    "docker": "praas_kit.backends.docker:DockerBackend",
    "swarm": "praas_kit.backends.swarm:SwarmBackend",
}, BackendError)

register = BACKENDS.register
names = BACKENDS.names
backend_class = BACKENDS.get


def open_backend(name: str, home: Path, options: Mapping[str, Any] | None = None) -> Backend:
    """A backend ``name`` for a control plane whose state lives in ``home``."""
    return backend_class(name).create(Path(home), options or {})


__all__ = ["BACKENDS", "register", "names", "backend_class", "open_backend"]
