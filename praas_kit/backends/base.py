"""The compute-backend plug-in point.

A backend starts one runtime (``python -m praas_kit.process``) per cloud process, reports its
exit through the ``on_exit`` callback exactly once, and stops it on request. It never decides
lifecycle states; the control plane does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from praas_kit.errors import BackendError

ExitCallback = Callable[[int], None]


@dataclass
class ProcessSpec:
    """What to start: the process's identity, code, resources and ``PRAAS_*`` environment."""

    app: str
    proc: str
    incarnation: str
    vcpus: float
    memory_mb: int
    code: str | None = None
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class Backend(ABC):
    """Starts and stops process runtimes."""

    name: str = "backend"

    @property
    @abstractmethod
    def control_bind(self) -> str:
        """Host/interface the control plane's process endpoint binds to."""

    @abstractmethod
    def control_host(self) -> str:
        """Host name or IP processes use to reach the control plane's process endpoint."""

    @abstractmethod
    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> dict[str, Any]:
        """Start the runtime; return a JSON-serialisable handle. Raise :class:`BackendError` on failure."""

    @abstractmethod
    def stop(self, handle: dict[str, Any], grace: float = 5.0) -> None:
        """Make sure the runtime is gone (wait ``grace`` seconds for a clean exit, then kill) and clean up."""

    @abstractmethod
    def kill(self, handle: dict[str, Any]) -> None:
        """Kill the runtime at once (SIGKILL); used by tests and by recovery."""

    def logs(self, handle: dict[str, Any], tail: int = 40) -> str:
        """The last lines the runtime printed (for error messages)."""
        return ""

    def inspect(self, handle: dict[str, Any]) -> dict[str, Any]:
        """Backend-specific facts about a running process (limits, ids)."""
        return dict(handle)

    def recover(self, handle: dict[str, Any]) -> None:
        """After a control-plane restart: remove a runtime left from before (best effort)."""
        try:
            self.kill(handle)
        except BackendError:
            pass

    def close(self) -> None:
        """Stop everything this backend started."""


def open_backend(name: str, **options: Any) -> Backend:
    """The backend called ``name`` (``local`` or ``docker``)."""
    if name == "local":
        from praas_kit.backends.local import LocalBackend

        return LocalBackend(**options)
    if name == "docker":
        from praas_kit.backends.docker import DockerBackend

        return DockerBackend(**options)
    raise BackendError(f"unknown backend {name!r}; choose 'local' or 'docker'")
