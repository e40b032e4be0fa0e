"""The process launch contract: everything a process runtime is started with.

:class:`ProcessConfig` is the only writer (:meth:`ProcessConfig.to_env`) and reader
(:meth:`ProcessConfig.from_env`) of the ``PRAAS_*`` environment a runtime starts with. The control
plane fills in the identity and limits; a backend amends only where the runtime lives (``bind``,
``advertise``, ``state_dir``, ``code``, ``parent_pid``, ``secrets_file``) with
:meth:`ProcessConfig.replace`. Secrets are never put into the environment (which children inherit and
``docker inspect`` shows): the hello secret, the process's CurveZMQ key pair, the keys it trusts and the
swap store's spec (which may hold credentials) go into a file only the process can read
(``secrets_file``, :func:`write_secrets_file`); the runtime reads it once and removes it.

The defaults shared with the control plane's configuration are stated here, once.
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

DEFAULT_MAX_PAYLOAD = 64 << 20  #: bytes of one invocation payload or message
DEFAULT_WORKERS = 2  #: function worker threads per process
DEFAULT_QUEUE_CALLS = 10_000  #: invocations a process admits at once (running and queued)
DEFAULT_QUEUE_BYTES = 256 << 20  #: their payload bytes, when the control plane does not say (a quarter of memory)
DEFAULT_METRICS_INTERVAL = 1.0  #: seconds between metrics reports to the control plane
DEFAULT_DRAIN_TIMEOUT = 30.0  #: seconds a swap-out waits for running invocations
DEFAULT_INVOKE_TIMEOUT = 300.0  #: seconds a caller waits for an invocation's result
DEFAULT_BIND = "tcp://127.0.0.1:0"


@dataclass(frozen=True)
class ProcessConfig:
    """Settings of one process runtime (times in seconds, sizes in bytes)."""

    app: str = field(metadata={"env": "PRAAS_APP"})  # its application
    proc: str = field(metadata={"env": "PRAAS_PROCESS"})  # its name
    code: str | None = field(default=None, metadata={"env": "PRAAS_CODE"})  # module or package, as the runtime sees it
    control: str | None = field(default=None, metadata={"env": "PRAAS_CONTROL"})  # tcp://host:port of the endpoint
    bind: str = field(default=DEFAULT_BIND, metadata={"env": "PRAAS_BIND"})  # the data plane's ZeroMQ endpoint
    advertise: str | None = field(default=None, metadata={"env": "PRAAS_ADVERTISE"})  # host peers use to reach us
    #: the directory its functions' files live in (part of its snapshot)
    state_dir: Path = field(default=Path("state"), metadata={"env": "PRAAS_STATE_DIR"})
    workers: int = field(default=DEFAULT_WORKERS, metadata={"env": "PRAAS_WORKERS"})  # function worker threads
    #: bytes of one payload or message
    max_payload: int = field(default=DEFAULT_MAX_PAYLOAD, metadata={"env": "PRAAS_MAX_PAYLOAD"})
    secrets_file: Path | None = field(default=None, metadata={"env": "PRAAS_SECRETS_FILE"})  # see write_secrets_file
    swapin: str | None = field(default=None, metadata={"env": "PRAAS_SWAPIN"})  # snapshot to restore at start
    parent_pid: int | None = field(default=None, metadata={"env": "PRAAS_PARENT_PID"})  # exit when it is gone
    #: seconds between metrics reports
    metrics_interval: float = field(default=DEFAULT_METRICS_INTERVAL, metadata={"env": "PRAAS_METRICS_INTERVAL"})
    #: seconds a swap-out waits for running invocations
    drain_timeout: float = field(default=DEFAULT_DRAIN_TIMEOUT, metadata={"env": "PRAAS_DRAIN_TIMEOUT"})
    #: default seconds of a peer invocation
    invoke_timeout: float = field(default=DEFAULT_INVOKE_TIMEOUT, metadata={"env": "PRAAS_INVOKE_TIMEOUT"})
    mailbox_messages: int | None = field(default=None, metadata={"env": "PRAAS_MAILBOX_MESSAGES"})  # bound
    mailbox_bytes: int | None = field(default=None, metadata={"env": "PRAAS_MAILBOX_BYTES"})  # bound
    queue_calls: int | None = field(default=None, metadata={"env": "PRAAS_QUEUE_CALLS"})  # invocations admitted
    queue_bytes: int | None = field(default=None, metadata={"env": "PRAAS_QUEUE_BYTES"})  # their payload bytes

    def to_env(self) -> dict[str, str]:
        """The ``PRAAS_*`` variables that :meth:`from_env` reads back into an equal config (unset fields
        are left out)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.metadata["env"]] = str(value)
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessConfig:
        """Read a config from ``env`` (default ``os.environ``); :class:`InvalidArgument` names a missing or
        malformed variable."""
        e = os.environ if env is None else env
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = f.metadata["env"]
            raw = e.get(var)
            if raw is None or raw == "":
                if f.default is dataclasses.MISSING:
                    raise InvalidArgument(f"{var} is not set: a process runtime needs it")
                continue
            kwargs[f.name] = parse_env_value(var, str(f.type), raw)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ProcessConfig:
        """A copy with ``changes`` (how a backend amends where the runtime lives)."""
        return dataclasses.replace(self, **changes)


def parse_env_value(var: str, typ: str, raw: str) -> Any:
    """``raw`` (the value of variable ``var``) as the field type written ``typ`` (``int``, ``float | None``,
    ``bool`` as 1/0/true/false/yes/no, ``Path``, ``dict[...]`` as a JSON object, else a string);
    :class:`InvalidArgument` names the variable."""
    try:
        if typ.startswith("bool"):
            flag = raw.strip().lower()
            if flag not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("use 1/0, true/false or yes/no")
            return flag in ("1", "true", "yes")
        if typ.startswith("dict"):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return value
        if typ.startswith("int"):
            return int(raw)
        if typ.startswith("float"):
            return float(raw)
        if typ.startswith("Path"):
            return Path(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{var}={raw[:200]!r} is not a valid {typ.split(' ')[0]} ({exc})") from None
    return raw


def encode_secrets(secrets: Mapping[str, Any]) -> bytes:
    """The bytes of a secrets file (what a container backend ships into a container, or a Swarm secret holds).

    Keys: ``secret`` (proves the process's hello), ``keys`` (its CurveZMQ key pair), ``control_key`` (the
    control plane's public key), ``client_key`` (the public key of the application's SDK clients) and
    ``store`` (the swap store's spec).
    """
    return json.dumps(dict(secrets)).encode()


def write_secrets_file(path: Path, secrets: Mapping[str, Any] | bytes, owner: tuple[int, int] | None = None) -> Path:
    """Write a process's secrets (a mapping, or what :func:`encode_secrets` made of one) where only its user can
    read them (0600, owned by ``owner`` if given): the one writer of the file :attr:`ProcessConfig.secrets_file`
    names, on the host (local backend) or inside a task (:mod:`praas_kit.backends.swarm_launch`)."""
    data = secrets if isinstance(secrets, bytes) else encode_secrets(secrets)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if owner is not None:
        os.chown(path, *owner)
    return path


def read_secrets_file(path: Path, remove: bool = True) -> dict[str, Any]:
    """Read what :func:`write_secrets_file` wrote, and remove the file (so code that the process runs later
    cannot read the secrets from it)."""
    try:
        secrets = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the process's secrets {path}: {exc}") from None
    if remove:
        try:
            path.unlink()
        except OSError:
            pass
    if not isinstance(secrets, dict):
        raise InvalidArgument(f"the process's secrets file {path} is not a JSON object")
    return secrets


__all__ = ["ProcessConfig", "parse_env_value", "encode_secrets", "write_secrets_file", "read_secrets_file",
           "DEFAULT_MAX_PAYLOAD", "DEFAULT_WORKERS", "DEFAULT_METRICS_INTERVAL", "DEFAULT_DRAIN_TIMEOUT",
           "DEFAULT_INVOKE_TIMEOUT", "DEFAULT_BIND"]
