"""The compute-backend plug-in point.

A backend starts one runtime (``python -m praas_kit.process``) per cloud process, reports its
exit through the ``on_exit`` callback exactly once, and stops it on request. It never decides
lifecycle states; the control plane does.

What a runtime is started with is the typed :class:`~praas_kit.process.config.ProcessConfig`
in :attr:`ProcessSpec.config`. A backend amends only where the runtime lives (``bind``,
``advertise``, ``state_dir``, ``code``, ``parent_pid``, ``secrets_file``), writes the runtime's secrets
(:attr:`ProcessSpec.secrets` plus the swap store's spec as the process must see it, from
:meth:`~praas_kit.storage.base.SwapStore.process_view`) into a file only the process can read
(:func:`~praas_kit.process.config.write_secrets_file`), and starts the runtime with ``config.to_env()``.
Backends register by name in :mod:`praas_kit.backends.registry`; ``tests/test_backend_contract.py`` is
what each must pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praas_kit.errors import BackendError, InvalidArgument
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
    secrets: dict[str, Any] = field(default_factory=dict)  # JSON; goes into the secrets file, never the env

    def secrets_for(self, store_spec: dict[str, Any] | None) -> dict[str, Any]:
        """What the secrets file holds: :attr:`secrets` and the store's spec as the process sees it."""
        return {**self.secrets, "store": store_spec}


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

    def public_address(self, handle: Handle, advertised: str) -> str:
        """The data-plane address by which clients and peer processes reach the runtime of ``handle``, given
        the one it advertised in its hello (called once the runtime connected). The default: the advertised
        one. A backend whose runtimes are reachable only through a published port (``swarm``) maps it."""
        return advertised

    def check_code(self, code: str, image: str | None = None) -> list[str]:
        """Import application code in a throw-away process shaped like the ones that will run it; the names
        of its functions. :class:`~praas_kit.errors.InvalidArgument` names what is wrong with it.

        The default runs ``python -m praas_kit.process.codecheck`` as a host subprocess with a scrubbed
        environment; a backend whose processes run elsewhere runs it there.
        """
        return check_code_here(code)

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


CODE_CHECK_TIMEOUT = 60.0


def check_code_here(code: str) -> list[str]:
    """Run the code check as a subprocess of this host (see :meth:`Backend.check_code`)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV") if k in os.environ}
    try:
        out = subprocess.run([sys.executable, "-m", "praas_kit.process.codecheck", code], capture_output=True,
                             text=True, timeout=CODE_CHECK_TIMEOUT, env=env, stdin=subprocess.DEVNULL,
                             cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        raise InvalidArgument(f"importing the application code {code!r} took over {CODE_CHECK_TIMEOUT:.0f} s") from None
    return parse_code_check(out.stdout, out.stderr)


def parse_code_check(stdout: str, stderr: str = "") -> list[str]:
    """The result of ``praas_kit.process.codecheck``: the function names, or :class:`InvalidArgument`."""
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BackendError(f"the code check printed no result: {(stderr or stdout)[-1000:]}") from None
    if "error" in result:
        raise InvalidArgument(f"application code rejected: {result['error']}")
    return [str(f) for f in result["functions"]]


__all__ = ["Backend", "ProcessSpec", "ExitCallback", "Handle", "check_code_here", "parse_code_check"]
