"""Notebook 08: scale out on Docker Swarm, or on the local backend where Swarm cannot be used: which backend
(:func:`scale_out_backend`), its storage (:func:`scale_out_storage`), the deployment's Swarm services
(:func:`swarm_services`), what a closed deployment left behind (:func:`leftovers`), and k-means runs saved as
``praas bench kmeans`` saves them (:func:`save_kmeans_runs`)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praas_kit.engines.images import LABEL
from praas_kit.errors import InvalidArgument
from praas_kit.lab.parameters import BACKENDS

if TYPE_CHECKING:
    from praas_kit.deploy.swarm import SwarmDeployment
    from praas_kit.sdk.client import ControlPlaneClient
    from praas_kit.storage.s3_endpoint import S3Endpoint


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


def scale_out_storage(cp: ControlPlaneClient, stack: ExitStack) -> tuple[S3Endpoint | None, str | None]:
    """The S3 endpoint and Redis URL of notebook 08, as ``praas bench kmeans`` picks them
    (:func:`praas_kit.bench.harness.storage`): the deployment's own (a swarm deployment's S3 and Redis services),
    else a Swift S3 server and a ``redis-server`` started on this machine and stopped when ``stack`` closes (the
    local backend)."""
    from praas_kit.bench import harness

    s3, redis_url = harness.storage(cp, stack)
    return s3, redis_url


def _swarm_rows(client: Any, cp: SwarmDeployment) -> list[dict[str, str]]:
    from praas_kit.engines import swarm as swarm_engine

    if not swarm_engine.is_manager(client):  # no Swarm (any more): no services
        return []
    nodes: dict[str, str] = {}
    rows = []
    for svc in client.api.services(filters={"label": LABEL}):
        if svc["ID"] not in cp.services and svc["Spec"].get("Labels", {}).get(f"{LABEL}.owner") != cp.owner:
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


def swarm_services(cp: SwarmDeployment) -> list[dict[str, str]]:
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


def leftovers(cp: ControlPlaneClient) -> list[str]:
    """What a closed notebook-08 deployment ``cp`` left behind (empty: nothing). A
    :func:`praas_kit.swarm_deployment`: its services, its overlay network, and the Swarm if the deployment
    initialised it and nothing else holds it any more. Otherwise (the local backend): processes this Python
    process started that still run (runtimes, S3 and Redis servers)."""
    from praas_kit.deploy.swarm import SwarmDeployment

    if not isinstance(cp, SwarmDeployment):
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


__all__ = ["swarm_ready", "scale_out_backend", "scale_out_storage", "swarm_services", "leftovers", "save_kmeans_runs"]
