"""Typed views of what the control plane returns: applications, processes, snapshots, swap reports.

Each is a frozen dataclass built from the REST API's JSON with ``from_json`` (unknown keys are
ignored, so a newer server stays readable). They mirror the response models of
:mod:`praas_kit.control.schemas` field by field; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from praas_kit.lifecycle import Status, view

_M = TypeVar("_M", bound="_Model")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class _Model:
    """``from_json``: the dataclass from a JSON object, ignoring keys it does not know."""

    @classmethod
    def from_json(cls: type[_M], data: dict[str, Any]) -> _M:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class ApplicationInfo(_Model):
    """An application: its code or image and the defaults of its processes."""

    name: str
    code: str | None
    image: str | None
    vcpus: float
    memory_mb: int
    function_workers: int
    created: float
    resume_failed: bool = False  # a call to a FAILED process swaps it in by itself (from its last snapshot)


@dataclass(frozen=True)
class SnapshotInfo(_Model):
    """A committed swap snapshot: its id, size, write time (s) and creation time (unix)."""

    snapshot: str
    bytes: int
    seconds: float
    created: float


@dataclass(frozen=True)
class MetricsInfo(_Model):
    """What a running process last reported."""

    invocations: int
    busy_seconds: float
    last_activity: float
    inflight: int
    rss_bytes: int = 0


@dataclass(frozen=True)
class ProcessInfo(_Model):
    """A cloud process as the control plane describes it."""

    app: str
    name: str
    status: Status
    vcpus: float
    memory_mb: int
    pooled: bool
    created: float
    updated: float
    address: str | None
    public_key: str | None
    max_payload: int
    snapshots: tuple[SnapshotInfo, ...]
    error: str | None = None
    log_tail: str | None = None
    restored_bytes: int | None = None
    restore_seconds: float | None = None
    metrics: MetricsInfo | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessInfo:  # nested models need converting too
        d = _known(cls, data)
        d["status"] = Status(d["status"])
        d["snapshots"] = tuple(SnapshotInfo.from_json(s) for s in d.get("snapshots") or ())
        if d.get("metrics") is not None:
            d["metrics"] = MetricsInfo.from_json(d["metrics"])
        return cls(**d)

    @property
    def view(self) -> str:
        """``"active"``, ``"swapped"`` or ``"inactive"`` (see :func:`praas_kit.lifecycle.view`)."""
        return view(self.status)


@dataclass(frozen=True)
class SwapReport(_Model):
    """What a swap-out wrote: bytes, the seconds the process took to write them, the whole operation's
    seconds (drain, write, exit), and the snapshot id."""

    bytes: int
    seconds: float
    total_seconds: float
    snapshot: str

    @property
    def mib_per_second(self) -> float:
        """Write bandwidth inside the process."""
        return self.bytes / (1 << 20) / self.seconds if self.seconds > 0 else float("inf")


__all__ = ["ApplicationInfo", "SnapshotInfo", "MetricsInfo", "ProcessInfo", "SwapReport", "Status"]
