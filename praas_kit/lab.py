"""What the notebooks share: their parameters, a deployment per backend, and an environment check.

* :func:`default_quick` / :func:`default_backend`: the defaults of a notebook's ``parameters`` cell, from
  ``PRAAS_QUICK`` (``0`` for full mode) and ``PRAAS_BACKEND`` (``local`` | ``docker``; unset: docker when
  the engine and images are there), so ``PRAAS_BACKEND=local pytest --nbval-lax notebooks/`` runs the
  series without Docker.
* :func:`deployment`: a control plane for a backend, as a context manager that tears everything down.
* :func:`control_plane_container`: the control plane as a container (as the lab and Swarm run it), once.
* :func:`environment`: what this machine offers the series (Docker engine, images, TeX, Redis, Swift S3),
  as rows of (component, available, detail).
* :func:`scale_out_backend`, :func:`scale_out_storage`, :func:`swarm_services`, :func:`leftovers`,
  :func:`save_kmeans_runs`: notebook 08 (scale out on Docker Swarm, or on the local backend where Swarm cannot
  be used).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument

BACKENDS = ("local", "docker")
#: the shipped example applications: ``PRAAS_EXAMPLES`` (the Docker lab sets it), else the source checkout's
EXAMPLES = Path(os.environ.get("PRAAS_EXAMPLES") or Path(__file__).resolve().parents[1] / "examples")


def default_quick() -> bool:
    """Quick mode unless ``PRAAS_QUICK`` is ``0``/``false``/``no``."""
    return os.environ.get("PRAAS_QUICK", "1").strip().lower() not in ("0", "false", "no")


def default_backend() -> str:
    """``PRAAS_BACKEND`` if set (checked); else ``docker`` when a Docker engine with the process image is
    reachable, ``local`` otherwise."""
    backend = os.environ.get("PRAAS_BACKEND", "").strip().lower()
    if not backend:
        return "docker" if docker_ready() else "local"
    if backend not in BACKENDS:
        raise InvalidArgument(f"PRAAS_BACKEND={backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


def docker_ready() -> bool:
    """Whether a Docker engine answers and has the process image (``praas images build``)."""
    try:
        from praas_kit.engines import docker as docker_engine
        from praas_kit.engines import images as image_names

        client = docker_engine.connect()
        try:
            client.images.get(image_names.PROCESS)
            return True
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no SDK, no engine, no image: not ready
        return False


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
            labels={"praas-kit": "1"}, environment={"PRAAS_BACKEND": "local", "PRAAS_TOKEN": token},
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


def swarm_ready() -> bool:
    """Whether notebook 08 can deploy on Docker Swarm here: an engine answers, has the process, S3 and Redis
    images, and is not a Swarm worker (a manager, or in no Swarm yet: the deployment initialises one)."""
    try:
        from praas_kit.engines import docker as docker_engine
        from praas_kit.engines import images as image_names
        from praas_kit.engines import swarm as swarm_engine

        client = docker_engine.connect()
        try:
            if not all(docker_engine.image_exists(client, ref)
                       for ref in (image_names.PROCESS, image_names.S3, image_names.REDIS)):
                return False
            st = swarm_engine.node_state(client)
            return st.get("LocalNodeState") != "active" or bool(st.get("ControlAvailable"))
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no SDK, no engine, an engine error: not ready
        return False


def scale_out_backend(requested: str | None = None) -> str:
    """The backend of notebook 08. ``requested`` (default ``PRAAS_BACKEND``): ``local`` gives ``local``; unset,
    ``docker`` or ``swarm`` give ``swarm`` when :func:`swarm_ready`, else ``local``, so that the series still runs
    top to bottom without Docker."""
    backend = (os.environ.get("PRAAS_BACKEND", "") if requested is None else requested).strip().lower()
    if backend not in ("", "swarm", *BACKENDS):
        raise InvalidArgument(f"PRAAS_BACKEND={backend!r}: use one of {', '.join((*BACKENDS, 'swarm'))}")
    return "swarm" if backend != "local" and swarm_ready() else "local"


def scale_out_storage(cp: Any, stack: ExitStack) -> tuple[Any, str | None]:
    """The S3 server and Redis URL of notebook 08, as ``praas bench kmeans`` picks them: the deployment's own
    (a swarm deployment's S3 and Redis services), else a Swift S3 server and a ``redis-server`` started on this
    machine and stopped when ``stack`` closes (the local backend)."""
    from praas_kit.bench import kmeans

    return kmeans._storage(cp, stack)


def _swarm_rows(client: Any, cp: Any) -> list[dict[str, str]]:
    from praas_kit.engines import swarm as swarm_engine

    owner = getattr(cp.controller.backend, "owner", None)
    if not swarm_engine.is_manager(client):  # no Swarm (any more): no services
        return []
    nodes: dict[str, str] = {}
    rows = []
    for svc in client.api.services(filters={"label": "praas-kit"}):
        if svc["ID"] not in cp.services and svc["Spec"].get("Labels", {}).get("praas-kit.owner") != owner:
            continue
        tasks = sorted(client.api.tasks(filters={"service": svc["ID"]}),
                       key=lambda t: t.get("Version", {}).get("Index", 0))
        last = tasks[-1] if tasks else {}
        status = last.get("Status", {})
        ports = (status.get("PortStatus") or {}).get("Ports") or []
        node = last.get("NodeID")
        if node and node not in nodes:
            nodes[node] = swarm_engine.node_address(client, node)
        where = f"{nodes[node]}:{ports[0]['PublishedPort']}" if ports and node else "–"
        rows.append({"service": svc["Spec"]["Name"],
                     "image": svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
                     "task": status.get("State", "–"), "published at": where})
    return sorted(rows, key=lambda r: r["service"])


def swarm_services(cp: Any) -> list[dict[str, str]]:
    """The Swarm services of a :func:`praas_kit.swarm_deployment` ``cp`` (its storage services and its
    processes' services, nothing else on the Swarm): service, image, state of its last task, and where its port
    is published (node address: port, what clients and peers connect to)."""
    from praas_kit.engines import docker as docker_engine

    client = docker_engine.connect()
    try:
        return _swarm_rows(client, cp)
    finally:
        client.close()


def _live_children() -> list[str]:
    """The live (not zombie) child processes of this Python process, as ``pid command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command, fields = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            parts = fields.split()
            if int(parts[1]) == os.getpid() and parts[0] != "Z":
                found.append(f"{entry.name} {command.split('(', 1)[1]}")
    return found


def leftovers(cp: Any) -> list[str]:
    """What a closed notebook-08 deployment ``cp`` left behind (empty: nothing). A
    :func:`praas_kit.swarm_deployment`: its services, its overlay network, and the Swarm if the deployment
    initialised it and nothing else holds it any more. Otherwise (the local backend): processes this Python
    process started that still run (runtimes, S3 and Redis servers)."""
    if not hasattr(cp, "services"):
        return [f"process {c}" for c in _live_children()]
    from praas_kit.engines import docker as docker_engine
    from praas_kit.engines import swarm as swarm_engine

    client = docker_engine.connect()
    try:
        left = [f"service {r['service']}" for r in _swarm_rows(client, cp)]
        left += [f"network {n.name}" for n in client.networks.list(names=[cp.network]) if n.name == cp.network]
        st = swarm_engine.node_state(client)
        if st.get("LocalNodeState") == "active" and st.get("ControlAvailable"):
            labels = client.api.inspect_node(st["NodeID"]).get("Spec", {}).get("Labels") or {}
            if labels.get(swarm_engine.CREATED_LABEL) and not any(k.startswith(swarm_engine.LEASE_PREFIX)
                                                                  for k in labels):
                left.append("the Swarm it initialised")
        return left
    finally:
        client.close()


def save_kmeans_runs(runs: list[Any], out: Path, backend: str, params: dict[str, Any] | None = None) -> Path:
    """Write k-means runs made with :class:`praas_kit.apps.kmeans.KMeans` (a list of its ``RunResult``) as the
    ``praas bench kmeans`` CSV (``<out>/kmeans.csv`` + metadata: per variant and points per worker, the wall time
    and the Σ of every phase over the workers), so that :mod:`praas_kit.bench.kmeans`'s ``plot``, ``comparison``
    and ``format_medians`` read them; the CSV's path."""
    from praas_kit.bench import kmeans
    from praas_kit.bench.common import Row, save

    rows: dict[tuple[str, str, int], Row] = {}

    def add(experiment: str, run: Any, value: float) -> None:
        n = run.dataset.points_per_worker
        extra = {"backend": backend, "workers": run.dataset.workers, "epochs": run.epochs, "k": run.k}
        row = rows.setdefault((experiment, run.variant, n), Row(
            experiment, run.variant, n, "requests" if experiment == "kmeans-requests" else "s", extra=extra))
        row.values.append(value)

    for run in runs:
        add("kmeans", run, run.wall_s)
        for phase, seconds in run.phases.items():
            add(f"kmeans-{phase}", run, seconds)
        add("kmeans-requests", run, float(sum(r.requests for r in run.reports)))
        add(kmeans.EXCHANGE, run, run.exchange)
    ordered = [r for e in kmeans.MEASURED for r in rows.values() if r.experiment == e]
    csv_path, _ = save(ordered, Path(out), "kmeans", {"backend": backend, **(params or {})})
    return csv_path


def results_dir(benchmark: str, backend: str, quick: bool) -> Path:
    """Where a notebook writes a benchmark's results: ``results/quick/<benchmark>/<backend>`` in quick mode
    (not committed), ``results/<benchmark>/<backend>`` in full mode (the committed full runs)."""
    root = Path(__file__).resolve().parents[1] / "results"
    return (root / "quick" if quick else root) / benchmark / backend


def containers(network: str | None = None) -> list[dict[str, str]]:
    """The running containers praas-kit started (label ``praas-kit``), only those on the Docker ``network`` if
    given (a deployment's: ``cp.network``): name, image, status."""
    from praas_kit.engines import docker as docker_engine

    client = docker_engine.connect()
    filters = {"label": "praas-kit", **({"network": network} if network else {})}
    try:
        return [{"name": c.name, "image": (c.image.tags or [c.image.short_id])[0], "status": c.status}
                for c in client.containers.list(filters=filters)]
    finally:
        client.close()


@dataclass(frozen=True)
class Component:
    """One thing the series may use."""

    name: str
    available: bool
    detail: str
    needed_for: str


def _which(*names: str) -> str | None:
    for n in names:
        found = shutil.which(n) or next((str(Path(d, n)) for d in ("/usr/bin", "/usr/sbin") if Path(d, n).exists()),
                                        None)
        if found:
            return found
    return None


def environment() -> list[Component]:
    """What this machine offers: Docker engine and images, TeX, redis-server, Swift (the S3 server)."""
    from praas_kit.engines import images as image_names

    out = []
    engine, images = False, "no engine"
    try:
        from praas_kit.engines import docker as docker_engine

        client = docker_engine.connect()
        version = client.version().get("Version", "?")
        engine = True
        have = {t for i in client.images.list() for t in i.tags}
        missing = [ref for ref in (image_names.PROCESS, image_names.LATEX, image_names.S3, image_names.REDIS)
                   if ref not in have]
        images = "all built" if not missing else "missing: " + ", ".join(missing) + " (praas images build)"
        client.close()
        out.append(Component("Docker engine", True, f"version {version}", "the docker backend"))
    except Exception as exc:  # noqa: BLE001 - reported as unavailable
        out.append(Component("Docker engine", False, str(exc).splitlines()[0][:120], "the docker backend"))
    out.append(Component("praas images", engine and images == "all built", images, "the docker backend"))
    tex = _which("latexmk")
    detail = "not installed (apt-get install latexmk texlive-latex-extra texlive-publishers ...)"
    if tex:
        done = subprocess.run([tex, "-v"], capture_output=True, text=True, timeout=30)
        detail = (done.stdout.strip().splitlines() or ["latexmk"])[-1]
    out.append(Component("TeX (latexmk)", tex is not None, detail, "the LaTeX service on the local backend"))
    redis = _which("redis-server")
    out.append(Component("redis-server", redis is not None, redis or "not installed (apt-get install redis-server)",
                         "Redis baselines on the local backend"))
    swift = _which("swift-proxy-server")
    out.append(Component("Swift S3 server", swift is not None,
                         swift or "not installed (apt-get install swift swift-proxy swift-account ...)",
                         "S3 baselines and the FaaS LaTeX variant on the local backend"))
    return out


def environment_table(components: list[Component] | None = None) -> str:
    """:func:`environment` as Markdown (for ``IPython.display.Markdown``)."""
    rows = components if components is not None else environment()
    lines = ["| component | available | detail | needed for |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.available else '**no**'} | {c.detail} | {c.needed_for} |" for c in rows]
    return "\n".join(lines)


__all__ = ["default_quick", "default_backend", "docker_ready", "containers", "EXAMPLES", "deployment", "results_dir",
           "environment", "environment_table", "Component", "BACKENDS", "swarm_ready", "scale_out_backend",
           "scale_out_storage", "swarm_services", "leftovers", "save_kmeans_runs"]
