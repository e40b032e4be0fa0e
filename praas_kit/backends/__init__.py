"""Compute backends: where cloud processes run (``local`` host subprocesses, ``docker`` containers)."""

from praas_kit.backends.base import Backend, ProcessSpec, open_backend

__all__ = ["Backend", "ProcessSpec", "open_backend"]
