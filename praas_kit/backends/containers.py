"""What the container backends (``docker`` and ``swarm``) share: where the runtime lives in its
container, how it is labelled, how a swap store reaches it, and the code check in a throw-away container.

A runtime in a container binds ``tcp://*:8000`` (:data:`DATA_PORT`), keeps its state in ``/state``
and reads its secrets from ``/run/praas/secrets.json``; :func:`runtime_env` amends a
:class:`~praas_kit.process.config.ProcessConfig` accordingly. :class:`StoreHost` is the
:class:`~praas_kit.storage.base.ProcessHost` a container start offers a swap store: a host directory
bind-mounted at the same path, and server URLs whose loopback host is replaced by an address the
containers reach.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from praas_kit.backends import docker_code
from praas_kit.backends.base import CODE_CHECK_TIMEOUT, ProcessSpec, parse_code_check
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.engines.images import DATA_PORT, RUNTIME_PYTHON, SECRETS_FILE, STATE_DIR
from praas_kit.errors import BackendError, InvalidArgument

log = logging.getLogger("praas_kit.backends.containers")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


class ControlAddress:
    """Mixin of the container backends: the control plane's address, decided when the backend is made
    (``_control_host``: where processes reach it; ``_control_bind``: the interface it binds)."""

    _control_host: str
    _control_bind: str

    @property
    def control_bind(self) -> str:
        return self._control_bind

    @property
    def control_host(self) -> str:
        return self._control_host


def runtime_env(spec: ProcessSpec, code: str | None) -> dict[str, str]:
    """The environment of the runtime of ``spec`` in a container, with its code at ``code`` (a path in the
    container, or ``None``)."""
    cfg = spec.config.replace(bind=f"tcp://*:{DATA_PORT}", state_dir=Path(STATE_DIR), parent_pid=None,
                              code=code, secrets_file=Path(SECRETS_FILE))
    return cfg.to_env() | {"PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "2"}


def process_labels(prefix: str, spec: ProcessSpec, owner: str) -> dict[str, str]:
    """``<prefix>=1`` plus the process's app, name, incarnation and the owning backend instance."""
    return {prefix: "1", f"{prefix}.app": spec.app, f"{prefix}.process": spec.proc,
            f"{prefix}.incarnation": spec.incarnation, f"{prefix}.owner": owner}


def reach_url(url: str, host: str) -> str:
    """``url`` with a loopback host replaced by ``host`` (the address containers reach the control plane's
    machine at); other URLs unchanged."""
    parts = urlsplit(url)
    if (parts.hostname or "") not in LOOPBACK_HOSTS:
        return url
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def prepare_shared_dir(root: Path, run_as: str) -> None:
    """Make a directory that containers share with the host exist and writable for the container user."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        ids = docker_code.parse_user(run_as)
        st = root.stat()
        if ids is not None and os.geteuid() == 0:
            if (st.st_uid, st.st_gid) != ids:
                os.chown(root, *ids)
        elif not st.st_mode & stat.S_IWOTH:
            os.chmod(root, 0o777)
    except OSError as exc:
        raise BackendError(f"cannot make the shared directory {root} usable by the containers ({exc})") from None


class StoreHost:
    """What one container start offers a swap store (:class:`~praas_kit.storage.base.ProcessHost`).

    ``bind(path)`` records a bind mount of the host directory ``path`` at the same path; ``host`` is the
    address that replaces a loopback host in a server URL (``None``: URLs unchanged, e.g. a control plane
    that itself runs in a container).
    """

    def __init__(self, run_as: str, bind: Callable[[str], None], host: str | None) -> None:
        self.run_as, self.bind, self.host = run_as, bind, host

    def share_directory(self, path: Path) -> str:
        root = str(Path(path).resolve())
        prepare_shared_dir(Path(root), self.run_as)
        self.bind(root)
        return root

    def reach(self, url: str) -> str:
        return url if self.host is None else reach_url(url, self.host)


def own_ip_on_network(me: Any, network: Any) -> str | None:
    """The IP on ``network`` of the container ``me`` this control plane runs in (attached to the network if
    it is not; ``None`` with a warning when it cannot join)."""
    ip = docker_engine.container_ip(me, network.name)
    if ip is None:
        try:
            network.connect(me)
            log.info("attached this control plane's container %s to network %s", me.name, network.name)
        except docker_engine.engine_errors() as exc:
            log.warning("the control plane's container %s is not on network %s and cannot join it (%s): "
                        "processes will not reach it; set control_host", me.name, network.name, exc)
        ip = docker_engine.container_ip(me, network.name)
    return ip


def check_image(client: Any, image: str, known: set[str]) -> None:
    """:class:`BackendError` (saying how to build it) unless the engine has ``image``; ``known`` caches hits."""
    if image in known:
        return
    if not docker_engine.image_exists(client, image):
        raise BackendError(f"Docker image {image!r} not found; {image_names.BUILD_HINT}")
    known.add(image)


def check_code_in_container(client: Any, image: str, code: str, run_as: str, labels: dict[str, str]) -> list[str]:
    """The code check (:meth:`~praas_kit.backends.base.Backend.check_code`) in a throw-away container of
    ``image`` on the engine of ``client``: no network, the process user, the code copied in, so user code
    never runs on the control plane's host."""
    src = Path(code)
    if not src.exists():
        raise InvalidArgument(f"application code {code!r} does not exist")
    errors = docker_engine.engine_errors()
    try:
        container = client.containers.create(
            image, entrypoint=[RUNTIME_PYTHON, "-m", "praas_kit.process.codecheck",
                               f"{docker_code.CODE_DIR}/{src.name}"],
            user=run_as, network_disabled=True, labels=labels, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            mem_limit=512 << 20, pids_limit=256)
    except errors as exc:
        raise BackendError(f"cannot create a container to check the application code: {exc}") from None
    try:
        container.put_archive(docker_code.CODE_DIR, docker_code.archive(src))
        container.start()
        container.wait(timeout=CODE_CHECK_TIMEOUT)
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
    except errors as exc:
        raise BackendError(f"checking the application code in a container failed: {exc}") from None
    finally:
        with contextlib.suppress(*errors):
            container.remove(force=True)
    return parse_code_check(stdout, stderr)


__all__ = ["ControlAddress", "LOOPBACK_HOSTS",
           "runtime_env",
           "process_labels", "reach_url", "prepare_shared_dir", "StoreHost", "own_ip_on_network", "check_image",
           "check_code_in_container"]
