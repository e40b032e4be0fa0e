"""Embedded deployments: a control plane inside this Python process, as a context manager."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.server import ControlPlane
from praas_kit.sdk.client import ControlPlaneClient


class EmbeddedClient(ControlPlaneClient):
    """A client bound to a control plane it owns; closing it stops the control plane too."""

    def __init__(self, plane: ControlPlane, tmp: Path | None) -> None:
        super().__init__(plane.url, plane.token)
        self.plane = plane
        self._tmp = tmp

    @property
    def controller(self) -> Any:
        """The in-process controller (for tests and teaching: inspect, kill, ...)."""
        return self.plane.controller

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                self.plane.close()
            finally:
                if self._tmp is not None:
                    shutil.rmtree(self._tmp, ignore_errors=True)


def local(home: str | Path | None = None, **options: Any) -> EmbeddedClient:
    """Start an embedded control plane with the ``local`` backend; use as a context manager.

    ``home`` keeps registry, swaps and logs (a temporary directory, removed on exit, if not
    given). ``options`` are :class:`~praas_kit.control.config.ControlPlaneConfig` fields, e.g.
    ``idle_seconds=5`` or ``function_workers=1``. Everything stops when the block exits.
    """
    tmp = None if home is not None else Path(tempfile.mkdtemp(prefix="praas-"))
    cfg = ControlPlaneConfig(home=Path(home) if home is not None else tmp, port=0, backend="local")  # type: ignore[arg-type]
    for k, v in options.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown control-plane option {k!r}")
        setattr(cfg, k, v)
    try:
        plane = ControlPlane(cfg).start()
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EmbeddedClient(plane, tmp)


def docker_deployment(**options: Any) -> Any:
    """A control plane with the ``docker`` backend (see :mod:`praas_kit.deploy`)."""
    from praas_kit.deploy import docker_deployment as deploy

    return deploy(**options)
