"""Deploying praas-kit in Docker from a notebook or the CLI.

>>> with praas_kit.docker_deployment(swap="s3", redis=True) as cp:
...     app = cp.create_application("demo", code="examples/counter.py")
...     p = app.create_process("alice", vcpus=0.5, memory_mb=256)   # a container with those limits

The control plane runs in this Python process with the ``docker`` backend; the storage servers
(the Swift S3 server, Redis) run as containers of the images ``praas images build`` makes, on a
network of the deployment's own (``praas-deploy-<id>``) that the process containers join too.
Leaving the block stops the processes and removes the storage containers and the network: everything
the deployment created, and nothing else.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.server import ControlPlane
from praas_kit.deploy.local import EmbeddedClient
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.engines.images import LABEL
from praas_kit.errors import BackendError, InvalidArgument
from praas_kit.storage.s3_endpoint import TEST_ACCESS_KEY, TEST_SECRET_KEY, S3Endpoint

log = logging.getLogger("praas_kit.deploy")

S3_BUCKET = "praas-swaps"


@dataclass
class StorageEndpoints:
    """Where the deployment's storage containers listen (reachable from the host and from processes)."""

    s3: S3Endpoint | None = None  #: the S3 server (the ``praas-s3`` image's test account)
    redis_host: str | None = None
    redis_port: int = 6379

    @property
    def s3_endpoint(self) -> str | None:
        """The S3 server's URL (``None``: the deployment started none)."""
        return self.s3.url if self.s3 else None

    @property
    def redis_url(self) -> str | None:
        return f"redis://{self.redis_host}:{self.redis_port}/0" if self.redis_host else None

    def swap_store(self, s3_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The spec of an S3 swap store on this server (``s3_options`` tune the S3 client)."""
        if self.s3 is None:
            raise InvalidArgument("this deployment started no S3 server")
        return self.s3.store_spec(S3_BUCKET, **(s3_options or {}))

    def wait(self) -> None:
        """Wait until the servers started answer."""
        if self.s3 is not None:
            wait_s3(self, 60)
        if self.redis_host:
            wait_tcp(self.redis_host, self.redis_port, 30, "Redis")


class DockerDeployment(EmbeddedClient):
    """A connected SDK client that owns a docker-backend control plane, its storage containers and its
    network."""

    def __init__(self, plane: ControlPlane, tmp: Path | None, resources: _Resources, storage: StorageEndpoints):
        super().__init__(plane, tmp)
        self._resources = resources
        self.storage = storage

    @property
    def network(self) -> str:
        """The deployment's Docker network."""
        return self._resources.network_name

    @property
    def containers(self) -> list[Any]:
        """The storage containers the deployment started (Docker SDK objects; e.g. to pause S3 in a test)."""
        return list(self._resources.containers)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._resources.release()


class _Resources:
    """The containers and network a deployment created, released in reverse order."""

    def __init__(self, client: Any, network_name: str) -> None:
        self.client, self.network_name = client, network_name
        self.network: Any = None
        self.created_network = False
        self.containers: list[Any] = []

    def release(self) -> None:
        for c in reversed(self.containers):
            try:
                c.remove(force=True)
            except Exception as exc:  # noqa: BLE001 - best effort: report, go on with the rest
                log.warning("could not remove container %s: %s", getattr(c, "name", c), exc)
        self.containers.clear()
        if self.created_network and self.network is not None:
            docker_engine.remove_network(self.network)
            self.created_network = False


def _start_storage(res: _Resources, image: str, name: str, tag: str) -> str:
    """Start a storage container on the deployment's network; its IP there."""
    if not docker_engine.image_exists(res.client, image):
        raise BackendError(f"image {image} is missing: {image_names.BUILD_HINT}")
    c = res.client.containers.run(image, name=name, detach=True, network=res.network_name,
                                  labels={LABEL: "1", f"{LABEL}.deployment": tag})
    res.containers.append(c)
    ip = docker_engine.container_ip(c, res.network_name)
    if ip is None:
        raise BackendError(f"container {name} has no address on network {res.network_name}")
    return ip


def wait_tcp(host: str, port: int, timeout: float, what: str) -> None:
    """Wait until ``host:port`` accepts TCP connections (:class:`BackendError` naming ``what`` after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BackendError(f"{what} at {host}:{port} did not come up within {timeout} s")


def wait_s3(storage: StorageEndpoints, timeout: float) -> None:
    """Wait until the deployment's S3 server answers (:class:`BackendError` after ``timeout`` s)."""
    from praas_kit.storage.s3 import S3Store

    assert storage.s3 is not None
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            S3Store.from_spec(storage.s3.store_spec(S3_BUCKET)).snapshots("probe", "probe")
            return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
            time.sleep(0.3)
    raise BackendError(f"the S3 server at {storage.s3_endpoint} did not answer within {timeout} s: {last}")


def docker_deployment(swap: str = "s3", redis: bool = False, home: str | Path | None = None,
                      network: str | None = None, image: str | None = None,
                      s3_options: dict[str, Any] | None = None, **options: Any) -> DockerDeployment:
    """Start a docker-backend control plane plus storage containers; use as a context manager.

    ``swap`` is ``"s3"`` (a Swift S3 container) or ``"dir"`` (a host directory bind-mounted into the
    process containers). ``redis=True`` also starts a Redis container (for FaaS baselines).
    ``network`` names the Docker network (default: a new ``praas-deploy-<id>``, removed on exit; an
    existing network is used and kept). ``image`` is the default process image. ``s3_options`` tune the
    S3 client (``read_timeout``, ``max_attempts``, ``multipart_chunksize``...). ``options`` are
    :class:`~praas_kit.control.config.ControlPlaneConfig` fields (an unknown name raises ``InvalidArgument``).
    """
    if swap not in ("s3", "dir"):
        raise InvalidArgument(f"swap must be 's3' or 'dir', not {swap!r}")
    cfg = ControlPlaneConfig(port=0, backend="docker").with_options(**options)  # refuse bad options first
    tag = uuid.uuid4().hex[:8]
    res = _Resources(docker_engine.connect(), network or f"praas-deploy-{tag}")
    cfg.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="praas-docker-"))
    tmp = cfg.home if home is None else None
    storage = StorageEndpoints()
    try:
        res.network, res.created_network = docker_engine.ensure_network(
            res.client, res.network_name, {LABEL: "1", f"{LABEL}.deployment": tag})
        if swap == "s3":
            host = _start_storage(res, image_names.S3, f"praas-s3-{tag}", tag)
            storage.s3 = S3Endpoint(f"http://{host}:9000", TEST_ACCESS_KEY, TEST_SECRET_KEY)
        if redis:
            storage.redis_host = _start_storage(res, image_names.REDIS, f"praas-redis-{tag}", tag)
        storage.wait()
        cfg.backend_options = {"network": res.network_name, **({"image": image} if image else {}),
                               **cfg.backend_options}
        if swap == "s3":
            cfg.swap_store = storage.swap_store(s3_options)
        plane = ControlPlane(cfg).start()
    except BaseException:
        res.release()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DockerDeployment(plane, tmp, res, storage)


__all__ = ["docker_deployment", "DockerDeployment", "StorageEndpoints", "S3_BUCKET", "wait_tcp", "wait_s3"]
