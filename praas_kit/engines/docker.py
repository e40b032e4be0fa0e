"""The Docker engine, as the docker backend, the Docker deployment and the image builder use it.

One place connects (and says how to start an engine that does not answer), lists what the SDK may
raise, creates and removes labelled networks, and finds out whether this Python process itself runs
in a container of the engine. Every failure becomes :class:`~praas_kit.errors.BackendError`.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.docker")

INSTALL_HINT = "the Docker SDK is not installed: run `bash scripts/venv.sh docker` (pip install 'praas-kit[docker]')"
START_HINT = "start it with `bash scripts/dockerd.sh start` (as root) or set DOCKER_HOST"
NUM_POOLS = 4096  #: connection pools a client keeps (one per request URL; see :func:`_widen_pools`)
MAX_POOL_SIZE = 32  #: connections kept per pool


def docker_sdk() -> Any:
    """The ``docker`` module; :class:`BackendError` saying how to install it if it is missing."""
    try:
        import docker
    except ImportError:
        raise BackendError(INSTALL_HINT) from None
    return docker


def engine_errors() -> tuple[type[BaseException], ...]:
    """What a Docker SDK call may raise: its own errors, and requests' for a broken connection."""
    docker = docker_sdk()
    import requests

    return docker.errors.DockerException, requests.exceptions.RequestException


def connect(base_url: str | None = None, timeout: float = 60.0) -> Any:
    """A Docker client that answered a ping; :class:`BackendError` saying how to start the engine."""
    docker = docker_sdk()
    try:
        client = docker.DockerClient(base_url=base_url, timeout=int(timeout), max_pool_size=MAX_POOL_SIZE) \
            if base_url else docker.from_env(timeout=int(timeout), max_pool_size=MAX_POOL_SIZE)
        _widen_pools(client)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable engine"
        where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise BackendError(f"the Docker engine at {where} does not answer ({exc}); {START_HINT}") from None
    return client


def _widen_pools(client: Any) -> None:
    """Give the Unix-socket adapter a large pool LRU. The SDK keeps one connection pool per request URL in an LRU
    of 25 and closes the pool it evicts, also while another thread still reads from it: with dozens of
    concurrent calls (containers or services started at once) requests in flight fail. (Its ``num_pools``
    argument is ignored for non-SSH engines, docker 7.2 ``APIClient.__init__``.)"""
    import urllib3

    adapter = getattr(client.api, "_custom_adapter", None)
    if adapter is not None and hasattr(adapter, "pools"):
        adapter.pools = urllib3._collections.RecentlyUsedContainer(NUM_POOLS, dispose_func=lambda p: p.close())


def ensure_network(client: Any, name: str, labels: dict[str, str], driver: str = "bridge",
                   attachable: bool = False) -> tuple[Any, bool]:
    """The network ``name`` (created with ``labels`` if missing); ``(network, created_now)``.

    An existing network of another driver is refused with :class:`BackendError`.
    """
    docker = docker_sdk()
    errors = engine_errors()
    for _ in range(3):
        try:
            found = [n for n in client.networks.list(names=[name]) if n.name == name]
            if found:
                net = client.networks.get(found[0].id)
                if net.attrs.get("Driver") != driver:
                    raise BackendError(f"Docker network {name!r} exists but is not a {driver} network "
                                       f"(driver {net.attrs.get('Driver')!r})")
                return net, False
            kwargs: dict[str, Any] = {"driver": driver, "labels": labels}
            if attachable:
                kwargs["attachable"] = True
            net = client.networks.create(name, **kwargs)
            log.info("created Docker network %s", name)
            return client.networks.get(net.id), True
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # created by someone else meanwhile
                continue
            raise BackendError(f"cannot create Docker network {name!r}: {exc}") from None
        except errors as exc:
            raise BackendError(f"Docker engine error while preparing network {name!r}: {exc}") from None
    raise BackendError(f"cannot create Docker network {name!r}: it keeps appearing and vanishing")


def remove_network(network: Any) -> bool:
    """Remove ``network`` if no container is attached to it; whether it was removed."""
    docker = docker_sdk()
    try:
        network.reload()
        if network.attrs.get("Containers"):
            log.info("Docker network %s kept: containers still use it", network.name)
            return False
        network.remove()
        log.info("removed Docker network %s", network.name)
        return True
    except docker.errors.NotFound:
        return True
    except engine_errors() as exc:
        log.info("Docker network %s kept: %s", network.name, exc)
        return False


def gateway(network: Any) -> str:
    """The IPv4 gateway of a bridge network (the host's address on it)."""
    for cfg in network.attrs.get("IPAM", {}).get("Config") or []:
        gw = cfg.get("Gateway")
        if gw and ":" not in gw:
            return str(gw)
    raise BackendError(f"Docker network {network.name!r} has no IPv4 gateway")


def own_container(client: Any) -> Any | None:
    """The container of this engine that this Python process runs in, or ``None`` (on the host, or in a
    container of some other engine)."""
    if not (Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()):
        return None
    hostname = socket.gethostname()
    try:
        me = client.containers.get(hostname)
    except engine_errors():
        return None
    if me.attrs.get("Config", {}).get("Hostname") != hostname or me.status != "running":
        return None  # a container that merely has our host name as its name or id prefix
    return me


def container_ip(container: Any, network: str) -> str | None:
    """The IP of ``container`` on ``network`` (after a reload), or ``None``."""
    container.reload()
    nets = container.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    return (nets.get(network) or {}).get("IPAddress") or None


def inspect(call: Callable[[], Any], what: str) -> Any:
    """The result of the engine inspect ``call``, its failures as :class:`BackendError`: ``"<what> does not
    exist"`` or ``"cannot inspect <what>: ..."``."""
    docker = docker_sdk()
    try:
        return call()
    except docker.errors.NotFound:
        raise BackendError(f"{what} does not exist") from None
    except engine_errors() as exc:
        raise BackendError(f"cannot inspect {what}: {exc}") from None


def image_exists(client: Any, ref: str) -> bool:
    """Whether the engine has the image ``ref``."""
    docker = docker_sdk()
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False
    except engine_errors() as exc:
        raise BackendError(f"cannot inspect Docker image {ref!r}: {exc}") from None


__all__ = ["docker_sdk", "engine_errors", "connect", "ensure_network", "remove_network", "gateway",
           "own_container", "container_ip", "inspect", "image_exists", "INSTALL_HINT", "START_HINT"]
