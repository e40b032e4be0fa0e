"""The ``swarm`` backend: one Docker Swarm service per cloud process, for deployments across machines.

Each process is a one-replica service named ``praas-<app>-<proc>-<incarnation>`` (shortened to a DNS
label) on an attachable overlay network, placed by Swarm, with

* restart policy ``none``: a task that dies is never restarted with empty state; its exit is reported
  through ``on_exit`` (the control plane marks the process FAILED; swap-in restores its last snapshot,
  on whichever node Swarm picks);
* ``vcpus`` and ``memory_mb`` as resource **limits and reservations** (``reserve``, 0.25 by default, scales
  the reservations: a quarter of the limits overcommits a small cluster such as a laptop's single node, 1.0
  guarantees each process its limits); a process no node has room for is refused at once, naming its
  reservation and the free capacity;
* code as Swarm *configs*: one per file of the module or package, mounted read-only under ``/code``,
  so it reaches every node through the managers (no shared disk needed; 500 KB per file);
* secrets (the hello secret, the CurveZMQ keys, the swap store's spec) as a Swarm *secret* readable by
  root only. The task starts :mod:`praas_kit.backends.swarm_launch` as root with no capabilities but
  ``SETUID``/``SETGID``; it copies the secret into the runtime's private file, sets ``no_new_privs`` and
  drops to ``run_as`` before the runtime starts, so the secret is never in the environment and code run
  by the process cannot read it;
* labels like the ``docker`` backend's (``<label_prefix>.owner`` names this backend instance, so
  :meth:`SwarmBackend.close` removes exactly its services, secrets and configs).

Networking (why clients on the host reach processes). The SDK and the embedded control plane run
outside the overlay network, and a client invokes a process *directly* over its data plane, so every
process must be reachable from outside the cluster's overlay. Each service publishes the runtime's
port 8000 in **host mode** (no routing mesh: this kernel has no IPVS, and a mesh would spread one
process over nodes anyway) on a port Docker picks on the node that runs the task. The address a
process is known by, to clients and to its peers alike, is ``tcp://<node address>:<published port>``
(:meth:`SwarmBackend.public_address`, from the task's node and port status). The node address is
the node's Swarm address; on a single-node Swarm advertised on loopback it is the host's address on
``docker_gwbridge``, which both the host and the containers reach. On a many-node Swarm this is what
one wants: node addresses are routable between nodes and from clients, and nothing depends on the
overlay being reachable from outside. Service endpoints use ``dnsrr`` (no virtual IP).

The control plane's process endpoint binds this node's address (or ``0.0.0.0`` in a container), and
processes connect to it there; when the control plane runs in a container (``docker stack deploy``
of ``docker/stack.yaml``) it joins the overlay network and processes reach it by its IP there. A
swap store must be reachable from every node: S3 (a loopback endpoint is rewritten to the node
address, like the ``docker`` backend rewrites it to its gateway). A directory store works only where
every node mounts the directory at the same path (it is bind-mounted), e.g. a single-node Swarm.

Exits are followed by polling the managers' task list (:class:`TaskWatcher`), which sees tasks on
every node. :meth:`SwarmBackend.kill` SIGKILLs the task's container when it runs on this engine's
node, and otherwise removes the service. Options from the environment follow the generic
``PRAAS_SWARM_<OPTION>`` rule (``PRAAS_SWARM_NETWORK``, ``PRAAS_SWARM_IMAGE``...).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from praas_kit.backends import containers, docker_code
from praas_kit.backends.base import Backend, ExitCallback, Handle, ProcessSpec
from praas_kit.backends.docker_events import ExitReports, Tracked
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.engines import swarm as swarm_engine
from praas_kit.engines.images import DATA_PORT, RUN_AS, RUNTIME_PYTHON
from praas_kit.errors import BackendError
from praas_kit.process.config import encode_secrets

log = logging.getLogger("praas_kit.backends.swarm")

DEFAULT_NETWORK = "praas-swarm"
SECRET_TARGET = "/run/secrets/praas-secrets"
MAX_CONFIG_BYTES = 500 * 1024  #: Swarm's limit for one config
MIN_MEMORY = 4 << 20  #: Swarm's smallest memory reservation
DEFAULT_RESERVE = 0.25  #: reservations a quarter of the limits: 8 default processes (1 vCPU) on 2 vCPUs
PLACEMENT_WAIT = 5.0  #: seconds a start waits for Swarm to place the task before it leaves that to the hello
LIVE_STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running")


def task_exit_code(task: dict[str, Any]) -> int:
    """The exit code of a finished task (``-1`` when its container never ran)."""
    code = (task.get("Status", {}).get("ContainerStatus") or {}).get("ExitCode")
    return int(code) if isinstance(code, int) and task["Status"].get("State") != "rejected" else -1


class TaskWatcher(ExitReports):
    """Reports the exits of tracked services (by service id) from the managers' task list, polled every
    ``interval`` seconds: a task in a final state, or a service that is gone."""

    def __init__(self, client: Any, interval: float = 0.25) -> None:
        super().__init__()
        self.client, self.interval = client, interval
        self._errors = docker_engine.engine_errors()
        self._thread = threading.Thread(target=self._watch, name="praas-swarm-tasks", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.interval)
            if self._closed:
                return
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - a failed round is retried in the next one
                log.warning("polling Swarm tasks: %s", exc)

    def poll(self) -> None:
        """One round: report every tracked service whose task finished or that no longer exists."""
        wanted = set(self.pending())
        if not wanted:
            return
        tasks: dict[str, list[dict[str, Any]]] = {}
        for t in self.client.api.tasks():
            if t.get("ServiceID") in wanted:
                tasks.setdefault(t["ServiceID"], []).append(t)
        for sid in wanted:
            mine = tasks.get(sid, [])
            if not mine:
                if not self._exists(sid):
                    self.fire(sid, -1)
                continue
            latest = max(mine, key=lambda t: t.get("Version", {}).get("Index", 0))
            if latest.get("Status", {}).get("State") not in LIVE_STATES:
                self.fire(sid, task_exit_code(latest))

    def _exists(self, sid: str) -> bool:
        try:
            self.client.api.inspect_service(sid)
            return True
        except docker_engine.docker_sdk().errors.NotFound:
            return False


class SwarmBackend(containers.ControlAddress, Backend):
    """Runs each process as a one-replica service of the Docker Swarm this engine manages.

    Args:
        network: attachable overlay network of the processes; created (labelled) if missing.
        image: image for applications that name none; it must exist on every node (no registry is used).
        label_prefix: namespace of the labels put on services, secrets, configs and the network.
        run_as: ``uid:gid`` the runtime drops to in its container.
        control_host: address processes use to reach the control plane; ``None``: this node's address,
            or this container's IP on the network when the control plane runs in a container.
        control_bind: interface the control plane's process endpoint binds; ``None``: ``control_host``
            (``0.0.0.0`` in a container).
        reserve: fraction of ``vcpus``/``memory_mb`` reserved (default 0.25, so a laptop's single-node Swarm
            holds several default processes; 1.0: reservations equal the limits, capacity guaranteed).
        constraints: Swarm placement constraints for every process (e.g. ``["node.role==worker"]``).
        stop_grace: seconds between SIGTERM and SIGKILL when a service is removed.
        poll_interval: seconds between two looks at the task list.
        base_url: Docker engine address of a manager (``None``: ``DOCKER_HOST`` or the local socket).
        timeout: seconds for one Docker API call.

    Raises :class:`BackendError` if the engine is not a Swarm manager or the network cannot be made.
    """

    name = "swarm"

    def __init__(self, network: str | None = None, image: str | None = None, label_prefix: str = "praas-kit",
                 run_as: str = RUN_AS, control_host: str | None = None, control_bind: str | None = None,
                 reserve: float = DEFAULT_RESERVE, constraints: list[str] | None = None, stop_grace: float = 2.0,
                 poll_interval: float = 0.25, base_url: str | None = None, timeout: float = 60.0) -> None:
        if not 0 <= reserve <= 1:
            raise BackendError(f"reserve must be between 0 and 1, not {reserve!r}")
        self._docker = docker_engine.docker_sdk()
        self._errors = docker_engine.engine_errors()
        self.client = docker_engine.connect(base_url, timeout)
        if not swarm_engine.is_manager(self.client):
            raise BackendError("the Docker engine is not a Swarm manager: run `docker swarm init` (or use "
                               "praas_kit.swarm_deployment(), which initialises one)")
        self.network_name = network or DEFAULT_NETWORK
        self.image = image or image_names.PROCESS
        self.label_prefix, self.run_as, self.reserve = label_prefix, run_as, float(reserve)
        self.constraints = list(constraints or [])
        self.stop_grace, self.owner = float(stop_grace), uuid.uuid4().hex[:12]
        self.node_id = str(swarm_engine.node_state(self.client).get("NodeID"))
        self._images_ok: set[str] = set()
        self._configs: dict[str, str] = {}  # config name -> id
        self._nodes: dict[str, str] = {}  # node id -> address
        self._lock = threading.Lock()
        self._closed = False
        self.network, self._created_network = docker_engine.ensure_network(
            self.client, self.network_name, self._labels(), driver="overlay", attachable=True)
        me = docker_engine.own_container(self.client)
        self.in_container = me is not None
        own_ip = containers.own_ip_on_network(me, self.network) if me is not None else None
        node_addr = swarm_engine.node_address(self.client, self.node_id)
        self._control_host = control_host or own_ip or node_addr
        self._control_bind = control_bind or ("0.0.0.0" if own_ip else self._control_host)
        self._reach = None if self.in_container else node_addr
        self.exits = TaskWatcher(self.client, poll_interval)
        log.info("swarm backend %s: network %s, node %s at %s, control plane at %s, image %s", self.owner,
                 self.network_name, self.node_id[:12], node_addr, self._control_host, self.image)

    def _labels(self, **extra: str) -> dict[str, str]:
        p = self.label_prefix
        return {p: "1", f"{p}.owner": self.owner, **{f"{p}.{k}": v for k, v in extra.items()}}

    # ================================================================ start
    def service_name(self, spec: ProcessSpec) -> str:
        """``praas-<app>-<proc>-<incarnation>``, its front shortened so that it stays a 63-character label."""
        front = f"praas-{spec.app}-{spec.proc}"[:50].rstrip("-._")
        return f"{front}-{spec.incarnation}"

    def _code_configs(self, code: str) -> tuple[list[Any], str]:
        """Configs holding the application's files (created once per content), and the code path in the task."""
        src = Path(code).resolve()
        if not src.exists():
            raise BackendError(f"application code {code!r} does not exist")
        refs = []
        for rel, path in docker_code.code_files(src):
            data = path.read_bytes()
            if len(data) > MAX_CONFIG_BYTES:
                raise BackendError(f"{path} is {len(data) >> 10} KiB, over Swarm's 500 KiB per config: put large "
                                   "files into the application's image")
            digest = hashlib.sha256(rel.encode() + b"\0" + data).hexdigest()[:24]
            name = f"praas-code-{self.owner}-{digest}"
            with self._lock:
                cid = self._configs.get(name)
                if cid is None:
                    try:
                        cid = self.client.api.create_config(name, data, labels=self._labels(kind="code"))["ID"]
                    except self._errors as exc:
                        raise BackendError(f"cannot create the Swarm config for {rel}: {exc}") from None
                    self._configs[name] = cid
            refs.append(self._docker.types.ConfigReference(cid, name, filename=f"{docker_code.CODE_DIR}/{rel}",
                                                           uid="0", gid="0", mode=0o444))
        return refs, f"{docker_code.CODE_DIR}/{src.name}"

    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> Handle:
        if self._closed:
            raise BackendError("the swarm backend is closed")
        types = self._docker.types
        image = spec.image or self.image
        containers.check_image(self.client, image, self._images_ok)
        name = self.service_name(spec)
        configs, code = self._code_configs(spec.code) if spec.code else ([], None)
        mounts = [types.Mount("/run/praas", None, type="tmpfs", tmpfs_size=1 << 20, tmpfs_mode=0o1777)]
        host = containers.StoreHost(self.run_as, lambda root: mounts.append(types.Mount(root, root, type="bind")),
                                    self._reach)
        view = spec.store.process_view(host, spec.app, spec.proc) if spec.store is not None else None
        labels = containers.process_labels(self.label_prefix, spec, self.owner)
        try:
            secret = self.client.api.create_secret(f"{name}-secrets", encode_secrets(spec.secrets_for(view)),
                                                   labels=labels)["ID"]
        except self._errors as exc:
            raise BackendError(f"cannot create the Swarm secret of {name}: {exc}") from None
        env = containers.runtime_env(spec, code) | {"PRAAS_SWARM_SECRET": SECRET_TARGET,
                                                    "PRAAS_SWARM_USER": self.run_as}
        cpus, memory = int(spec.vcpus * 1e9), int(spec.memory_mb) << 20
        task = types.TaskTemplate(
            types.ContainerSpec(
                image, command=[RUNTIME_PYTHON, "-m", "praas_kit.backends.swarm_launch"], env=env, user="0:0",
                labels=labels, mounts=mounts, configs=configs, init=True, cap_drop=["ALL"],
                cap_add=["CAP_SETUID", "CAP_SETGID"], stop_grace_period=int(self.stop_grace * 1e9),
                secrets=[types.SecretReference(secret, f"{name}-secrets", filename=SECRET_TARGET, uid="0", gid="0",
                                               mode=0o400)]),
            resources=types.Resources(cpu_limit=cpus, mem_limit=memory, cpu_reservation=int(cpus * self.reserve),
                                      mem_reservation=min(memory, max(MIN_MEMORY, int(memory * self.reserve)))),
            restart_policy=types.RestartPolicy(condition="none"),
            placement=types.Placement(constraints=self.constraints) if self.constraints else None,
            networks=[self.network_name])
        endpoint = types.EndpointSpec(mode="dnsrr", ports=[
            {"TargetPort": DATA_PORT, "Protocol": "tcp", "PublishMode": "host"}])
        try:
            sid = self.client.api.create_service(task, name=name, labels=labels, endpoint_spec=endpoint)["ID"]
        except self._errors as exc:
            self._remove_secret(secret)
            raise BackendError(f"cannot create Swarm service {name}: {exc}") from None
        self.exits.track(sid, Tracked(name, on_exit))
        log.info("created service %s (%s) for %s/%s", name, sid[:12], spec.app, spec.proc)
        self._check_placement(sid, secret, name, cpus * self.reserve / 1e9, int(memory * self.reserve) >> 20)
        return {"service": sid, "name": name, "image": image, "network": self.network_name, "secret": secret,
                "owner": self.owner}

    def _check_placement(self, sid: str, secret: str, name: str, cpus: float, mib: int) -> None:
        """Wait until Swarm has placed the task (at most :data:`PLACEMENT_WAIT` s); if no node has room for its
        reservation, remove the service and raise :class:`BackendError` naming the reservation and the free
        capacity at once (else the start would wait for a hello that never comes)."""
        deadline = time.monotonic() + PLACEMENT_WAIT
        while time.monotonic() < deadline:
            tasks = self._tasks({"service": sid, "name": name})
            status = tasks[-1].get("Status", {}) if tasks else {}
            if status.get("State") not in (None, "new", "allocated", "pending"):
                return  # placed
            if "insufficient resources" in str(status.get("Err", "")):
                free_cpus, free_mib = swarm_engine.free_capacity(self.client)
                self._remove_service(sid)
                self._remove_secret(secret)
                self.exits.forget(sid)
                raise BackendError(
                    f"Swarm cannot place {name}: it reserves {cpus:.2f} vCPU and {mib} MiB ({self.reserve:.0%} of "
                    f"its limits) and the nodes have {free_cpus:.2f} vCPU and {free_mib:.0f} MiB unreserved: give "
                    "it fewer vcpus/memory_mb, lower the backend's reserve (PRAAS_SWARM_RESERVE), or add nodes")
            time.sleep(0.05)

    def check_code(self, code: str, image: str | None = None) -> list[str]:
        """The code check in a throw-away container of the application's image on this manager's engine."""
        image = image or self.image
        containers.check_image(self.client, image, self._images_ok)
        return containers.check_code_in_container(self.client, image, code, self.run_as, self._labels())

    # ================================================================ addresses
    def _tasks(self, handle: Handle) -> list[dict[str, Any]]:
        sid = handle.get("service") if handle else None
        if not sid:
            return []
        try:
            tasks = self.client.api.tasks(filters={"service": sid})
        except self._docker.errors.NotFound:  # the service is gone
            return []
        except self._errors as exc:
            raise BackendError(f"cannot list the tasks of service {handle.get('name')}: {exc}") from None
        return sorted(tasks, key=lambda t: t.get("Version", {}).get("Index", 0))

    def node_address(self, node_id: str) -> str:
        """A node's address for clients and processes (cached; see :func:`praas_kit.engines.swarm.node_address`)."""
        if node_id not in self._nodes:
            self._nodes[node_id] = swarm_engine.node_address(self.client, node_id)
        return self._nodes[node_id]

    def public_address(self, handle: Handle, advertised: str) -> str:
        """``tcp://<address of the task's node>:<port published for 8000>`` (see the module docstring)."""
        host, port = swarm_engine.published_endpoint(self.client, str(handle["service"]), DATA_PORT, self.node_address)
        return f"tcp://{host}:{port}"

    # ================================================================ stop, kill, recover
    def stop(self, handle: Handle, grace: float = 5.0) -> None:
        """Wait up to ``grace`` s for the task to exit by itself, then remove the service (SIGTERM, SIGKILL
        after ``stop_grace``) and its secret. A service that is already gone is fine."""
        sid = handle.get("service") if handle else None
        if not sid:
            return
        tracked = self.exits.get(sid)
        if tracked is not None:
            tracked.exited.wait(max(0.0, grace))
        self._remove_service(sid)
        if handle.get("secret"):
            self._remove_secret(str(handle["secret"]))
        if tracked is not None:
            self.exits.poll()  # the service is gone: its exit is reported now
            if tracked.exited.wait(10):
                self.exits.forget(sid)

    def _remove_service(self, sid: str) -> None:
        try:
            self.client.api.remove_service(sid)
        except self._docker.errors.NotFound:
            pass
        except self._errors as exc:
            raise BackendError(f"cannot remove Swarm service {sid[:12]}: {exc}") from None

    def _remove_secret(self, secret: str) -> None:
        for _ in range(50):  # in use until the service's removal is recorded
            try:
                self.client.api.remove_secret(secret)
                return
            except self._docker.errors.NotFound:
                return
            except self._errors as exc:
                last = exc
                time.sleep(0.1)
        log.warning("cannot remove Swarm secret %s: %s", secret[:12], last)

    def kill(self, handle: Handle) -> None:
        """SIGKILL the task's container if it runs on this engine's node (the service stays until :meth:`stop`),
        else remove the service (SIGKILL after ``stop_grace``)."""
        for task in reversed(self._tasks(handle)):
            if task.get("Status", {}).get("State") not in LIVE_STATES:
                continue
            cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
            if task.get("NodeID") == self.node_id and cid:
                try:
                    self.client.api.kill(cid)
                except self._docker.errors.APIError as exc:
                    if exc.status_code not in (404, 409):
                        raise BackendError(f"cannot kill container {cid[:12]}: {exc}") from None
                except self._errors as exc:
                    raise BackendError(f"cannot kill container {cid[:12]}: {exc}") from None
            else:
                self._remove_service(str(handle["service"]))
            return

    def alive(self, handle: Handle) -> bool:
        return any(t.get("Status", {}).get("State") in LIVE_STATES for t in self._tasks(handle))

    def recover(self, handle: Handle) -> None:
        """Remove a service left from an earlier control plane, and its secret (best effort)."""
        try:
            self.stop(handle, grace=0)
        except BackendError as exc:
            log.warning("recovering %s: %s", handle.get("name"), exc)

    # ================================================================ observation
    def logs(self, handle: Handle, tail: int = 40) -> str:
        """The service's last ``tail`` log lines, and the errors Swarm recorded for its tasks."""
        sid = handle.get("service") if handle else None
        if not sid:
            return ""
        try:
            raw = b"".join(self.client.api.service_logs(sid, stdout=True, stderr=True, tail=tail, follow=False))
            errors = [t["Status"]["Err"] for t in self._tasks(handle) if t.get("Status", {}).get("Err")]
        except BackendError:
            return ""
        except self._errors:
            return ""
        return raw.decode(errors="replace") + "".join(f"swarm: {e}\n" for e in errors)

    def inspect(self, handle: Handle) -> dict[str, Any]:
        """``{"service", "name", "image", "nano_cpus", "memory", "reserved_nano_cpus", "reserved_memory",
        "restart", "networks", "endpoint_mode", "tasks": [{"state", "node", "ports"}]}``."""
        sid = handle.get("service") if handle else None
        if not sid:
            raise BackendError("no service in the process handle")
        svc = docker_engine.inspect(lambda: self.client.api.inspect_service(sid), f"service {sid[:12]}")
        tpl = svc["Spec"]["TaskTemplate"]
        res = tpl.get("Resources", {})
        return {
            "service": svc["ID"], "name": svc["Spec"]["Name"], "image": tpl["ContainerSpec"]["Image"],
            "nano_cpus": res.get("Limits", {}).get("NanoCPUs"), "memory": res.get("Limits", {}).get("MemoryBytes"),
            "reserved_nano_cpus": res.get("Reservations", {}).get("NanoCPUs"),
            "reserved_memory": res.get("Reservations", {}).get("MemoryBytes"),
            "restart": tpl.get("RestartPolicy", {}).get("Condition"),
            "networks": [n.get("Target") for n in tpl.get("Networks", [])],
            "endpoint_mode": svc["Spec"].get("EndpointSpec", {}).get("Mode"),
            "tasks": [{"state": t["Status"]["State"], "node": t.get("NodeID"),
                       "ports": (t["Status"].get("PortStatus") or {}).get("Ports", [])} for t in self._tasks(handle)],
        }

    def services(self) -> list[dict[str, Any]]:
        """The services this backend instance created that still exist."""
        return list(self.client.api.services(filters={"label": f"{self.label_prefix}.owner={self.owner}"}))

    # ================================================================ close
    def close(self) -> None:
        """Remove every service, secret and config this instance created, then the network if this instance
        created it and nothing else uses it. Idempotent."""
        if self._closed:
            return
        owned = {"label": f"{self.label_prefix}.owner={self.owner}"}
        try:
            for svc in self.services():
                with contextlib.suppress(BackendError):
                    self._remove_service(svc["ID"])
        except self._errors as exc:
            log.warning("listing the services to remove: %s", exc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.exits.all_exited():
            with contextlib.suppress(Exception):
                self.exits.poll()
            time.sleep(0.1)
        self._closed = True
        self.exits.close()
        with contextlib.suppress(*self._errors):
            for s in self.client.api.secrets(filters=owned):
                self._remove_secret(s["ID"])
            for c in self.client.api.configs(filters=owned):
                with contextlib.suppress(*self._errors):
                    self.client.api.remove_config(c["ID"])
        if self._created_network:
            for _ in range(50):  # the tasks' endpoints leave the network asynchronously
                if docker_engine.remove_network(self.network):
                    break
                time.sleep(0.2)
        with contextlib.suppress(Exception):
            self.client.close()


__all__ = ["SwarmBackend", "TaskWatcher", "DEFAULT_NETWORK"]
