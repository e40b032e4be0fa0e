"""Deploying praas-kit in Docker from a notebook or the CLI.

>>> with praas_kit.docker_deployment(swap="s3", redis=True) as cp:
...     app = cp.create_application("demo", code="examples/counter.py")
...     p = app.create_process("alice", vcpus=0.5, memory_mb=256)   # a container with those limits

The control plane runs in this Python process with the ``docker`` backend; the storage servers
(the Swift S3 server, Redis) run as containers of the images ``praas images build`` makes, on
the same user-defined bridge network as the processes. Leaving the block stops the processes,
removes the storage containers and everything else the deployment created.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.server import ControlPlane
from praas_kit.errors import BackendError
from praas_kit.sdk.embedded import EmbeddedClient

log = logging.getLogger("praas_kit.deploy")

S3_IMAGE, REDIS_IMAGE = "praas-s3:latest", "praas-redis:latest"
S3_BUCKET = "praas-swaps"


@dataclass
class StorageEndpoints:
    """Where the deployment's storage containers listen (reachable from the host and from processes)."""

    s3_endpoint: str | None = None
    s3_access_key: str = "test:tester"
    s3_secret_key: str = "testing"
    redis_host: str | None = None
    redis_port: int = 6379


class DockerDeployment(EmbeddedClient):
    """A connected SDK client that owns a docker-backend control plane and its storage containers."""

    def __init__(self, plane: ControlPlane, tmp: Path | None, containers: list[Any], storage: StorageEndpoints):
        super().__init__(plane, tmp)
        self._containers = containers
        self.storage = storage

    def close(self) -> None:
        try:
            super().close()
        finally:
            for c in self._containers:
                try:
                    c.remove(force=True)
                except Exception as exc:  # noqa: BLE001 - best effort: report, go on with the rest
                    log.warning("could not remove container %s: %s", getattr(c, "name", c), exc)


def _docker_client() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable engine"
        raise BackendError(f"cannot reach the Docker engine: {exc}; start it (scripts/dockerd.sh start)") from None


def _ensure_network(client: Any, name: str) -> Any:
    import docker

    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        return client.networks.create(name, driver="bridge", labels={"praas-kit": "1"})


def _start_storage(client: Any, image: str, name: str, network: str, port: int, tag: str) -> tuple[Any, str]:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise BackendError(f"image {image} is missing: build it with `praas images build`") from None
    c = client.containers.run(image, name=name, detach=True, network=network,
                              labels={"praas-kit": "1", "praas-kit.deployment": tag})
    c.reload()
    ip = c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return c, ip


def _wait_tcp(host: str, port: int, timeout: float, what: str) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BackendError(f"{what} at {host}:{port} did not come up within {timeout} s")


def _wait_s3(endpoint: str, timeout: float) -> None:
    from praas_kit.storage.s3 import S3Store

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            S3Store(endpoint, S3_BUCKET, "test:tester", "testing").snapshots("probe", "probe")
            return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
            time.sleep(0.3)
    raise BackendError(f"the S3 server at {endpoint} did not answer within {timeout} s: {last}")


def docker_deployment(swap: str = "s3", redis: bool = False, home: str | Path | None = None,
                      network: str = "praas-net", image: str | None = None, s3_options: dict[str, Any] | None = None,
                      **options: Any) -> DockerDeployment:
    """Start a docker-backend control plane plus storage containers; use as a context manager.

    ``swap`` is ``"s3"`` (a Swift S3 container) or ``"dir"`` (a host directory bind-mounted into the
    process containers). ``redis=True`` also starts a Redis container (for FaaS baselines).
    ``s3_options`` tune the S3 client (``read_timeout``, ``max_attempts``, ``multipart_chunksize``...).
    ``options`` are :class:`~praas_kit.control.config.ControlPlaneConfig` fields.
    """
    if swap not in ("s3", "dir"):
        raise BackendError(f"swap must be 's3' or 'dir', not {swap!r}")
    client = _docker_client()
    tag = uuid.uuid4().hex[:8]
    tmp = None if home is not None else Path(tempfile.mkdtemp(prefix="praas-docker-"))
    root = Path(home) if home is not None else tmp
    assert root is not None
    containers: list[Any] = []
    storage = StorageEndpoints()
    try:
        _ensure_network(client, network)
        if swap == "s3":
            c, ip = _start_storage(client, S3_IMAGE, f"praas-s3-{tag}", network, 9000, tag)
            containers.append(c)
            storage.s3_endpoint = f"http://{ip}:9000"
        if redis:
            c, ip = _start_storage(client, REDIS_IMAGE, f"praas-redis-{tag}", network, 6379, tag)
            containers.append(c)
            storage.redis_host = ip
        if storage.s3_endpoint:
            _wait_s3(storage.s3_endpoint, 60)
        if storage.redis_host:
            _wait_tcp(storage.redis_host, 6379, 30, "Redis")
        cfg = ControlPlaneConfig(home=root, port=0, backend="docker")
        cfg.backend_options = {"network": network, **({"image": image} if image else {})}
        if swap == "s3":
            cfg.swap_store = {"kind": "s3", "endpoint": storage.s3_endpoint, "bucket": S3_BUCKET,
                              "access_key": storage.s3_access_key, "secret_key": storage.s3_secret_key,
                              "region": "us-east-1", "prefix": "", **(s3_options or {})}
        else:
            cfg.backend_options["swap_root"] = str(root / "swaps")
        for k, v in options.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown control-plane option {k!r}")
            setattr(cfg, k, v)
        plane = ControlPlane(cfg).start()
    except BaseException:
        for c in containers:
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001
                pass
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DockerDeployment(plane, tmp, containers, storage)
