"""praas-kit: Process-as-a-Service (PraaS, SoCC'24) in Python.

Function code imports ``function``, ``SELF`` and ``ANY``; clients use :func:`connect`,
:func:`local` or :func:`docker_deployment`. Heavy modules (FastAPI, httpx, docker) load only
when a client needs them, so a process starts fast.
"""

from __future__ import annotations

from typing import Any

from praas_kit.errors import (
    ApplicationExists,
    ApplicationNotFound,
    BackendError,
    BadRequest,
    FunctionNotFound,
    InvalidArgument,
    InvalidName,
    InvalidState,
    InvocationError,
    PayloadTooLarge,
    PraasError,
    ProcessDied,
    ProcessExists,
    ProcessNotFound,
    ProtocolError,
    RecvTimeout,
    SnapshotNotFound,
    StorageError,
    Timeout,
    Unauthorized,
)
from praas_kit.function import ANY, SELF, Invocation, Result, function
from praas_kit.lifecycle import Status

__version__ = "0.1.0"

__all__ = [
    "function", "SELF", "ANY", "Invocation", "Result", "Status", "connect", "local", "docker_deployment",
    "PraasError", "ApplicationNotFound", "ApplicationExists", "ProcessNotFound", "ProcessExists",
    "InvalidName", "InvalidArgument", "InvalidState", "InvocationError", "ProcessDied", "FunctionNotFound",
    "RecvTimeout", "Timeout", "PayloadTooLarge", "ProtocolError", "BackendError", "StorageError",
    "SnapshotNotFound", "Unauthorized", "BadRequest",
]


def __getattr__(name: str) -> Any:
    if name == "connect":
        from praas_kit.sdk.client import connect

        return connect
    if name == "local":
        from praas_kit.sdk.embedded import local

        return local
    if name == "docker_deployment":
        from praas_kit.sdk.embedded import docker_deployment

        return docker_deployment
    raise AttributeError(f"module 'praas_kit' has no attribute {name!r}")
