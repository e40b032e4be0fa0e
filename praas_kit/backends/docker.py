"""The ``docker`` backend: one container per cloud process, on a user-defined bridge network.

Each process runs ``python -m praas_kit.process`` (the image's entry point) in a container named
``praas-<app>-<proc>-<incarnation>`` with

* limits: ``vcpus`` as ``NanoCpus`` (``int(vcpus * 1e9)``), ``memory_mb`` as the memory limit and the
  memory+swap limit (no swap), a ``pids`` limit;
* hardening: a non-root user (``run_as``, ``10001:10001`` by default), every capability dropped,
  ``no-new-privileges``, an init process (``docker-init``) that reaps children; the Docker socket is
  never mounted;
* mounts: the application code read-only under ``/code`` (a ``.py`` file's directory at ``/code``, a
  package directory at ``/code/<name>``; a copy when the container user could not read it in place),
  and for a directory swap store its root, read-write at the *same path* as on the host so that the
  store spec stays valid. A control plane that itself runs in a container (whose paths the engine
  cannot see) puts a read-only copy of the code into ``/code`` before the container starts instead
  (``code_transfer="copy"``);
* environment: the control plane's ``PRAAS_*`` variables plus ``PRAAS_BIND=tcp://*:8000`` (the runtime
  then advertises its container IP), ``PRAAS_STATE_DIR=/state`` and ``PRAAS_CODE``;
* labels: ``<label_prefix>=1``, ``<label_prefix>.app``, ``.process``, ``.incarnation`` and
  ``.owner=<id of this backend instance>``, so :meth:`DockerBackend.close` removes exactly the
  containers this instance started.

Networking. Processes reach the control plane's process endpoint at the network's gateway IP (the
host side of the bridge, e.g. ``172.18.0.1``), and the endpoint binds only that address, so it is not
exposed on other interfaces. When the control plane itself runs in a container on the network (Docker
Compose), it binds ``0.0.0.0`` in its container and processes reach it by its IP on the network: this
is detected automatically, or set ``control_host`` explicitly. Clients on the host reach processes at
their container IPs directly (Linux routes bridge subnets to the host).

Swap store. A directory store is bind-mounted as described above (made writable for ``run_as``). An
S3 endpoint at ``127.0.0.1``/``localhost`` is rewritten to the gateway IP for the containers: the S3
server on the host must then listen on ``0.0.0.0`` (or on the gateway IP), e.g.
``python -m praas_kit.services.swift_s3 --host 0.0.0.0`` or ``SwiftS3Server(host="0.0.0.0")``.

Exit watching. One thread per backend follows the engine's ``die`` events of this instance's
containers and calls each container's ``on_exit(exit_code)`` exactly once, in a thread of its own (a
``docker kill`` gives 137). If the event stream breaks, it is re-opened and the containers are
reconciled with their inspected state, so no exit is lost or reported twice.

Options may also come from the environment (the container image of the control plane has no other
way to get them): ``PRAAS_DOCKER_NETWORK``, ``PRAAS_DOCKER_IMAGE``, ``PRAAS_DOCKER_CONTROL_HOST``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from praas_kit.backends.base import Backend, ExitCallback, ProcessSpec
from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.backends.docker")

DEFAULT_IMAGE = "praas-process:latest"
DEFAULT_NETWORK = "praas-net"
DATA_PORT = 8000
STATE_DIR = "/state"
CODE_DIR = "/code"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")
BUILD_HINT = "build it with `praas images build` (or `python -m praas_kit.images`)"


@dataclass
class _Tracked:
    """A container this backend started and whose exit it reports."""

    name: str
    on_exit: ExitCallback
    exited: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    staged_code: str | None = None


class DockerBackend(Backend):
    """Runs each process in a container of the local Docker engine (Docker SDK for Python).

    Args:
        network: user-defined bridge network of the processes; created (labelled) if missing.
        image: image for applications that name none (an application's ``image`` overrides it).
        label_prefix: namespace of the labels put on containers and the network.
        run_as: ``uid:gid`` of the runtime in the container; never root by default.
        swap_root: host directory of a directory swap store, bind-mounted at the same path; ``None``
            takes it from the store spec the control plane passes (``PRAAS_SWAP_STORE``).
        control_host: address processes use to reach the control plane; ``None``: the network's
            gateway, or this container's IP when the control plane runs in a container on the network.
        control_bind: interface the control plane's process endpoint binds; ``None``: the gateway IP
            (``0.0.0.0`` when the control plane runs in a container).
        pids_limit: maximum number of tasks (processes and threads) per container.
        state_tmpfs: keep ``/state`` on a tmpfs (counted against the memory limit) instead of the
            container's writable layer.
        init: run ``docker-init`` as PID 1 (reaps the children a function spawns).
        code_transfer: how application code gets into containers: ``"mount"`` (a read-only bind mount
            of the host path) or ``"copy"`` (a read-only copy put into the container before it starts,
            for a control plane that runs in a container and whose paths the engine cannot see);
            ``None``: ``"copy"`` inside a container, ``"mount"`` otherwise.
        base_url: Docker engine address (``None``: ``DOCKER_HOST`` or the local socket).
        timeout: seconds for one Docker API call.

    Raises :class:`BackendError` if the engine cannot be reached or the network not created.
    """

    name = "docker"

    def __init__(self, network: str | None = None, image: str | None = None, label_prefix: str = "praas-kit",
                 run_as: str = "10001:10001", swap_root: str | None = None, control_host: str | None = None,
                 control_bind: str | None = None, pids_limit: int = 1024, state_tmpfs: bool = False,
                 init: bool = True, code_transfer: str | None = None, base_url: str | None = None,
                 timeout: float = 60.0) -> None:
        try:
            import docker  # its errors module comes with it
        except ImportError:
            raise BackendError("the docker backend needs the Docker SDK: pip install 'praas-kit[docker]'") from None
        import requests

        self._docker = docker
        #: what a Docker SDK call may raise: its own errors, and requests' for a broken connection
        self._engine_errors: tuple[type[BaseException], ...] = (docker.errors.DockerException,
                                                                requests.exceptions.RequestException)
        self.network_name = network or os.environ.get("PRAAS_DOCKER_NETWORK") or DEFAULT_NETWORK
        self.image = image or os.environ.get("PRAAS_DOCKER_IMAGE") or DEFAULT_IMAGE
        self.label_prefix = label_prefix
        self.run_as = run_as
        self.swap_root = str(Path(swap_root).resolve()) if swap_root else None
        self.pids_limit = int(pids_limit)
        self.state_tmpfs = state_tmpfs
        self.init = init
        if code_transfer not in (None, "mount", "copy"):
            raise BackendError(f"code_transfer must be 'mount' or 'copy', not {code_transfer!r}")
        self.owner = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}  # container id -> tracking record
        self._images_ok: set[str] = set()
        self._closed = False
        try:
            self.client = docker.DockerClient(base_url=base_url, timeout=int(timeout)) if base_url \
                else docker.from_env(timeout=int(timeout))
            self.client.ping()
        except Exception as exc:
            where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            raise BackendError(f"the Docker engine at {where} is unreachable ({exc}); start it "
                               "(scripts/dockerd.sh start) or set DOCKER_HOST") from None
        self._created_network = False
        self.network = self._ensure_network()
        self.gateway = self._gateway(self.network)
        me = self._own_container()
        #: whether this control plane runs in a container of the same engine (Docker Compose)
        self.in_container = me is not None
        self.code_transfer = code_transfer or ("copy" if self.in_container else "mount")
        self._in_container_ip = self._own_ip_on_network(me) if me is not None else None
        self._control_host = control_host or os.environ.get("PRAAS_DOCKER_CONTROL_HOST") or \
            self._in_container_ip or self.gateway
        if control_bind:
            self._control_bind = control_bind
        elif control_host or os.environ.get("PRAAS_DOCKER_CONTROL_HOST") or self._in_container_ip:
            self._control_bind = "0.0.0.0"
        else:
            self._control_bind = self.gateway
        try:
            self._events = self._subscribe(since=None)
        except self._engine_errors as exc:
            raise BackendError(f"cannot follow the Docker engine's events: {exc}") from None
        self._watcher = threading.Thread(target=self._watch, name="praas-docker-events", daemon=True)
        self._watcher.start()
        log.info("docker backend %s: network %s (gateway %s), control plane at %s, image %s",
                 self.owner, self.network_name, self.gateway, self._control_host, self.image)

    # ================================================================ labels and network
    def _label(self, suffix: str = "") -> str:
        return f"{self.label_prefix}.{suffix}" if suffix else self.label_prefix

    def _ensure_network(self) -> Any:
        errors = self._docker.errors
        for _ in range(3):
            try:
                found = [n for n in self.client.networks.list(names=[self.network_name])
                         if n.name == self.network_name]
                if found:
                    net = self.client.networks.get(found[0].id)
                    if net.attrs.get("Driver") != "bridge":
                        raise BackendError(f"Docker network {self.network_name!r} exists but is not a bridge "
                                           f"network (driver {net.attrs.get('Driver')!r})")
                    return net
                net = self.client.networks.create(self.network_name, driver="bridge",
                                                  labels={self._label(): "1", self._label("owner"): self.owner})
                self._created_network = True
                log.info("created Docker network %s", self.network_name)
                return self.client.networks.get(net.id)
            except errors.APIError as exc:
                if exc.status_code == 409:  # created by someone else meanwhile
                    continue
                raise BackendError(f"cannot create Docker network {self.network_name!r}: {exc}") from None
            except self._engine_errors as exc:
                raise BackendError(f"Docker engine error while preparing network {self.network_name!r}: "
                                   f"{exc}") from None
        raise BackendError(f"cannot create Docker network {self.network_name!r}: it keeps appearing and vanishing")

    def _gateway(self, net: Any) -> str:
        for cfg in net.attrs.get("IPAM", {}).get("Config") or []:
            gw = cfg.get("Gateway")
            if gw and ":" not in gw:
                return str(gw)
        raise BackendError(f"Docker network {self.network_name!r} has no IPv4 gateway")

    def _own_container(self) -> Any | None:
        """The container of this engine that this control plane runs in, or ``None`` (on the host, or in a
        container of some other engine)."""
        if not (Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()):
            return None
        hostname = socket.gethostname()
        try:
            me = self.client.containers.get(hostname)
        except self._engine_errors:
            return None
        if me.attrs.get("Config", {}).get("Hostname") != hostname or me.status != "running":
            return None  # a container that merely has our host name as its name or id prefix
        return me

    def _own_ip_on_network(self, me: Any) -> str | None:
        """This control plane's IP on the network (its container is attached to the network if it is not)."""

        def ip() -> str | None:
            nets = me.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
            return (nets.get(self.network_name) or {}).get("IPAddress") or None

        if ip() is None:
            try:
                self.network.connect(me)
                me.reload()
                log.info("attached this control plane's container %s to network %s", me.name, self.network_name)
            except self._engine_errors as exc:
                log.warning("the control plane's container %s is not on network %s and cannot join it (%s): "
                            "processes will not reach it; set control_host", me.name, self.network_name, exc)
        return ip()

    @property
    def control_bind(self) -> str:
        return self._control_bind

    def control_host(self) -> str:
        return self._control_host

    # ================================================================ exit watching
    def _subscribe(self, since: float | None) -> Any:
        return self.client.events(decode=True, since=since, filters={
            "type": "container", "event": "die", "label": [f"{self._label('owner')}={self.owner}"]})

    def _watch(self) -> None:
        last = time.time()
        while True:
            stream = self._events
            try:
                for event in stream:
                    last = max(last, float(event.get("time", last)))
                    cid = event.get("id") or event.get("Actor", {}).get("ID")
                    attrs = event.get("Actor", {}).get("Attributes", {})
                    try:
                        code = int(attrs.get("exitCode", -1))
                    except (TypeError, ValueError):
                        code = -1
                    if cid:
                        self._fire(cid, code)
            except Exception as exc:
                if not self._closed:
                    log.warning("Docker event stream broke (%s); re-subscribing", exc)
            if self._closed:
                return
            time.sleep(0.5)
            try:
                self._events = self._subscribe(since=last - 1)
            except Exception as exc:
                log.warning("cannot re-subscribe to Docker events: %s", exc)
                continue
            self._reconcile()

    def _reconcile(self) -> None:
        """Report the exits that happened while the event stream was down."""
        with self._lock:
            ids = [cid for cid, t in self._tracked.items() if not t.exited.is_set()]
        for cid in ids:
            try:
                st = self.client.api.inspect_container(cid)["State"]
            except self._docker.errors.NotFound:
                self._fire(cid, -1)
                continue
            except Exception:
                continue
            if not st.get("Running") and st.get("Status") not in ("created", "restarting"):
                self._fire(cid, int(st.get("ExitCode", -1)))

    def _fire(self, cid: str, code: int) -> None:
        """Report the exit of ``cid`` once (later calls for the same container do nothing)."""
        with self._lock:
            t = self._tracked.get(cid)
            if t is None or t.exited.is_set():
                return
            t.exit_code = code
            t.exited.set()
        log.info("container %s exited with code %s", t.name, code)

        def call() -> None:
            try:
                t.on_exit(code)
            except Exception:
                log.exception("on_exit callback of %s failed", t.name)

        threading.Thread(target=call, name=f"exit-{t.name}", daemon=True).start()

    # ================================================================ start
    def _check_image(self, image: str) -> None:
        if image in self._images_ok:
            return
        try:
            self.client.images.get(image)
        except self._docker.errors.ImageNotFound:
            raise BackendError(f"Docker image {image!r} not found; {BUILD_HINT}") from None
        except self._engine_errors as exc:
            raise BackendError(f"cannot inspect Docker image {image!r}: {exc}") from None
        self._images_ok.add(image)

    def _uid_gid(self) -> tuple[int, int] | None:
        try:
            uid, _, gid = self.run_as.partition(":")
            return int(uid), int(gid or uid)
        except ValueError:
            return None  # a user name: resolved in the image, unknown here

    def _readable_by_runtime(self, path: Path) -> bool:
        """Whether the container user can read ``path`` (a file or a whole package tree) through a bind mount.

        Only what is mounted counts (a file's directory, or the package directory): the host directories
        above a mount are not visible in the container.
        """
        ids = self._uid_gid()
        if ids is not None and ids[0] == 0:
            return True

        def ok(p: Path, need: int) -> bool:
            st = p.stat()
            if ids is not None and st.st_uid == ids[0]:
                return bool(st.st_mode & (need << 6))
            if ids is not None and st.st_gid == ids[1]:
                return bool(st.st_mode & (need << 3))
            return bool(st.st_mode & need)

        try:
            if path.is_file():
                return ok(path.parent, 5) and ok(path, 4)  # import lists the directory: r and x
            for root, dirs, files in os.walk(path):
                r = Path(root)
                if not ok(r, 5):
                    return False
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                if not all(ok(r / f, 4) for f in files):
                    return False
            return True
        except OSError:
            return False

    @staticmethod
    def _code_archive(src: Path) -> bytes:
        """A tar of ``src`` (a file or a package directory) as ``<name>``: root-owned, read-only, no caches."""

        def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if "__pycache__" in info.name.split("/"):
                return None
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o555 if info.isdir() else (0o555 if info.mode & 0o111 else 0o444)
            return info

        buf = io.BytesIO()
        try:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(src, arcname=src.name, filter=clean)
        except OSError as exc:
            raise BackendError(f"cannot read the application code {src}: {exc}") from None
        if buf.tell() > 256 << 20:
            log.warning("application code %s is %d MiB; every process start copies it", src, buf.tell() >> 20)
        return buf.getvalue()

    def _code_mount(self, code: str, incarnation: str) -> tuple[dict[str, dict[str, str]], str, str | None]:
        """Volumes, the in-container ``PRAAS_CODE`` and a staged copy to remove later (or ``None``)."""
        src = Path(code).resolve()
        if not src.exists():
            raise BackendError(f"application code {code!r} does not exist")
        staged = None
        if not self._readable_by_runtime(src):
            # the container user (uid 10001) cannot read it in place (e.g. a 0700 temporary directory)
            staged = tempfile.mkdtemp(prefix=f"praas-code-{incarnation}-")
            os.chmod(staged, 0o755)
            target = Path(staged) / src.name
            if src.is_dir():
                shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, target)
            for root, dirs, files in os.walk(staged):
                for d in dirs:
                    os.chmod(Path(root) / d, 0o755)
                for f in files:
                    os.chmod(Path(root) / f, 0o644)
            log.info("application code %s is not readable by %s; mounting a copy", src, self.run_as)
            src = target
        if src.is_dir():
            return {str(src): {"bind": f"{CODE_DIR}/{src.name}", "mode": "ro"}}, f"{CODE_DIR}/{src.name}", staged
        return {str(src.parent): {"bind": CODE_DIR, "mode": "ro"}}, f"{CODE_DIR}/{src.name}", staged

    def _rewrite_store(self, spec: dict[str, Any], volumes: dict[str, dict[str, str]]) -> dict[str, Any]:
        """The store spec as the container sees it; adds the directory store's bind mount to ``volumes``."""
        spec = dict(spec)
        kind = spec.get("kind")
        if kind == "faulty" and isinstance(spec.get("inner"), dict):
            spec["inner"] = self._rewrite_store(spec["inner"], volumes)
        elif kind == "s3" and spec.get("endpoint"):
            parts = urlsplit(str(spec["endpoint"]))
            if (parts.hostname or "") in LOOPBACK_HOSTS and not self.in_container:
                netloc = self.gateway + (f":{parts.port}" if parts.port else "")
                spec["endpoint"] = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        elif kind == "dir":
            root = self.swap_root or spec.get("root")
            if root:
                root = str(Path(root).resolve())
                self._prepare_swap_root(Path(root))
                volumes[root] = {"bind": root, "mode": "rw"}
                spec["root"] = root
        return spec

    def _prepare_swap_root(self, root: Path) -> None:
        """Make the directory store's root exist and writable for the container user."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            ids = self._uid_gid()
            st = root.stat()
            if ids is not None and os.geteuid() == 0:
                if (st.st_uid, st.st_gid) != ids:
                    os.chown(root, *ids)
            elif not st.st_mode & stat.S_IWOTH:
                os.chmod(root, 0o777)
            # the root's parents need no change: in the container they are directories the engine made
        except OSError as exc:
            raise BackendError(f"cannot make the swap directory {root} usable by the containers ({exc})") from None

    def container_name(self, spec: ProcessSpec) -> str:
        """``praas-<app>-<proc>-<incarnation>``."""
        return f"praas-{spec.app}-{spec.proc}-{spec.incarnation}"

    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> dict[str, Any]:
        if self._closed:
            raise BackendError("the docker backend is closed")
        image = spec.image or self.image
        self._check_image(image)
        name = self.container_name(spec)
        volumes: dict[str, dict[str, str]] = {}
        env = {k: v for k, v in spec.env.items() if k != "PRAAS_PARENT_PID"}
        if env.get("PRAAS_SWAP_STORE"):
            try:
                store = json.loads(env["PRAAS_SWAP_STORE"])
            except ValueError:
                raise BackendError("PRAAS_SWAP_STORE is not valid JSON") from None
            env["PRAAS_SWAP_STORE"] = json.dumps(self._rewrite_store(store, volumes))
        staged = None
        archive = None
        if spec.code and self.code_transfer == "copy":
            src = Path(spec.code)
            if not src.exists():
                raise BackendError(f"application code {spec.code!r} does not exist")
            archive = self._code_archive(src)
            env["PRAAS_CODE"] = f"{CODE_DIR}/{src.name}"
        elif spec.code:
            code_volumes, env["PRAAS_CODE"], staged = self._code_mount(spec.code, spec.incarnation)
            volumes.update(code_volumes)
        env.update({"PRAAS_BIND": f"tcp://*:{DATA_PORT}", "PRAAS_STATE_DIR": STATE_DIR,
                    "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "2"})
        labels = {self._label(): "1", self._label("app"): spec.app, self._label("process"): spec.proc,
                  self._label("incarnation"): spec.incarnation, self._label("owner"): self.owner}
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
        errors = self._docker.errors
        try:
            try:
                container = self.client.containers.create(image, **kwargs)
            except errors.NotFound as exc:
                if "network" not in str(exc).lower():
                    raise
                self.network = self._ensure_network()  # removed by another backend's close(): recreate
                container = self.client.containers.create(image, **kwargs)
        except errors.ImageNotFound:
            self._images_ok.discard(image)
            self._remove_staged(staged)
            raise BackendError(f"Docker image {image!r} not found; {BUILD_HINT}") from None
        except self._engine_errors as exc:
            self._remove_staged(staged)
            raise BackendError(f"cannot create container {name}: {exc}") from None
        with self._lock:
            self._tracked[container.id] = _Tracked(name, on_exit, staged_code=staged)
        try:
            if archive is not None and not container.put_archive(CODE_DIR, archive):
                raise BackendError(f"the engine refused the application code for {name}")
            container.start()
        except (BackendError, *self._engine_errors) as exc:
            with self._lock:
                self._tracked.pop(container.id, None)
            with contextlib.suppress(*self._engine_errors):
                container.remove(force=True)
            self._remove_staged(staged)
            raise BackendError(f"cannot start container {name}: {exc}") from None
        log.info("started %s (%s) for %s/%s", name, container.short_id, spec.app, spec.proc)
        return {"container": container.id, "name": name, "image": image, "network": self.network_name,
                "owner": self.owner}

    # ================================================================ stop, kill, recover
    def _container_id(self, handle: dict[str, Any] | None) -> str | None:
        if not handle:
            return None
        cid = handle.get("container") or handle.get("name")
        return str(cid) if cid else None

    @staticmethod
    def _remove_staged(staged: str | None) -> None:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)

    def stop(self, handle: dict[str, Any], grace: float = 5.0) -> None:
        """Wait up to ``grace`` s for the container to exit by itself, then stop it (SIGTERM, SIGKILL after
        2 s) and remove it. A container that is already gone is fine."""
        cid = self._container_id(handle)
        if cid is None:
            return
        errors = self._docker.errors
        with self._lock:
            tracked = self._tracked.get(cid)
        if tracked is not None:
            tracked.exited.wait(max(0.0, grace))
        else:
            with contextlib.suppress(*self._engine_errors):  # a timeout is requests' ReadTimeout
                self.client.api.wait(cid, timeout=max(0.1, grace))
        if tracked is None or not tracked.exited.is_set():
            try:
                self.client.api.stop(cid, timeout=2)  # SIGTERM, SIGKILL after 2 s
            except errors.NotFound:
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
        with self._lock:
            tracked = self._tracked.get(cid)
        if tracked is not None:
            self._remove_staged(tracked.staged_code)
            if tracked.exited.wait(10):  # its exit is reported from the die event
                with self._lock:
                    self._tracked.pop(cid, None)

    def kill(self, handle: dict[str, Any]) -> None:
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

    def recover(self, handle: dict[str, Any]) -> None:
        """Remove a container left from an earlier control plane (best effort)."""
        cid = self._container_id(handle)
        if cid is None:
            return
        try:
            self._remove(cid)
        except BackendError as exc:
            log.warning("recovering %s: %s", cid[:12], exc)

    # ================================================================ observation
    def logs(self, handle: dict[str, Any], tail: int = 40) -> str:
        cid = self._container_id(handle)
        if cid is None:
            return ""
        try:
            out = self.client.api.logs(cid, stdout=True, stderr=True, tail=tail)
        except self._engine_errors:
            return ""
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def inspect(self, handle: dict[str, Any]) -> dict[str, Any]:
        """``{"container", "name", "image", "nano_cpus", "memory", "memory_swap", "pids_limit", "user",
        "mounts", "networks", "status"}`` from the engine's inspect of the container."""
        cid = self._container_id(handle)
        if cid is None:
            raise BackendError("no container in the process handle")
        try:
            a = self.client.api.inspect_container(cid)
        except self._docker.errors.NotFound:
            raise BackendError(f"container {cid[:12]} does not exist") from None
        except self._engine_errors as exc:
            raise BackendError(f"cannot inspect container {cid[:12]}: {exc}") from None
        host = a.get("HostConfig", {})
        nets = a.get("NetworkSettings", {}).get("Networks", {}) or {}
        return {
            "container": a["Id"], "name": a.get("Name", "").lstrip("/"), "image": a.get("Config", {}).get("Image"),
            "status": a.get("State", {}).get("Status"),
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
        errors = self._docker.errors
        try:
            for c in list(self.containers()):
                try:
                    c.remove(force=True)
                except errors.NotFound:
                    pass
                except self._engine_errors as exc:
                    log.warning("removing container %s: %s", c.name, exc)
        except self._engine_errors as exc:
            log.warning("listing the containers to remove: %s", exc)
        # let the die events of the removed containers arrive, so every on_exit is called once
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if all(t.exited.is_set() for t in self._tracked.values()):
                    break
            time.sleep(0.05)
        self._closed = True
        with contextlib.suppress(Exception):
            self._events.close()
        with self._lock:
            tracked = list(self._tracked.values())
            self._tracked.clear()
        for t in tracked:
            self._remove_staged(t.staged_code)
        if self._created_network:
            try:
                self.network.reload()
                if not self.network.attrs.get("Containers"):
                    self.network.remove()
                    log.info("removed Docker network %s", self.network_name)
            except errors.NotFound:
                pass
            except self._engine_errors as exc:
                log.info("Docker network %s kept: %s", self.network_name, exc)
        with contextlib.suppress(Exception):
            self.client.close()


__all__ = ["DockerBackend"]
