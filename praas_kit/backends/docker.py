"""The ``docker`` backend: one container per cloud process, on a user-defined bridge network.

Each process runs ``python -m praas_kit.process`` (the image's entry point) in a container named
``praas-<app>-<proc>-<incarnation>`` with

* limits: ``vcpus`` as ``NanoCpus`` (``int(vcpus * 1e9)``), ``memory_mb`` as the memory limit and the
  memory+swap limit (no swap), a ``pids`` limit;
* hardening: a non-root user (``run_as``, ``10001:10001`` by default), every capability dropped,
  ``no-new-privileges``, an init process (``docker-init``) that reaps children; the Docker socket is
  never mounted;
* code: read-only under ``/code`` (:mod:`praas_kit.backends.docker_code`): a bind mount, or a copy
  put into the container when the control plane itself runs in a container (``code_transfer="copy"``);
* secrets (the hello secret, the CurveZMQ keys, the swap store's spec as the container must see it: the
  store asks this backend for a shared directory or a reachable endpoint,
  :meth:`~praas_kit.storage.base.SwapStore.process_view`) in ``/run/praas/secrets.json`` (0600, owned by
  ``run_as``, removed by the runtime once read), never in the environment;
* environment: :meth:`ProcessConfig.to_env <praas_kit.process.config.ProcessConfig.to_env>` with
  ``bind=tcp://*:8000`` (the runtime then advertises its container IP) and ``state_dir=/state``;
* labels: ``<label_prefix>=1``, ``<label_prefix>.app``, ``.process``, ``.incarnation`` and
  ``.owner=<id of this backend instance>``, so :meth:`DockerBackend.close` removes exactly the
  containers this instance started.

Networking. Processes reach the control plane's process endpoint at the network's gateway IP (the
host side of the bridge, e.g. ``172.18.0.1``), and the endpoint binds only that address, so it is not
exposed on other interfaces. When the control plane itself runs in a container on the network (Docker
Compose), it binds ``0.0.0.0`` in its container and processes reach it by its IP on the network: this
is detected automatically, or set ``control_host`` explicitly. Clients on the host reach processes at
their container IPs directly (Linux routes bridge subnets to the host).

Exits are followed through the engine's events (:mod:`praas_kit.backends.docker_events`).
Options from the environment use the generic ``PRAAS_DOCKER_<OPTION>`` rule of the control plane's
configuration (``PRAAS_DOCKER_NETWORK``, ``PRAAS_DOCKER_IMAGE``, ``PRAAS_DOCKER_CONTROL_HOST``).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from praas_kit.backends import containers, docker_code
from praas_kit.backends.base import Backend, ExitCallback, Handle, ProcessSpec
from praas_kit.backends.docker_events import ExitWatcher, Tracked
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.engines.images import RUN_AS, SECRETS_FILE, STATE_DIR
from praas_kit.errors import BackendError
from praas_kit.process.config import encode_secrets

log = logging.getLogger("praas_kit.backends.docker")

DEFAULT_NETWORK = "praas-net"


class DockerBackend(containers.ControlAddress, Backend):
    """Runs each process in a container of the local Docker engine (Docker SDK for Python).

    Args:
        network: user-defined bridge network of the processes; created (labelled) if missing.
        image: image for applications that name none (an application's ``image`` overrides it).
        label_prefix: namespace of the labels put on containers and the network.
        run_as: ``uid:gid`` of the runtime in the container; never root by default.
        control_host: address processes use to reach the control plane; ``None``: the network's
            gateway, or this container's IP when the control plane runs in a container on the network.
        control_bind: interface the control plane's process endpoint binds; ``None``: the gateway IP
            (``0.0.0.0`` when the control plane runs in a container).
        pids_limit: maximum number of tasks (processes and threads) per container.
        state_tmpfs: keep ``/state`` on a tmpfs (counted against the memory limit) instead of the
            container's writable layer.
        init: run ``docker-init`` as PID 1 (reaps the children a function spawns).
        code_transfer: ``"mount"`` (a read-only bind mount of the host path) or ``"copy"`` (a read-only
            copy put into the container before it starts); ``None``: ``"copy"`` inside a container,
            ``"mount"`` otherwise.
        base_url: Docker engine address (``None``: ``DOCKER_HOST`` or the local socket).
        timeout: seconds for one Docker API call.

    Raises :class:`BackendError` if the engine cannot be reached or the network not created.
    """

    name = "docker"

    def __init__(self, network: str | None = None, image: str | None = None, label_prefix: str = "praas-kit",
                 run_as: str = RUN_AS, control_host: str | None = None, control_bind: str | None = None,
                 pids_limit: int = 1024, state_tmpfs: bool = False, init: bool = True,
                 code_transfer: str | None = None, base_url: str | None = None, timeout: float = 60.0) -> None:
        if code_transfer not in (None, "mount", "copy"):
            raise BackendError(f"code_transfer must be 'mount' or 'copy', not {code_transfer!r}")
        self._docker = docker_engine.docker_sdk()
        self._engine_errors = docker_engine.engine_errors()
        self.network_name = network or DEFAULT_NETWORK
        self.image = image or image_names.PROCESS
        self.label_prefix = label_prefix
        self.run_as = run_as
        self.pids_limit = int(pids_limit)
        self.state_tmpfs = state_tmpfs
        self.init = init
        self.owner = uuid.uuid4().hex[:12]
        self._images_ok: set[str] = set()
        self._closed = False
        self.client = docker_engine.connect(base_url, timeout)
        self.network, self._created_network = docker_engine.ensure_network(
            self.client, self.network_name, {self._label(): "1", self._label("owner"): self.owner})
        self.gateway = docker_engine.gateway(self.network)
        me = docker_engine.own_container(self.client)
        #: whether this control plane runs in a container of the same engine (Docker Compose)
        self.in_container = me is not None
        self.code_transfer = code_transfer or ("copy" if self.in_container else "mount")
        in_container_ip = containers.own_ip_on_network(me, self.network) if me is not None else None
        self._control_host = control_host or in_container_ip or self.gateway
        self._control_bind = control_bind or ("0.0.0.0" if (control_host or in_container_ip) else self.gateway)
        self.exits = ExitWatcher(self.client, f"{self._label('owner')}={self.owner}")
        log.info("docker backend %s: network %s (gateway %s), control plane at %s, image %s",
                 self.owner, self.network_name, self.gateway, self._control_host, self.image)

    # ================================================================ labels and network
    def _label(self, suffix: str = "") -> str:
        return f"{self.label_prefix}.{suffix}" if suffix else self.label_prefix

    # ================================================================ start
    def _check_image(self, image: str) -> None:
        containers.check_image(self.client, image, self._images_ok)

    def store_host(self, volumes: docker_code.Volumes) -> containers.StoreHost:
        """What a container start offers a swap store: bind mounts added to ``volumes``, loopback endpoints
        rewritten to the bridge's gateway (unchanged when the control plane runs in a container)."""
        return containers.StoreHost(self.run_as, lambda root: volumes.update({root: {"bind": root, "mode": "rw"}}),
                                    None if self.in_container else self.gateway)

    def container_name(self, spec: ProcessSpec) -> str:
        """``praas-<app>-<proc>-<incarnation>``."""
        return f"praas-{spec.app}-{spec.proc}-{spec.incarnation}"

    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> Handle:
        if self._closed:
            raise BackendError("the docker backend is closed")
        image = spec.image or self.image
        self._check_image(image)
        name = self.container_name(spec)
        ids = docker_code.parse_user(self.run_as)
        volumes: docker_code.Volumes = {}
        archives: list[tuple[str, bytes]] = []
        staged = code = None
        store_host = self.store_host(volumes)
        view = spec.store.process_view(store_host, spec.app, spec.proc) if spec.store is not None else None
        secrets = encode_secrets(spec.secrets_for(view))
        archives.append(("/run", docker_code.private_file_archive(Path(SECRETS_FILE).name, secrets, ids)))
        if spec.code and self.code_transfer == "copy":
            src = Path(spec.code)
            if not src.exists():
                raise BackendError(f"application code {spec.code!r} does not exist")
            archives.append((docker_code.CODE_DIR, docker_code.archive(src)))
            code = f"{docker_code.CODE_DIR}/{src.name}"
        elif spec.code:
            code_volumes, code, staged = docker_code.mount(spec.code, spec.incarnation, ids)
            volumes.update(code_volumes)
        env = containers.runtime_env(spec, code)
        labels = containers.process_labels(self.label_prefix, spec, self.owner)
        memory = int(spec.memory_mb) << 20
        kwargs: dict[str, Any] = {
            "name": name, "environment": env, "user": self.run_as, "labels": labels, "detach": True,
            "network": self.network_name, "nano_cpus": int(spec.vcpus * 1e9), "mem_limit": memory,
            "memswap_limit": memory, "pids_limit": self.pids_limit, "volumes": volumes,
            "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "init": self.init,
            "stdin_open": False, "tty": False,
        }
        if self.state_tmpfs:
            kwargs["tmpfs"] = {STATE_DIR: f"rw,nosuid,nodev,mode=1777,size={memory}"}
        container = self._create(image, name, kwargs, staged)
        self.exits.track(container.id, Tracked(name, on_exit, staged_code=staged))
        failures: tuple[type[BaseException], ...] = (BackendError, *self._engine_errors)
        try:
            for path, data in archives:
                if not container.put_archive(path, data):
                    raise BackendError(f"the engine refused the files for {path} in {name}")
            container.start()
        except failures as exc:
            self.exits.forget(container.id)
            with contextlib.suppress(*self._engine_errors):
                container.remove(force=True)
            docker_code.remove_staged(staged)
            raise BackendError(f"cannot start container {name}: {exc}") from None
        log.info("started %s (%s) for %s/%s", name, container.short_id, spec.app, spec.proc)
        return {"container": container.id, "name": name, "image": image, "network": self.network_name,
                "owner": self.owner}

    def _create(self, image: str, name: str, kwargs: dict[str, Any], staged: str | None) -> Any:
        errors = self._docker.errors
        try:
            try:
                return self.client.containers.create(image, **kwargs)
            except errors.NotFound as exc:
                if "network" not in str(exc).lower():
                    raise
                # removed by another backend's close(): recreate
                self.network, _ = docker_engine.ensure_network(
                    self.client, self.network_name, {self._label(): "1", self._label("owner"): self.owner})
                return self.client.containers.create(image, **kwargs)
        except errors.ImageNotFound:
            self._images_ok.discard(image)
            docker_code.remove_staged(staged)
            raise BackendError(f"Docker image {image!r} not found; {image_names.BUILD_HINT}") from None
        except self._engine_errors as exc:
            docker_code.remove_staged(staged)
            raise BackendError(f"cannot create container {name}: {exc}") from None

    def check_code(self, code: str, image: str | None = None) -> list[str]:
        """The code check in a throw-away container of the application's image (no network, the process
        user, the code copied in), so that user code never runs on the control plane's host."""
        image = image or self.image
        self._check_image(image)
        return containers.check_code_in_container(self.client, image, code, self.run_as,
                                                  {self._label(): "1", self._label("owner"): self.owner})

    # ================================================================ stop, kill, recover
    @staticmethod
    def _container_id(handle: Handle | None) -> str | None:
        if not handle:
            return None
        cid = handle.get("container") or handle.get("name")
        return str(cid) if cid else None

    def stop(self, handle: Handle, grace: float = 5.0) -> None:
        """Wait up to ``grace`` s for the container to exit by itself, then stop it (SIGTERM, SIGKILL after
        2 s) and remove it. A container that is already gone is fine."""
        cid = self._container_id(handle)
        if cid is None:
            return
        tracked = self.exits.get(cid)
        if tracked is not None:
            tracked.exited.wait(max(0.0, grace))
        else:
            with contextlib.suppress(*self._engine_errors):  # a timeout is requests' ReadTimeout
                self.client.api.wait(cid, timeout=max(0.1, grace))
        if tracked is None or not tracked.exited.is_set():
            try:
                self.client.api.stop(cid, timeout=2)  # SIGTERM, SIGKILL after 2 s
            except self._docker.errors.NotFound:
                pass
            except self._engine_errors as exc:
                log.warning("stopping container %s: %s", cid[:12], exc)
        self._remove(cid)

    def _remove(self, cid: str) -> None:
        errors = self._docker.errors
        try:
            self.client.api.remove_container(cid, force=True)
        except errors.NotFound:
            pass
        except errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise BackendError(f"cannot remove container {cid[:12]}: {exc}") from None
        except self._engine_errors as exc:
            raise BackendError(f"cannot remove container {cid[:12]}: {exc}") from None
        tracked = self.exits.get(cid)
        if tracked is not None:
            docker_code.remove_staged(tracked.staged_code)
            if tracked.exited.wait(10):  # its exit is reported from the die event
                self.exits.forget(cid)

    def kill(self, handle: Handle) -> None:
        """SIGKILL the container (it stays until :meth:`stop` removes it, so its log remains readable)."""
        cid = self._container_id(handle)
        if cid is None:
            return
        errors = self._docker.errors
        try:
            self.client.api.kill(cid)
        except errors.NotFound:
            pass
        except errors.APIError as exc:
            if exc.status_code != 409:  # 409: not running
                raise BackendError(f"cannot kill container {cid[:12]}: {exc}") from None
        except self._engine_errors as exc:
            raise BackendError(f"cannot kill container {cid[:12]}: {exc}") from None

    def alive(self, handle: Handle) -> bool:
        cid = self._container_id(handle)
        if cid is None:
            return False
        try:
            return bool(self.client.api.inspect_container(cid)["State"].get("Running"))
        except self._docker.errors.NotFound:
            return False
        except self._engine_errors as exc:
            raise BackendError(f"cannot inspect container {cid[:12]}: {exc}") from None

    def recover(self, handle: Handle) -> None:
        """Remove a container left from an earlier control plane (best effort)."""
        cid = self._container_id(handle)
        if cid is None:
            return
        try:
            self._remove(cid)
        except BackendError as exc:
            log.warning("recovering %s: %s", cid[:12], exc)

    # ================================================================ observation
    def logs(self, handle: Handle, tail: int = 40) -> str:
        cid = self._container_id(handle)
        if cid is None:
            return ""
        try:
            out = self.client.api.logs(cid, stdout=True, stderr=True, tail=tail)
        except self._engine_errors:
            return ""
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def inspect(self, handle: Handle) -> dict[str, Any]:
        """``{"container", "name", "image", "nano_cpus", "memory", "memory_swap", "pids_limit", "user",
        "mounts", "networks", "status"}`` from the engine's inspect of the container."""
        cid = self._container_id(handle)
        if cid is None:
            raise BackendError("no container in the process handle")
        a = docker_engine.inspect(lambda: self.client.api.inspect_container(cid), f"container {cid[:12]}")
        host = a.get("HostConfig", {})
        nets = a.get("NetworkSettings", {}).get("Networks", {}) or {}
        return {
            "container": a["Id"], "name": a.get("Name", "").lstrip("/"), "image": a.get("Config", {}).get("Image"),
            "status": a.get("State", {}).get("Status"), "env": a.get("Config", {}).get("Env", []),
            "nano_cpus": host.get("NanoCpus"), "memory": host.get("Memory"), "memory_swap": host.get("MemorySwap"),
            "pids_limit": host.get("PidsLimit"), "user": a.get("Config", {}).get("User"),
            "mounts": [{"type": m.get("Type"), "source": m.get("Source"), "destination": m.get("Destination"),
                        "rw": m.get("RW")} for m in a.get("Mounts", [])],
            "networks": {name: n.get("IPAddress") for name, n in nets.items()},
        }

    def containers(self) -> Iterator[Any]:
        """The containers this backend instance started and that still exist."""
        yield from self.client.containers.list(all=True, filters={"label": f"{self._label('owner')}={self.owner}"})

    # ================================================================ close
    def close(self) -> None:
        """Remove every container this instance started, then the network if this instance created it and
        nothing else uses it. Idempotent."""
        if self._closed:
            return
        try:
            for c in list(self.containers()):
                try:
                    c.remove(force=True)
                except self._docker.errors.NotFound:
                    pass
                except self._engine_errors as exc:
                    log.warning("removing container %s: %s", c.name, exc)
        except self._engine_errors as exc:
            log.warning("listing the containers to remove: %s", exc)
        # let the die events of the removed containers arrive, so every on_exit is called once
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self.exits.all_exited():
            time.sleep(0.05)
        self._closed = True
        for t in self.exits.close():
            docker_code.remove_staged(t.staged_code)
        if self._created_network:
            docker_engine.remove_network(self.network)
        with contextlib.suppress(Exception):
            self.client.close()


__all__ = ["DockerBackend", "DEFAULT_NETWORK"]
