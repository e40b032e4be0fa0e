"""Control-plane configuration: defaults, ``PRAAS_*`` environment variables, and options from code.

Every field has exactly one variable (its ``env`` metadata), read by :meth:`ControlPlaneConfig.from_env`;
:meth:`ControlPlaneConfig.with_options` is the one way code sets fields (unknown names are refused).
Two conveniences on top, both documented here:

* ``PRAAS_SWAP_KIND=<kind>`` builds the swap store's spec from that store's own variables (for ``s3``:
  ``PRAAS_S3_ENDPOINT``, ``PRAAS_S3_BUCKET``, ...; see the store's ``spec_from_env``); the full spec as
  JSON is ``PRAAS_SWAP_STORE_SPEC``.
* a backend option ``opt`` may be given as ``PRAAS_<BACKEND>_<OPT>`` (e.g. ``PRAAS_DOCKER_NETWORK``);
  values are parsed as JSON when they are JSON (numbers, booleans), else kept as strings. All of them
  at once, as a JSON object: ``PRAAS_BACKEND_OPTIONS``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument
from praas_kit.home import default_home
from praas_kit.process.config import (
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_INVOKE_TIMEOUT,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_METRICS_INTERVAL,
    DEFAULT_WORKERS,
    parse_env_value,
)


def _f(env: str, default: Any = None, factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"env": env})
    return field(default=default, metadata={"env": env})


@dataclass
class ControlPlaneConfig:
    """Settings of one control plane. Times are seconds, sizes bytes unless the name says otherwise."""

    home: Path = _f("PRAAS_HOME", factory=default_home)  # registry, token, lock and swaps (default ~/.praas)
    host: str = _f("PRAAS_HOST", "127.0.0.1")  # the REST API's interface
    port: int = _f("PRAAS_PORT", 8080)  # the REST API's port (0: any free port)
    backend: str = _f("PRAAS_BACKEND", "local")  # compute backend: local, docker or swarm
    #: JSON options of the backend (or PRAAS_<BACKEND>_<OPTION>)
    backend_options: dict[str, Any] = _f("PRAAS_BACKEND_OPTIONS", factory=dict)
    swap_store: dict[str, Any] | None = _f("PRAAS_SWAP_STORE_SPEC")  # None: a directory store under home/swaps
    token: str | None = _f("PRAAS_TOKEN")  # None: read home/token or create one
    token_owner: str | None = _f("PRAAS_TOKEN_OWNER")  # "uid[:gid]" that owns a newly created token file
    resume_failed: bool = _f("PRAAS_RESUME_FAILED", False)  # a sticky call swaps a FAILED process in by itself
    token_file: bool = _f("PRAAS_TOKEN_FILE", True)  # write home/token for clients to find (False: in memory)
    dataplane_auth: str = _f("PRAAS_DATAPLANE_AUTH", "curve")  # "curve" (CurveZMQ + ZAP) or "none"
    idle_seconds: float | None = _f("PRAAS_IDLE_SECONDS")  # downscaler threshold; None disables it
    downscaler_interval: float | None = _f("PRAAS_DOWNSCALER_INTERVAL")  # default: idle/4, within [0.2, 30]
    function_workers: int = _f("PRAAS_FUNCTION_WORKERS", DEFAULT_WORKERS)  # worker threads per process
    max_payload: int = _f("PRAAS_MAX_PAYLOAD", DEFAULT_MAX_PAYLOAD)  # bytes of one invocation payload or message
    create_timeout: float = _f("PRAAS_CREATE_TIMEOUT", 30.0)  # seconds a new process may take to say hello
    swap_timeout: float = _f("PRAAS_SWAP_TIMEOUT", 300.0)  # seconds a swap-out may take
    invoke_timeout: float = _f("PRAAS_INVOKE_TIMEOUT", DEFAULT_INVOKE_TIMEOUT)  # default seconds of an invocation
    #: seconds a swap-out waits for running invocations
    drain_timeout: float = _f("PRAAS_DRAIN_TIMEOUT", DEFAULT_DRAIN_TIMEOUT)
    #: seconds between a process's metrics reports
    metrics_interval: float = _f("PRAAS_METRICS_INTERVAL", DEFAULT_METRICS_INTERVAL)
    default_vcpus: float = _f("PRAAS_DEFAULT_VCPUS", 1.0)  # vCPUs of a process when neither it nor its application says
    #: memory (MiB) of a process when neither it nor its application says
    default_memory_mb: int = _f("PRAAS_DEFAULT_MEMORY_MB", 1024)
    max_vcpus: float = _f("PRAAS_MAX_VCPUS", 16.0)  # the most vCPUs a process may ask for
    max_memory_mb: int = _f("PRAAS_MAX_MEMORY_MB", 65536)  # the most memory (MiB) a process may ask for
    mailbox_messages: int = _f("PRAAS_MAILBOX_MESSAGES", 100_000)  # bound of each process's mailbox
    mailbox_bytes: int | None = _f("PRAAS_MAILBOX_BYTES")  # None: a quarter of the process's memory
    pool_prefix: str = _f("PRAAS_POOL_PREFIX", "pool-")  # name prefix of pooled processes
    code_roots: str | None = _f("PRAAS_CODE_ROOTS")  # os.pathsep-separated: application code only from there
    max_pooled: int = _f("PRAAS_MAX_POOLED", 64)  # pooled processes per application (all busy: Overloaded)
    ctl_port: int = _f("PRAAS_CTL_PORT", 0)  # the process endpoint's port (0: any free port)
    gateway_port: int = _f("PRAAS_GATEWAY_PORT", 0)  # the invocation gateway's port (0: any free; -1: no gateway)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ControlPlaneConfig:
        """Defaults, then ``PRAAS_*`` variables, then ``overrides`` (those that are not ``None``)."""
        e = os.environ if env is None else env
        if e.get("PRAAS_SWAP_STORE"):
            raise InvalidArgument("PRAAS_SWAP_STORE was renamed: set PRAAS_SWAP_KIND (e.g. s3) or "
                                  "PRAAS_SWAP_STORE_SPEC (the store's JSON spec)")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = e.get(f.metadata["env"])
            if raw:
                values[f.name] = parse_env_value(f.metadata["env"], str(f.type), raw)
        cfg = cls(**values)
        if not cfg.swap_store and e.get("PRAAS_SWAP_KIND"):
            from praas_kit.storage.registry import spec_from_env

            cfg.swap_store = spec_from_env(e["PRAAS_SWAP_KIND"], e)
        prefix = f"PRAAS_{cfg.backend.upper()}_"
        for var, raw in e.items():
            if var.startswith(prefix) and raw:
                cfg.backend_options.setdefault(var[len(prefix):].lower(), _json_or_str(raw))
        return cfg.with_options(**{k: v for k, v in overrides.items() if v is not None})

    def with_options(self, **options: Any) -> ControlPlaneConfig:
        """Set fields by name (in place) and return ``self``; :class:`InvalidArgument` names an unknown one."""
        known = {f.name for f in dataclasses.fields(self)}
        for k, v in options.items():
            if k not in known:
                raise InvalidArgument(f"unknown control-plane option {k!r}; known: {', '.join(sorted(known))}")
            setattr(self, k, Path(v) if k == "home" else v)
        return self


def _json_or_str(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


__all__ = ["ControlPlaneConfig"]
