"""Real storage servers for tests, benchmarks, notebooks and the Docker images.

* :class:`RedisServer` (:mod:`praas_kit.tools.services.redis_server`): a throw-away ``redis-server``.
* :class:`SwiftS3Server` (:mod:`praas_kit.tools.services.swift_s3`): OpenStack Swift with ``s3api``, an
  S3-compatible server that boto3 talks to.

Both are context managers that start child processes in a temporary directory and remove every
trace on exit. The submodules load lazily, so ``python -m praas_kit.tools.services.swift_s3`` runs
without a second import of itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from praas_kit._lazy import lazy_exports

if TYPE_CHECKING:
    from praas_kit.tools.services.redis_server import RedisServer
    from praas_kit.tools.services.swift_s3 import SwiftS3Server

__all__ = ["RedisServer", "SwiftS3Server"]

__getattr__ = lazy_exports(__name__, {
    "RedisServer": "praas_kit.tools.services.redis_server",
    "SwiftS3Server": "praas_kit.tools.services.swift_s3",
})
