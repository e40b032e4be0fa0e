"""Docker Swarm, as the ``swarm`` backend, the Swarm deployment and the tests use it.

* :func:`node_state` / :func:`is_manager`: whether the engine is a Swarm manager.
* :func:`swarm_lease`: a context manager that makes sure a Swarm is active while it is held. If none
  is, it initialises a single-node Swarm (``advertise`` ``127.0.0.1`` by default) and marks the node
  as made by praas-kit; every holder adds a lease label to the node, and the holder that removes the
  last lease of a praas-kit-made Swarm leaves it again and removes the ``docker_gwbridge`` network
  that ``docker swarm leave`` leaves behind. A Swarm that existed before is never left. Concurrent
  holders (two test sessions on one engine) therefore share one Swarm safely.
* :func:`node_address`: the address at which clients and containers reach a node's host-mode
  published ports: the node's Swarm address, or, on a single-node Swarm advertised on loopback, this
  engine's ``docker_gwbridge`` gateway (a host address that both the host and the containers reach).

Every engine failure becomes :class:`~praas_kit.errors.BackendError`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from praas_kit.engines import docker as docker_engine
from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.swarm")

GWBRIDGE = "docker_gwbridge"
CREATED_LABEL = "praas-kit.swarm-created"  #: node label: praas-kit initialised this Swarm
LEASE_PREFIX = "praas-kit.swarm-lease."  #: node labels: one per holder of :func:`swarm_lease`
#: what Docker itself gives ``docker_gwbridge`` when it creates it
GWBRIDGE_OPTIONS = {"com.docker.network.bridge.name": GWBRIDGE, "com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.enable_ip_masquerade": "true"}


def node_state(client: Any) -> dict[str, Any]:
    """The engine's ``Swarm`` section of ``docker info`` (``LocalNodeState``, ``NodeID``, ``NodeAddr``...)."""
    try:
        return dict(client.info().get("Swarm") or {})
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot ask the Docker engine about Swarm: {exc}") from None


def free_capacity(client: Any) -> tuple[float, float]:
    """``(vCPUs, MiB)`` not reserved on the ready, active nodes: their resources minus the reservations of the
    tasks meant to run there."""
    try:
        nodes = [n for n in client.api.nodes() if n.get("Status", {}).get("State") == "ready"
                 and n.get("Spec", {}).get("Availability") == "active"]
        tasks = client.api.tasks(filters={"desired-state": "running"})
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot ask Swarm for its nodes and tasks: {exc}") from None
    ids = {n["ID"] for n in nodes}
    cpus = sum(n["Description"]["Resources"].get("NanoCPUs", 0) for n in nodes)
    memory = sum(n["Description"]["Resources"].get("MemoryBytes", 0) for n in nodes)
    for t in tasks:
        if t.get("NodeID") in ids:
            res = t.get("Spec", {}).get("Resources", {}).get("Reservations", {})
            cpus -= res.get("NanoCPUs", 0)
            memory -= res.get("MemoryBytes", 0)
    return max(0, cpus) / 1e9, max(0, memory) / (1 << 20)


def is_manager(client: Any) -> bool:
    """Whether the engine is an active Swarm manager."""
    st = node_state(client)
    return st.get("LocalNodeState") == "active" and bool(st.get("ControlAvailable"))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback or address == "0.0.0.0"
    except ValueError:
        return address in ("localhost", "")


def gwbridge_gateway(client: Any) -> str:
    """The host's address on ``docker_gwbridge`` (created like Docker creates it, if it does not exist yet:
    Docker makes it only when the first container joins an overlay network)."""
    docker = docker_engine.docker_sdk()
    for _ in range(3):
        try:
            return docker_engine.gateway(client.networks.get(GWBRIDGE))
        except docker.errors.NotFound:
            with contextlib.suppress(docker.errors.APIError):  # 409: created meanwhile
                client.networks.create(GWBRIDGE, driver="bridge", options=GWBRIDGE_OPTIONS)
        except docker_engine.engine_errors() as exc:
            raise BackendError(f"cannot inspect the {GWBRIDGE} network: {exc}") from None
    raise BackendError(f"cannot create the {GWBRIDGE} network")


def node_address(client: Any, node_id: str) -> str:
    """The address of node ``node_id`` for clients and containers (see the module docstring)."""
    try:
        addr = str(client.api.inspect_node(node_id).get("Status", {}).get("Addr") or "")
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot inspect Swarm node {node_id}: {exc}") from None
    if is_loopback(addr):
        if node_id != node_state(client).get("NodeID"):
            raise BackendError(f"Swarm node {node_id} advertises loopback address {addr!r}; join nodes with "
                               "an address the other nodes reach")
        return gwbridge_gateway(client)
    return addr


def published_endpoint(client: Any, service: str, target: int, node_addr: Callable[[str], str] | None = None,
                       timeout: float = 10.0) -> tuple[str, int]:
    """``(node address, published port)`` of the running task of ``service`` for container port ``target``
    published in host mode; waits up to ``timeout`` s for the task to run. ``node_addr`` maps a node id to
    its address (default :func:`node_address`)."""
    lookup = node_addr or (lambda node: node_address(client, node))
    deadline = time.monotonic() + timeout
    last = "no task"
    while True:
        try:
            tasks = client.api.tasks(filters={"service": service})
        except docker_engine.engine_errors() as exc:
            raise BackendError(f"cannot list the tasks of service {service}: {exc}") from None
        for task in sorted(tasks, key=lambda t: t.get("Version", {}).get("Index", 0), reverse=True):
            status = task.get("Status", {})
            ports = (status.get("PortStatus") or {}).get("Ports") or []
            published = [p["PublishedPort"] for p in ports if p.get("TargetPort") == target]
            if status.get("State") == "running" and published and task.get("NodeID"):
                return lookup(task["NodeID"]), int(published[0])
            last = f"task {status.get('State')}" + (f": {status['Err']}" if status.get("Err") else "")
            if status.get("State") in ("failed", "rejected", "complete", "shutdown", "orphaned"):
                raise BackendError(f"service {service} did not start ({last})")
            break
        if time.monotonic() > deadline:
            raise BackendError(f"service {service} has no running task with port {target} published "
                               f"after {timeout:.0f} s ({last})")
        time.sleep(0.05)


def _update_labels(client: Any, node_id: str, change: Any) -> dict[str, str]:
    """Apply ``change`` (a function of the label dict that edits it in place) to the node's labels, retrying
    on a concurrent update; the labels after the change."""
    docker = docker_engine.docker_sdk()
    for _ in range(20):
        node = client.api.inspect_node(node_id)
        spec = node["Spec"]
        labels = dict(spec.get("Labels") or {})
        change(labels)
        spec["Labels"] = labels
        try:
            client.api.update_node(node_id, node["Version"]["Index"], spec)
            return labels
        except docker.errors.APIError as exc:
            if "update out of sequence" not in str(exc) and exc.status_code not in (409, 500):
                raise
            time.sleep(0.05)
    raise BackendError(f"cannot update the labels of Swarm node {node_id}: concurrent updates")


def init_single_node(client: Any, advertise: str = "127.0.0.1") -> str:
    """Initialise a single-node Swarm on this engine; its node id."""
    try:
        client.swarm.init(advertise_addr=advertise, listen_addr=f"{advertise}:2377")
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot initialise a Docker Swarm: {exc}") from None
    node_id = str(node_state(client).get("NodeID"))
    log.info("initialised a single-node Docker Swarm (node %s, advertised on %s)", node_id, advertise)
    return node_id


def leave(client: Any) -> None:
    """Leave the Swarm (forced) and remove ``docker_gwbridge`` if no container uses it.

    The tasks' containers are given up to :data:`TASKS_GONE_TIMEOUT` seconds to go first (removing a service
    returns before its containers are removed): a container removed after the node left can leave an endpoint
    behind on ``docker_gwbridge`` that the engine never releases. If the network still cannot be removed and no
    container is attached to it, that is such an endpoint: the next Swarm reuses the network, and restarting the
    engine removes it; this is logged at INFO, a network with containers attached at WARNING."""
    docker = docker_engine.docker_sdk()
    deadline = time.monotonic() + TASKS_GONE_TIMEOUT
    while time.monotonic() < deadline and _task_containers(client):
        time.sleep(0.2)
    try:
        client.swarm.leave(force=True)
    except docker_engine.engine_errors() as exc:
        raise BackendError(f"cannot leave the Docker Swarm: {exc}") from None
    log.info("left the Docker Swarm")
    for _ in range(100):  # the engine detaches the tasks' containers and tears down networks asynchronously
        try:
            if docker_engine.remove_network(client.networks.get(GWBRIDGE)):
                return
        except docker.errors.NotFound:
            return
        except docker_engine.engine_errors():
            pass
        time.sleep(0.1)
    try:
        attached = list((client.api.inspect_network(GWBRIDGE).get("Containers") or {}).values())
    except docker_engine.engine_errors():
        attached = []
    if attached:
        log.warning("%s is still used by %s after leaving the Swarm; left behind", GWBRIDGE,
                    ", ".join(str(c.get("Name")) for c in attached))
    else:
        log.info("%s keeps an endpoint of no container after leaving the Swarm (the engine's); left for the "
                 "next Swarm to reuse (restarting the Docker engine removes it)", GWBRIDGE)


#: seconds :func:`leave` waits for the Swarm tasks' containers to be removed before it leaves
TASKS_GONE_TIMEOUT = 20.0


def _task_containers(client: Any) -> list[Any]:
    """The containers of Swarm tasks on this engine (none on error)."""
    try:
        return list(client.containers.list(all=True, filters={"label": "com.docker.swarm.task"}))
    except docker_engine.engine_errors():
        return []


@contextlib.contextmanager
def swarm_lease(client: Any, advertise: str = "127.0.0.1") -> Iterator[bool]:
    """Hold an active Swarm for the block (see the module docstring); yields whether this call created it."""
    created = False
    st = node_state(client)
    if st.get("LocalNodeState") != "active":
        node_id = init_single_node(client, advertise)
        created = True
    elif not st.get("ControlAvailable"):
        raise BackendError("this Docker engine is a Swarm worker; run praas-kit against a manager")
    else:
        node_id = str(st.get("NodeID"))
    lease = LEASE_PREFIX + uuid.uuid4().hex[:12]

    def add(labels: dict[str, str]) -> None:
        labels[lease] = "1"
        if created:
            labels[CREATED_LABEL] = "1"

    try:
        _update_labels(client, node_id, add)
    except BaseException:
        if created:
            leave(client)
        raise
    try:
        yield created
    finally:
        try:
            left = _update_labels(client, node_id, lambda labels: labels.pop(lease, None))
        except Exception as exc:  # noqa: BLE001 - the engine's or BackendError: reported, the block's error wins
            log.warning("cannot release the Swarm lease %s: %s", lease, exc)
        else:
            if left.get(CREATED_LABEL) and not any(k.startswith(LEASE_PREFIX) for k in left):
                leave(client)


__all__ = ["free_capacity", "node_state", "is_manager", "is_loopback", "gwbridge_gateway", "node_address",
           "published_endpoint", "init_single_node",
           "leave", "swarm_lease", "GWBRIDGE", "CREATED_LABEL", "LEASE_PREFIX"]
