"""Compute backends: where cloud processes run (``local`` host subprocesses, ``docker`` containers,
``swarm`` Docker Swarm services), a plug-in point with a registry."""

from praas_kit.backends.base import Backend, ExitCallback, Handle, ProcessSpec
from praas_kit.backends.registry import backend_class, names, open_backend, register

__all__ = ["Backend", "ProcessSpec", "ExitCallback", "Handle", "open_backend", "register", "names",
           "backend_class"]
