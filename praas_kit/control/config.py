"""Control-plane configuration (defaults, ``PRAAS_*`` environment overrides)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_home() -> Path:
    """Where a control plane keeps its registry, token and swaps unless told otherwise."""
    return Path(os.environ.get("PRAAS_HOME", Path.home() / ".praas"))


@dataclass
class ControlPlaneConfig:
    """Settings of one control plane. Times are seconds, sizes bytes unless the name says otherwise."""

    home: Path = field(default_factory=default_home)
    host: str = "127.0.0.1"
    port: int = 8080
    backend: str = "local"
    backend_options: dict[str, Any] = field(default_factory=dict)
    swap_store: dict[str, Any] | None = None  # None: a directory store under home/swaps
    token: str | None = None  # None: read home/token or create one
    idle_seconds: float | None = None  # downscaler threshold; None disables it
    downscaler_interval: float | None = None  # default: idle_seconds / 4, between 0.2 and 30
    function_workers: int = 2
    max_payload: int = 64 << 20
    create_timeout: float = 30.0
    swap_timeout: float = 300.0
    invoke_timeout: float = 300.0
    drain_timeout: float = 30.0
    metrics_interval: float = 1.0
    default_vcpus: float = 1.0
    default_memory_mb: int = 1024
    max_vcpus: float = 16.0
    max_memory_mb: int = 65536
    pool_prefix: str = "pool-"
    ctl_port: int = 0

    @classmethod
    def from_env(cls, **overrides: Any) -> ControlPlaneConfig:
        """Defaults, then ``PRAAS_*`` variables, then ``overrides``."""
        env = os.environ
        cfg = cls()
        mapping = {
            "PRAAS_HOME": ("home", Path), "PRAAS_HOST": ("host", str), "PRAAS_PORT": ("port", int),
            "PRAAS_BACKEND": ("backend", str), "PRAAS_IDLE_SECONDS": ("idle_seconds", float),
            "PRAAS_FUNCTION_WORKERS": ("function_workers", int), "PRAAS_MAX_PAYLOAD": ("max_payload", int),
            "PRAAS_TOKEN": ("token", str), "PRAAS_CTL_PORT": ("ctl_port", int),
        }
        for var, (attr, typ) in mapping.items():
            if env.get(var):
                setattr(cfg, attr, typ(env[var]))
        if env.get("PRAAS_SWAP_STORE_SPEC"):
            cfg.swap_store = json.loads(env["PRAAS_SWAP_STORE_SPEC"])
        elif env.get("PRAAS_SWAP_STORE") == "s3":
            cfg.swap_store = {
                "kind": "s3", "endpoint": env.get("PRAAS_S3_ENDPOINT"),
                "bucket": env.get("PRAAS_S3_BUCKET", "praas-swaps"),
                "access_key": env.get("PRAAS_S3_ACCESS_KEY"), "secret_key": env.get("PRAAS_S3_SECRET_KEY"),
                "region": env.get("PRAAS_S3_REGION", "us-east-1"),
            }
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, Path(v) if k == "home" else v)
        return cfg
