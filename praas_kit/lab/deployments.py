"""The deployments the notebooks use: a control plane per backend (:func:`deployment`), the control plane as a
container the way the lab and Swarm run it (:func:`control_plane_container`), and the containers praas-kit
started (:func:`containers`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from praas_kit.engines.images import LABEL
from praas_kit.errors import InvalidArgument
from praas_kit.lab.parameters import BACKENDS, EXAMPLES


@contextmanager
def deployment(backend: str, **options: Any) -> Iterator[Any]:
    """A connected client owning a control plane on ``backend``: ``local`` (embedded, no Docker) or ``docker``
    (control plane plus S3 and Redis containers on a network of its own). Everything it started is removed
    when the block ends, also after an error."""
    import praas_kit

    if backend not in BACKENDS:
        raise InvalidArgument(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "docker":
        with praas_kit.docker_deployment(swap=options.pop("swap", "s3"), redis=options.pop("redis", True),
                                         **options) as cp:
            yield cp
    else:
        with praas_kit.local(**options) as cp:
            yield cp


@contextmanager
def control_plane_container(timeout: float = 60.0) -> Iterator[Any]:
    """The control plane as a container, the way ``docker/compose.yaml`` (the lab) and ``docker/stack.yaml``
    (Swarm) run it: the ``praas-controlplane`` image serving ``praas serve`` on a port published on 127.0.0.1
    only, with a fresh token. Its processes are OS processes inside that container (``PRAAS_BACKEND=local``), so
    clients reach them through the control plane (REST), not directly; :data:`EXAMPLES` is mounted read-only at
    the same path, so ``code=lab.EXAMPLES / ...`` names the same files inside. Yields a connected client
    (REST only); the container is removed when the block ends, also after an error."""
    import secrets
    import time
    import uuid

    from praas_kit.engines import docker as docker_engine
    from praas_kit.engines import images as image_names
    from praas_kit.errors import PraasError
    from praas_kit.sdk.client import ControlPlaneClient

    engine = docker_engine.connect()
    token = secrets.token_urlsafe(24)
    container = None
    try:
        container = engine.containers.run(
            image_names.CONTROLPLANE, detach=True, name=f"praas-controlplane-{uuid.uuid4().hex[:8]}",
            labels={LABEL: "1"}, environment={"PRAAS_BACKEND": "local", "PRAAS_TOKEN": token},
            ports={"8080/tcp": ("127.0.0.1", None)},
            volumes={str(EXAMPLES): {"bind": str(EXAMPLES), "mode": "ro"}})
        deadline = time.monotonic() + timeout
        while True:
            container.reload()
            published = (container.ports.get("8080/tcp") or [{}])[0].get("HostPort")
            if published:
                client = ControlPlaneClient(f"http://127.0.0.1:{published}", token, gateway=False)
                try:
                    client.healthz()
                    break
                except (PraasError, OSError):
                    client.close()
            if container.status == "exited" or time.monotonic() > deadline:
                logs = container.logs(tail=20).decode(errors="replace")
                raise PraasError(f"the control-plane container did not answer within {timeout:.0f} s:\n{logs}")
            time.sleep(0.2)
        with client:
            yield client
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - best effort: the engine may have removed it already
                pass
        engine.close()


def containers(network: str | None = None) -> list[dict[str, str]]:
    """The running containers praas-kit started (label ``praas-kit``), only those on the Docker ``network`` if
    given (a deployment's: ``cp.network``): name, image, status."""
    from praas_kit.engines import docker as docker_engine

    client = docker_engine.connect()
    filters = {"label": LABEL, **({"network": network} if network else {})}
    try:
        return [{"name": c.name, "image": (c.image.tags or [c.image.short_id])[0], "status": c.status}
                for c in client.containers.list(filters=filters)]
    finally:
        client.close()


__all__ = ["deployment", "control_plane_container", "containers"]
