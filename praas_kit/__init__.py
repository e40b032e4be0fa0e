"""praas-kit: Process-as-a-Service (PraaS, SoCC'24) in Python.

Function code imports ``function``, ``SELF`` and ``ANY``; clients use :func:`connect`,
:func:`local`, :func:`docker_deployment` or :func:`swarm_deployment`. Heavy modules (FastAPI, httpx,
docker) load only when a client needs them, so a process starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from praas_kit._lazy import lazy_exports
from praas_kit.errors import (
    ApplicationExists,
    ApplicationNotFound,
    BackendError,
    BadRequest,
    CheckoutMissing,
    ControlPlaneUnreachable,
    FunctionNotFound,
    InvalidArgument,
    InvalidName,
    InvalidState,
    InvocationError,
    MailboxFull,
    NotebookFailed,
    Overloaded,
    PayloadTooLarge,
    PraasError,
    ProcessDied,
    ProcessExists,
    ProcessNotFound,
    ProtocolError,
    RecvTimeout,
    SnapshotNotFound,
    StorageError,
    TexMissing,
    Timeout,
    Unauthorized,
    Unreachable,
)
from praas_kit.function import Invocation, function
from praas_kit.lifecycle import Status
from praas_kit.names import ANY, SELF
from praas_kit.payload import Result

if TYPE_CHECKING:
    from praas_kit.deploy.docker import docker_deployment
    from praas_kit.deploy.local import local
    from praas_kit.deploy.swarm import swarm_deployment
    from praas_kit.sdk.client import connect

__version__ = "0.2.0"

__all__ = [
    "function", "SELF", "ANY", "Invocation", "Result", "Status", "connect", "local", "docker_deployment",
    "swarm_deployment",
    "PraasError", "ApplicationNotFound", "ApplicationExists", "ProcessNotFound", "ProcessExists",
    "InvalidName", "InvalidArgument", "InvalidState", "InvocationError", "ProcessDied", "FunctionNotFound",
    "RecvTimeout", "Timeout", "PayloadTooLarge", "MailboxFull", "Overloaded", "ProtocolError", "BackendError",
    "StorageError",
    "SnapshotNotFound", "Unauthorized", "ControlPlaneUnreachable", "BadRequest", "Unreachable", "TexMissing",
    "NotebookFailed", "CheckoutMissing",
]

_LAZY = {
    "connect": "praas_kit.sdk.client",
    "local": "praas_kit.deploy.local",
    "docker_deployment": "praas_kit.deploy.docker",
    "swarm_deployment": "praas_kit.deploy.swarm",
}
__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
