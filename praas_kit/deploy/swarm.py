"""Deploying praas-kit on Docker Swarm from a notebook or the CLI.

>>> with praas_kit.swarm_deployment(redis=True) as cp:
...     app = cp.create_application("demo", code="examples/counter.py")
...     p = app.create_process("alice", vcpus=0.5, memory_mb=256)   # a Swarm service with those limits

The control plane runs in this Python process with the ``swarm`` backend (one service per cloud
process); the storage servers (the Swift S3 server, Redis) run as Swarm services of the images
``praas images build`` makes, on an attachable overlay network of the deployment's own
(``praas-swarm-<id>``) that the process services join too. Each storage service publishes its port in
host mode; the control plane, the processes and the host reach it at its node's address (see
:mod:`praas_kit.backends.swarm`). Swaps go to that S3 server, so a process swapped out on one node can
be swapped in on another.

If the engine is not in a Swarm, the deployment initialises a single-node Swarm and leaves it again
when it closes (removing ``docker_gwbridge``); a Swarm that existed before is kept
(:func:`praas_kit.engines.swarm.swarm_lease`). Leaving the block removes the process services, the
storage services and the network: everything the deployment created, and nothing else. For a
standing cluster, deploy ``docker/stack.yaml`` with ``docker stack deploy`` instead.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.server import ControlPlane
from praas_kit.deploy.docker import StorageEndpoints
from praas_kit.deploy.local import EmbeddedClient
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.engines import swarm as swarm_engine
from praas_kit.engines.images import LABEL
from praas_kit.errors import BackendError, InvalidArgument
from praas_kit.storage.s3_endpoint import TEST_ACCESS_KEY, TEST_SECRET_KEY, S3Endpoint

log = logging.getLogger("praas_kit.deploy")


class SwarmDeployment(EmbeddedClient):
    """A connected SDK client that owns a swarm-backend control plane, its storage services, its network,
    and (if it made it) the Swarm."""

    def __init__(self, plane: ControlPlane, resources: contextlib.ExitStack, network: str,
                 storage: StorageEndpoints, services: list[str]) -> None:
        super().__init__(plane)
        self._resources = resources
        self.storage, self.network, self.services = storage, network, services

    @property
    def owner(self) -> str:
        """The owner label (``praas-kit.owner``) its backend puts on its processes' services."""
        return str(self.plane.controller.backend.owner)  # type: ignore[attr-defined]  # the swarm backend's

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._resources.close()


def start_service(client: Any, name: str, image: str, network: str, port: int, labels: dict[str, str],
                  timeout: float = 60.0) -> tuple[str, str, int]:
    """Create a one-replica service of ``image`` on ``network`` that publishes ``port`` in host mode; its
    id, node address and published port once it runs."""
    types = docker_engine.docker_sdk().types
    if not docker_engine.image_exists(client, image):
        raise BackendError(f"image {image} is missing: {image_names.BUILD_HINT}")
    try:
        sid = client.api.create_service(
            types.TaskTemplate(types.ContainerSpec(image, labels=labels),
                               restart_policy=types.RestartPolicy(condition="none"), networks=[network]),
            name=name, labels=labels,
            endpoint_spec=types.EndpointSpec(mode="dnsrr", ports=[
                {"TargetPort": port, "Protocol": "tcp", "PublishMode": "host"}]))["ID"]
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot create Swarm service {name}: {exc}") from None
    host, published = swarm_engine.published_endpoint(client, sid, port, timeout=timeout)
    return sid, host, published


def remove_services(client: Any, services: list[str]) -> None:
    """Remove services (best effort) and wait until their tasks are gone."""
    for sid in services:
        with contextlib.suppress(*docker_engine.engine_errors()):
            client.api.remove_service(sid)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if not [t for t in client.api.tasks() if t.get("ServiceID") in services]:
                return
        except docker_engine.engine_errors():
            return
        time.sleep(0.1)


def remove_overlay(network: Any) -> None:
    """Remove an overlay network once the tasks' endpoints left it (they leave asynchronously)."""
    for _ in range(75):
        if docker_engine.remove_network(network):
            return
        time.sleep(0.2)
    log.warning("Docker network %s is still in use; left behind", network.name)


def swarm_deployment(swap: str = "s3", redis: bool = False, home: str | Path | None = None,
                     network: str | None = None, image: str | None = None, s3_options: dict[str, Any] | None = None,
                     advertise: str = "127.0.0.1", **options: Any) -> SwarmDeployment:
    """Start a swarm-backend control plane plus storage services; use as a context manager.

    ``swap`` is ``"s3"`` (a Swift S3 service; swapped processes can come back on any node) or ``"dir"`` (a
    host directory bind-mounted into the tasks: only where every node shares that path, e.g. one node).
    ``redis=True`` also starts a Redis service. ``network`` names the overlay network (default: a new
    ``praas-swarm-<id>``, removed on exit; an existing one is used and kept). ``image`` is the default
    process image. ``advertise`` is the address a Swarm initialised here is advertised on. ``s3_options``
    tune the S3 client; ``options`` are :class:`~praas_kit.control.config.ControlPlaneConfig` fields
    (``backend_options`` are passed to :class:`~praas_kit.backends.swarm.SwarmBackend`).
    """
    if swap not in ("s3", "dir"):
        raise InvalidArgument(f"swap must be 's3' or 'dir', not {swap!r}")
    cfg = ControlPlaneConfig(port=0, backend="swarm").with_options(**options)  # refuse bad options first
    tag = uuid.uuid4().hex[:8]
    labels = {LABEL: "1", f"{LABEL}.deployment": tag}
    client = docker_engine.connect()
    storage = StorageEndpoints()
    services: list[str] = []
    resources = contextlib.ExitStack()
    resources.callback(client.close)
    try:
        resources.enter_context(swarm_engine.swarm_lease(client, advertise))
        network_name = network or f"praas-swarm-{tag}"
        net, created = docker_engine.ensure_network(client, network_name, labels, driver="overlay", attachable=True)
        if created:
            resources.callback(remove_overlay, net)
        resources.callback(remove_services, client, services)
        if swap == "s3":
            sid, host, port = start_service(client, f"praas-s3-{tag}", image_names.S3, network_name, 9000, labels)
            services.append(sid)
            storage.s3 = S3Endpoint(f"http://{host}:{port}", TEST_ACCESS_KEY, TEST_SECRET_KEY)
        if redis:
            sid, storage.redis_host, storage.redis_port = start_service(
                client, f"praas-redis-{tag}", image_names.REDIS, network_name, 6379, labels)
            services.append(sid)
        storage.wait()
        cfg.backend_options = {"network": network_name, **({"image": image} if image else {}), **cfg.backend_options}
        if swap == "s3":
            cfg.swap_store = storage.swap_store(s3_options)
        cfg.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="praas-swarm-"))
        if home is None:
            resources.callback(shutil.rmtree, cfg.home, ignore_errors=True)
        plane = ControlPlane(cfg).start()
    except BaseException:
        resources.close()
        raise
    return SwarmDeployment(plane, resources, network_name, storage, services)


__all__ = ["swarm_deployment", "SwarmDeployment", "start_service", "remove_services", "remove_overlay"]
