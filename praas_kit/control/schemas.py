"""The REST API's request and response models (pydantic): they validate bodies and document the API
in OpenAPI. The SDK's :mod:`praas_kit.sdk.models` mirrors the response models as dataclasses (a test
keeps the two in step)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from praas_kit.lifecycle import Status


class AppBody(BaseModel):
    """Body of ``PUT /apps/{app}``."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `"vcpus": true` is not 1.0
    code: str | None = Field(None, description="path of the module or package (as the control plane sees it)")
    image: str | None = Field(None, description="container image for the docker backend")
    vcpus: float | None = Field(None, description="default vCPUs of its processes")
    memory_mb: int | None = Field(None, description="default memory of its processes (MiB)")
    function_workers: int | None = Field(None, description="worker threads per process")
    resume_failed: bool = Field(False, description="a call to a FAILED process swaps it in from its last snapshot "
                                                   "by itself (otherwise: ProcessFailed)")


class ProcessBody(BaseModel):
    """Body of ``PUT /apps/{app}/processes/{proc}``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    vcpus: float | None = Field(None, description="vCPUs (default: the application's)")
    memory_mb: int | None = Field(None, description="memory in MiB (default: the application's)")


class ErrorBody(BaseModel):
    """The error envelope: ``{"error": {"type": <class name>, "message": ..., "traceback"?: ...}}``."""

    error: dict[str, Any]


class HealthModel(BaseModel):
    ok: bool
    version: str
    backend: str


class GatewayModel(BaseModel):
    port: int
    public_key: str | None
    max_payload: int


class ApplicationModel(BaseModel):
    """An application."""

    name: str
    code: str | None = Field(description="module or package path of its functions")
    image: str | None = Field(description="container image (docker backend)")
    vcpus: float = Field(description="default vCPUs of its processes")
    memory_mb: int = Field(description="default memory of its processes (MiB)")
    function_workers: int = Field(description="worker threads per process")
    created: float = Field(description="unix time")
    resume_failed: bool = Field(description="calls swap a FAILED process in by themselves")


class ApplicationListModel(BaseModel):
    applications: list[ApplicationModel]


class SnapshotModel(BaseModel):
    """A committed swap snapshot."""

    snapshot: str
    bytes: int
    seconds: float = Field(description="time the process took to write it")
    created: float = Field(description="unix time")


class MetricsModel(BaseModel):
    """What a running process last reported."""

    invocations: int = Field(description="invocations run since it started")
    busy_seconds: float = Field(description="seconds spent in functions")
    last_activity: float = Field(description="unix time of its last invocation")
    inflight: int = Field(description="invocations running now")
    rss_bytes: int = Field(0, description="resident memory of the runtime")


class ProcessModel(BaseModel):
    """A cloud process."""

    app: str
    name: str
    status: Status
    vcpus: float
    memory_mb: int
    pooled: bool = Field(description="created by the control plane for FaaS-style invocations")
    created: float = Field(description="unix time")
    updated: float = Field(description="unix time of the last status change")
    address: str | None = Field(description="data-plane address while ALLOCATED")
    public_key: str | None = Field(description="CurveZMQ server key of its data plane while ALLOCATED (null: "
                                               "the data plane is not authenticated)")
    max_payload: int = Field(description="largest payload it takes, in bytes")
    snapshots: list[SnapshotModel]
    error: str | None = Field(description="why it failed, when it did")
    log_tail: str | None = Field(None, description="the end of its log when it last failed")
    restored_bytes: int | None = Field(None, description="bytes restored from a snapshot at its start")
    restore_seconds: float | None = Field(None, description="seconds that restore took inside the process")
    metrics: MetricsModel | None = None


class ProcessListModel(BaseModel):
    """Processes grouped as ``active`` (running or changing state), ``swapped`` and ``inactive``
    (CLOSED or FAILED)."""

    application: str | None = Field(description="the application, or null for a listing across applications")
    active: list[ProcessModel]
    swapped: list[ProcessModel]
    inactive: list[ProcessModel]


class CredentialsModel(BaseModel):
    """How the application's clients authenticate on the data plane."""

    auth: str = Field(description="'curve' (CurveZMQ) or 'none'")
    public_key: str | None = Field(description="the application's client public key (Z85)")
    secret_key: str | None = Field(description="the application's client secret key (Z85): keep it secret")


class SwapReportModel(BaseModel):
    """What a swap-out wrote."""

    bytes: int
    seconds: float = Field(description="time the process took to write the snapshot")
    total_seconds: float = Field(description="the whole operation: drain, write, exit")
    snapshot: str


class DeletedModel(BaseModel):
    deleted: str


class KilledModel(BaseModel):
    killed: str


__all__ = ["AppBody", "ProcessBody", "ErrorBody", "HealthModel", "GatewayModel", "ApplicationModel",
           "ApplicationListModel",
           "SnapshotModel", "MetricsModel", "ProcessModel", "ProcessListModel", "CredentialsModel", "SwapReportModel",
           "DeletedModel",
           "KilledModel"]
