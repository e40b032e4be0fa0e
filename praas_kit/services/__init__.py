"""Real storage servers for tests, benchmarks, notebooks and the Docker images.

* :class:`RedisServer` (:mod:`praas_kit.services.redis_server`): a throw-away ``redis-server``.
* :class:`SwiftS3Server` (:mod:`praas_kit.services.swift_s3`): OpenStack Swift with ``s3api``, an
  S3-compatible server that boto3 talks to.

Both are context managers that start child processes in a temporary directory and remove every
trace on exit. The submodules load lazily, so ``python -m praas_kit.services.swift_s3`` runs
without a second import of itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from praas_kit.services.redis_server import RedisServer
    from praas_kit.services.swift_s3 import SwiftS3Server, make_s3_client

__all__ = ["RedisServer", "SwiftS3Server", "make_s3_client"]

_LAZY = {
    "RedisServer": "praas_kit.services.redis_server",
    "SwiftS3Server": "praas_kit.services.swift_s3",
    "make_s3_client": "praas_kit.services.swift_s3",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'praas_kit.services' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
