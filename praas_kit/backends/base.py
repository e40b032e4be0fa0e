"""The compute-backend plug-in point.

A backend starts one runtime (``python -m praas_kit.process``) per cloud process, reports its
exit through the ``on_exit`` callback exactly once, and stops it on request. It never decides
lifecycle states; the control plane does.

What a runtime is started with is the typed :class:`~praas_kit.process.config.ProcessConfig`
in :attr:`ProcessSpec.config`. A backend amends only where the runtime lives (``bind``,
``advertise``, ``state_dir``, ``code``, ``parent_pid``, ``store_file``), hands the swap store's spec
to the runtime in a file only the process can read (:attr:`ProcessSpec.store`; in a container the
store says what it needs there through :meth:`~praas_kit.storage.base.SwapStore.container_view`),
and starts the runtime with ``config.to_env()``. Backends register by name in
:mod:`praas_kit.backends.registry`; the contract suite in ``tests/backends/`` is what each must pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.errors import BackendError
from praas_kit.process.config import ProcessConfig
from praas_kit.storage.base import SwapStore

ExitCallback = Callable[[int], None]
Handle = dict[str, Any]
"""What :meth:`Backend.start` returns: JSON-serialisable, kept in the registry, handed back to
``stop``/``kill``/``logs``/``recover`` (also by a later control plane after a restart)."""


@dataclass
class ProcessSpec:
    """What to start: identity, resources, application code (as the control plane sees it), the
    runtime's launch config, and the swap store."""

    app: str
    proc: str
    incarnation: str
    vcpus: float
    memory_mb: int
    config: ProcessConfig
    code: str | None = None
    image: str | None = None
    store: SwapStore | None = None


class Backend(ABC):
    """Starts and stops process runtimes."""

    name: str = "backend"

    @classmethod
    def create(cls, home: Path, options: Mapping[str, Any]) -> Backend:
        """The backend a control plane whose state lives in ``home`` uses, configured by ``options``
        (:class:`BackendError` for an unknown option)."""
        try:
            return cls(**dict(options))
        except TypeError as exc:
            raise BackendError(f"bad option for the {cls.name} backend: {exc}") from None

    @property
    @abstractmethod
    def control_bind(self) -> str:
        """Host/interface the control plane's process endpoint binds to."""

    @property
    @abstractmethod
    def control_host(self) -> str:
        """Host name or IP processes use to reach the control plane's process endpoint."""

    @abstractmethod
    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> Handle:
        """Start the runtime; return its handle. Raise :class:`BackendError` on failure."""

    @abstractmethod
    def stop(self, handle: Handle, grace: float = 5.0) -> None:
        """Make sure the runtime is gone (wait ``grace`` seconds for a clean exit, then kill) and clean up."""

    @abstractmethod
    def kill(self, handle: Handle) -> None:
        """Kill the runtime at once (SIGKILL); used by tests and by recovery."""

    @abstractmethod
    def alive(self, handle: Handle) -> bool:
        """Whether the runtime of ``handle`` still runs."""

    def logs(self, handle: Handle, tail: int = 40) -> str:
        """The last lines the runtime printed (for error messages)."""
        return ""

    def inspect(self, handle: Handle) -> dict[str, Any]:
        """Backend-specific facts about a running process (limits, ids)."""
        return dict(handle)

    def recover(self, handle: Handle) -> None:
        """After a control-plane restart: remove a runtime left from before (best effort)."""
        try:
            self.kill(handle)
        except BackendError:
            pass

    def close(self) -> None:
        """Stop everything this backend started."""


__all__ = ["Backend", "ProcessSpec", "ExitCallback", "Handle"]
