"""The embedded deployment: a control plane inside this Python process with the ``local`` backend.

>>> with praas_kit.local() as cp:
...     app = cp.create_application("demo", code="examples/counter.py")
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.controller import Controller
from praas_kit.control.server import ControlPlane
from praas_kit.sdk.client import ControlPlaneClient


class EmbeddedClient(ControlPlaneClient):
    """A client bound to a control plane it owns; closing it stops the control plane too (and removes the
    temporary home directory, when the deployment made one)."""

    def __init__(self, plane: ControlPlane, tmp: Path | None = None) -> None:
        super().__init__(plane.url, plane.token)
        self.plane = plane
        self._tmp = tmp

    @property
    def controller(self) -> Controller:
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


def start_embedded(cfg: ControlPlaneConfig, tmp: Path | None = None) -> EmbeddedClient:
    """Start a control plane for ``cfg`` in this process; its client. ``tmp`` (a directory this call's
    caller made) is removed when the client closes, or now if the start fails."""
    try:
        return EmbeddedClient(ControlPlane(cfg).start(), tmp)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def local(home: str | Path | None = None, **options: Any) -> EmbeddedClient:
    """Start an embedded control plane with the ``local`` backend; use as a context manager.

    ``home`` keeps registry, swaps and logs (a temporary directory, removed on exit, if not
    given). ``options`` are :class:`~praas_kit.control.config.ControlPlaneConfig` fields, e.g.
    ``idle_seconds=5`` or ``function_workers=1`` (an unknown name raises ``InvalidArgument``).
    Everything stops when the block exits.
    """
    # refuse bad options first; an embedded control plane keeps its token in memory (no token file)
    cfg = ControlPlaneConfig(port=0, backend="local", token_file=False).with_options(**options)
    cfg.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="praas-"))
    return start_embedded(cfg, cfg.home if home is None else None)


__all__ = ["EmbeddedClient", "local", "start_embedded"]
