"""Allocation at scale (``praas bench allocation``, paper §6.6): how long it takes to allocate 1 ... N cloud
processes at once, against starting the same number of bare sandboxes of the same image.

Per backend, two systems take turns repetition by repetition:

* ``praas-<backend>``: N threads each call ``app.create_process`` (REST) at once; the time until every call
  returned, i.e. every process is ALLOCATED (runtime started, connected, addressable);
* the baseline: on ``docker`` N concurrent ``docker run -d`` of the process image (SDK ``containers.run``:
  create + start, with the same CPU and memory limits, on the same network), until every container runs;
  on ``swarm`` N concurrent ``docker service create`` (the same image, limits, reservations, network, restart
  policy ``none``, host-mode port and init process), until every task is ``running``; on ``local`` N host
  subprocesses of the same Python interpreter, until each printed a line.

Experiments: ``allocate`` (size = N, the processes allocated at once) and ``cold-start`` (size 1: one
process, create -> ALLOCATED, repeated on its own). Everything a repetition started is removed before the
next one (not timed). A repetition that fails (a process not started within 120 s) is logged and listed in the
metadata's ``failed_repetitions`` instead of ending the run. The paper allocated single pods on EKS with
0/10/20 pods already running (PraaS on Kubernetes about 1.2-1.4 s, 0.96-1.16x a bare Kubernetes pod;
``datasets/paper/allocation.csv``) and drew the mean with a 95% confidence interval; :func:`plot` does the
same (bootstrap CI).

Output: ``<out>/allocation.csv`` (one line per sample) + ``allocation.meta.json``; :func:`plot` draws
``allocation.png``/``.pdf`` next to them.
"""

from __future__ import annotations

import logging
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tqdm.auto import tqdm

from praas_kit.bench import BENCHMARKS
from praas_kit.bench.common import Figure, Row, Target, load_rows, paper_csv, pyplot, run_together, save_figure
from praas_kit.bench.harness import BENCH_APP, deployment, deployment_network, finish, start
from praas_kit.engines import images as image_names
from praas_kit.errors import InvalidArgument, PraasError

if TYPE_CHECKING:
    from praas_kit.bench.common import BenchRun
    from praas_kit.sdk.client import ControlPlaneClient

log = logging.getLogger("praas_kit.bench.allocation")

BACKENDS = BENCHMARKS["allocation"].backends
#: processes allocated at once, per backend (full run)
SIZES = {"local": [1, 5, 10, 20, 50], "docker": [1, 5, 10, 20, 50], "swarm": [1, 5, 10, 20]}
QUICK_SIZES = [1, 5]
BASELINES = {"local": "subprocess", "docker": "docker run", "swarm": "docker service create"}
VCPUS, MEMORY_MB = 0.5, 256  #: every process and baseline sandbox
SWARM_RESERVE = 0.05  #: reserved fraction on swarm, so that 20 processes fit a 2-vCPU node
#: on swarm: the cold start (create -> ALLOCATED), and allocating 20 processes against docker service create of 20
TARGETS = {"cold start": Target("<=", 2.0, " s"), "ratio": Target("<=", 2.0)}
CREATE_TIMEOUT = 120.0  #: seconds one process may take to start in a benchmark run
SLEEPER = [image_names.RUNTIME_PYTHON, "-c", "import time; time.sleep(3600)"]


def praas_variant(backend: str) -> str:
    return f"praas-{backend}"


class _System(Protocol):
    """One of the two systems allocating: N sandboxes at once (the seconds until all run), then cleaned up."""

    def allocate(self, n: int) -> float: ...

    def close(self) -> None: ...


class _Praas:
    """Allocating processes through the control plane (REST ``create_process``)."""

    def __init__(self, cp: ControlPlaneClient) -> None:
        self.app = cp.create_application(f"alloc-{uuid.uuid4().hex[:6]}", code=BENCH_APP)

    def allocate(self, n: int) -> float:
        tag = uuid.uuid4().hex[:6]
        try:
            elapsed, _ = run_together(n, lambda i: self.app.create_process(f"p{i}-{tag}", vcpus=VCPUS,
                                                                            memory_mb=MEMORY_MB))
            return elapsed
        finally:
            self.clean()

    def clean(self) -> None:
        procs = [p.name for p in self.app.processes()]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.app.delete_process, procs))

    def close(self) -> None:
        self.clean()
        self.app.delete()


class _Subprocess:
    """Baseline on ``local``: host subprocesses of this Python, each until it printed a line."""

    def allocate(self, n: int) -> float:
        procs: list[subprocess.Popen[bytes]] = []
        lock = threading.Lock()

        def start(i: int) -> None:
            p = subprocess.Popen([sys.executable, "-c", "print(1, flush=True); import time; time.sleep(3600)"],
                                 stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            with lock:
                procs.append(p)
            assert p.stdout is not None
            p.stdout.readline()

        try:
            return run_together(n, start)[0]
        finally:
            for p in procs:
                p.kill()
                p.wait()

    def close(self) -> None:
        pass


class _DockerRun:
    """Baseline on ``docker``: ``docker run -d`` of the process image (same limits, same network)."""

    def __init__(self, cp: ControlPlaneClient) -> None:
        from praas_kit.engines import docker as docker_engine

        self.client, self.network, self.image = docker_engine.connect(), deployment_network(cp), image_names.PROCESS
        self.label = {image_names.LABEL: "1", f"{image_names.LABEL}.bench": uuid.uuid4().hex[:8]}

    def allocate(self, n: int) -> float:
        memory = MEMORY_MB << 20
        try:
            return run_together(n, lambda i: self.client.containers.run(
                self.image, entrypoint=SLEEPER, detach=True, network=self.network, labels=self.label,
                nano_cpus=int(VCPUS * 1e9), mem_limit=memory, memswap_limit=memory))[0]
        finally:
            self.clean()

    def clean(self) -> None:
        mine = {"label": f"praas-kit.bench={self.label['praas-kit.bench']}"}
        for c in self.client.containers.list(all=True, filters=mine):
            c.remove(force=True)

    def close(self) -> None:
        self.clean()
        self.client.close()


class _ServiceCreate:
    """Baseline on ``swarm``: ``docker service create`` of the process image, until its task runs."""

    def __init__(self, cp: ControlPlaneClient) -> None:
        from praas_kit.engines import docker as docker_engine

        self.client, self.network, self.image = docker_engine.connect(), deployment_network(cp), image_names.PROCESS
        self.tag = uuid.uuid4().hex[:8]
        self.labels = {image_names.LABEL: "1", f"{image_names.LABEL}.bench": self.tag}

    def _create(self, i: int) -> str:
        from praas_kit.engines import docker as docker_engine

        types = docker_engine.docker_sdk().types
        cpus, memory = int(VCPUS * 1e9), MEMORY_MB << 20
        task = types.TaskTemplate(
            types.ContainerSpec(self.image, command=SLEEPER, labels=self.labels, init=True),
            resources=types.Resources(cpu_limit=cpus, mem_limit=memory, cpu_reservation=int(cpus * SWARM_RESERVE),
                                      mem_reservation=int(memory * SWARM_RESERVE)),
            restart_policy=types.RestartPolicy(condition="none"), networks=[self.network])
        endpoint = types.EndpointSpec(mode="dnsrr", ports=[{"TargetPort": 8000, "Protocol": "tcp",
                                                            "PublishMode": "host"}])
        sid: str = self.client.api.create_service(task, name=f"bench-{self.tag}-{i}-{uuid.uuid4().hex[:4]}",
                                                  labels=self.labels, endpoint_spec=endpoint)["ID"]
        while True:
            tasks = self.client.api.tasks(filters={"service": sid})
            if any(t["Status"]["State"] == "running" for t in tasks):
                return sid
            if any(t["Status"]["State"] in ("failed", "rejected") for t in tasks):
                raise InvalidArgument(f"baseline service {sid} failed: {tasks[0]['Status'].get('Err')}")
            time.sleep(0.02)

    def allocate(self, n: int) -> float:
        try:
            return run_together(n, self._create)[0]
        finally:
            self.clean()

    def clean(self) -> None:
        from praas_kit.deploy.swarm import remove_services

        ids = [s["ID"] for s in self.client.api.services(filters={"label": f"praas-kit.bench={self.tag}"})]
        remove_services(self.client, ids)

    def close(self) -> None:
        self.clean()
        self.client.close()


def _baseline(backend: str, cp: ControlPlaneClient) -> _System:
    return _Subprocess() if backend == "local" else _DockerRun(cp) if backend == "docker" else _ServiceCreate(cp)


def run_allocation_benchmark(out: Path, quick: bool = True, backend: str = "local", sizes: list[int] | None = None,
                             reps: int | None = None, cold_reps: int | None = None) -> BenchRun:
    """Allocate N processes at once for each N in ``sizes`` (default 1, 5 quick; else 1 ... 50, up to 20 on
    swarm), ``reps`` times per system (default 2 quick, else 3), and time ``cold_reps`` single cold starts
    (default 2 quick, else 10), on ``backend`` (``local``, ``docker`` or ``swarm``) and its baseline.

    Saves ``allocation.csv`` + ``allocation.meta.json`` under ``out`` and draws ``allocation.png``/``.pdf``.
    Raises :class:`InvalidArgument` for an unknown backend; everything started is removed on exit.
    """
    started = start("allocation", backend)  # the machine may be shared: its load is part of the provenance
    sizes = list(sizes or (QUICK_SIZES if quick else SIZES[backend]))
    reps = reps or (2 if quick else 3)
    cold_reps = cold_reps or (2 if quick else 10)
    ours, base = praas_variant(backend), BASELINES[backend]
    params = {"quick": quick, "backend": backend, "sizes": sizes, "reps": reps, "cold_reps": cold_reps,
              "systems": [ours, base], "vcpus": VCPUS, "memory_mb": MEMORY_MB,
              "swarm_reserve": SWARM_RESERVE if backend == "swarm" else None,
              "measure": "wall time from N concurrent requests until all N are ALLOCATED (PraaS) / running "
                         "(baseline); cold-start: one process"}
    samples: dict[tuple[str, str, int], list[float]] = {}
    failures: list[dict[str, Any]] = []
    # many processes start at once on a small machine: a generous start-up timeout (no swaps happen: a directory)
    options: dict[str, Any] = {"backend_options": {"reserve": SWARM_RESERVE}} if backend == "swarm" else {}
    with deployment(backend, swap="dir", create_timeout=CREATE_TIMEOUT, **options) as cp:
        systems: dict[str, _System] = {ours: _Praas(cp), base: _baseline(backend, cp)}
        try:
            for system in systems.values():
                system.allocate(1)  # warm-up: images in the page cache, the code configs created
            order = list(systems)
            for _ in tqdm(range(cold_reps), desc="cold start", leave=False):
                random.shuffle(order)
                for name in order:
                    samples.setdefault(("cold-start", name, 1), []).append(systems[name].allocate(1))
            for n in tqdm(sizes, desc=f"praas bench allocation ({backend})", unit="size"):
                for _ in range(reps):
                    random.shuffle(order)
                    for name in order:
                        try:
                            samples.setdefault(("allocate", name, n), []).append(systems[name].allocate(n))
                        except PraasError as exc:  # one failed repetition does not void the run; it is recorded
                            log.warning("allocating %d with %s failed: %s", n, name, exc)
                            failures.append({"system": name, "n": n, "error": str(exc)[:300]})
                log.info("allocating %d: %s", n, {k[1]: round(statistics.mean(v), 2)
                                                   for k, v in samples.items() if k[0] == "allocate" and k[2] == n})
        finally:
            for system in systems.values():
                system.close()
    params["failed_repetitions"] = failures
    rows = [Row(e, v, s, "s", values, {"backend": backend}) for (e, v, s), values in samples.items()]
    return finish(rows, out, "allocation", params, plot, started=started)


def expected(params: dict[str, Any]) -> set[tuple[str, str, int]]:
    """The cells (experiment, variant = system, size = N) a run with ``params`` must have measured."""
    systems = params["systems"]
    return ({("allocate", s, int(n)) for s in systems for n in params["sizes"]}
            | {("cold-start", s, 1) for s in systems})


def mean_ci(values: list[float], level: float = 0.95, resamples: int = 2000) -> tuple[float, float, float]:
    """(mean, low, high): the mean with a bootstrap confidence interval (fixed seed: the same data gives the
    same interval), as seaborn draws it."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    rng = random.Random(0)
    boots = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - level) / 2
    return mean, boots[int(tail * resamples)], boots[min(resamples - 1, int((1 - tail) * resamples))]


def _systems(rows: list[Row]) -> tuple[str | None, str | None]:
    ours = next((r.variant for r in rows if r.variant.startswith("praas-")), None)
    base = next((r.variant for r in rows if not r.variant.startswith("praas-")), None)
    return ours, base


def paper_cold_start() -> dict[str, float]:
    """The paper's mean single-pod allocation time (s) with no pods running: ``{system: seconds}``."""
    return {r["system"]: float(r["mean_ms"]) / 1e3 for r in paper_csv("allocation.csv")
            if r["operation"] == "allocation" and r["pods_in_cluster"] == "0"}


def summarise(rows: list[Row]) -> list[Figure]:
    """Cold start (create -> ALLOCATED; target <= 2 s on swarm) beside the baseline's, and allocating N at once
    per N beside the baseline (target on swarm: 20 processes within 2x ``docker service create`` of 20)."""
    by = {(r.experiment, r.variant, r.size): r for r in rows if r.values}
    ours, base = _systems(rows)
    out: list[Figure] = []
    if ours is None:
        return out
    swarm = ours == "praas-swarm"
    cold = by.get(("cold-start", ours, 1))
    if cold is not None:
        mean, lo, hi = mean_ci(cold.values)
        basecold = by.get(("cold-start", base or "", 1))
        extra = f" ({base} {statistics.fmean(basecold.values):.2f} s)" if basecold else ""
        name, measured = f"cold start ({ours})", f"{mean:.2f} s [{lo:.2f}-{hi:.2f}]{extra}"
        meaning = "create -> ALLOCATED, one process; mean [95% CI]"
        out.append(TARGETS["cold start"].figure(name, measured, mean, meaning) if swarm
                   else Figure(name, measured, "", None, meaning))
    for n in sorted({r.size for r in rows if r.experiment == "allocate" and r.variant == ours}):
        mine, theirs = by.get(("allocate", ours, n)), by.get(("allocate", base or "", n))
        if mine is None:
            continue
        name, measured = f"allocate {n} at once ({ours} vs {base})", f"{statistics.fmean(mine.values):.2f} s"
        meaning, ratio = "wall time until all are ALLOCATED / running; means", None
        if theirs is not None:
            ratio = statistics.fmean(mine.values) / statistics.fmean(theirs.values)
            measured += f" vs {statistics.fmean(theirs.values):.2f} s = {ratio:.2f}x"
        out.append(TARGETS["ratio"].figure(name, measured, ratio, meaning, f" {base}")
                   if swarm and n == 20 and ratio is not None else Figure(name, measured, "", None, meaning))
    return out


def comparison(rows: list[Row]) -> list[dict[str, Any]]:
    """PraaS / baseline ratios of mean times: cold start (beside the paper's PraaS-on-Kubernetes / Kubernetes pod
    with no pods running) and allocating N at once (no paper figure)."""
    by = {(r.experiment, r.variant, r.size): r for r in rows if r.values}
    ours, base = _systems(rows)
    if ours is None or base is None:
        return []
    paper = paper_cold_start()
    theirs = paper["praas-k8s"] / paper["kubernetes"] if {"praas-k8s", "kubernetes"} <= set(paper) else None
    out = []
    for (exp, variant, n), row in sorted(by.items()):
        other = by.get((exp, base, n))
        if variant != ours or other is None:
            continue
        what = f"{ours} / {base}, " + ("cold start" if exp == "cold-start" else "allocating N at once")
        out.append({"benchmark": "allocation", "what": what, "condition": f"{n} process" + ("es" if n > 1 else ""),
                    "ours": round(statistics.fmean(row.values) / statistics.fmean(other.values), 2),
                    "paper": round(theirs, 2) if exp == "cold-start" and theirs else None})
    return out


def plot(csv_path: Path) -> list[Path]:
    """Draw ``allocation.png``/``.pdf`` next to ``csv_path``: left, time against the number of processes
    allocated at once, one line per system (mean, 95% CI band), as the paper's figure; right, the cold start
    of one process per system (mean, 95% CI), with the paper's means beside them."""
    plt = pyplot()
    rows = load_rows(csv_path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    for color, system in zip(("tab:blue", "tab:orange"), sorted({r.variant for r in rows}, key=lambda v: not
                                                                   v.startswith("praas-")), strict=False):
        cells = sorted((r.size, mean_ci(r.values)) for r in rows
                       if r.variant == system and r.experiment == "allocate")
        if cells:
            ns = [n for n, _ in cells]
            left.plot(ns, [c[0] for _, c in cells], marker="o", color=color, label=system)
            left.fill_between(ns, [c[1] for _, c in cells], [c[2] for _, c in cells], color=color, alpha=0.2)
    left.set_xlabel("processes allocated at once")
    left.set_ylabel("time until all allocated [s], mean (95% CI)")
    left.grid(alpha=0.35)
    left.legend(fontsize=8)
    labels: list[str] = []
    means: list[float] = []
    errs: list[list[float]] = [[], []]
    colds = sorted((r for r in rows if r.experiment == "cold-start"), key=lambda r: not r.variant.startswith("praas-"))
    for r in colds:
        m, lo, hi = mean_ci(r.values)
        labels.append(r.variant)
        means.append(m)
        errs[0].append(m - lo)
        errs[1].append(hi - m)
    for system, seconds in sorted(paper_cold_start().items()):
        labels.append(f"paper: {system}")
        means.append(seconds)
        errs[0].append(0.0)
        errs[1].append(0.0)
    right.bar(range(len(labels)), means, yerr=errs, capsize=3,
              color=["tab:blue", "tab:orange"][:len(labels)] + ["0.6"] * max(0, len(labels) - 2))
    right.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    right.set_ylabel("cold start [s], mean (95% CI)")
    right.set_title("one process: create -> ALLOCATED", fontsize=9)
    fig.suptitle("Allocation at scale (§6.6)", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["run_allocation_benchmark", "expected", "summarise", "comparison", "plot", "mean_ci", "paper_cold_start",
           "SIZES", "QUICK_SIZES", "BASELINES", "BACKENDS", "TARGETS"]
