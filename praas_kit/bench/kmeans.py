"""Distributed k-means (``praas bench kmeans``, paper §6.5): PraaS channels against FaaS + Redis and FaaS + S3.

``workers`` workers run LambdaML-style k-means (:mod:`praas_kit.apps.kmeans`) over a synthetic HIGGS-like
dataset of ``points_per_worker`` points each, read from S3, for ``epochs`` epochs; the variants differ only in
how the per-epoch partial sums are all-reduced:

* ``praas``: the workers are processes of one application; ``context.send``/``recv`` between them;
* ``redis``: FaaS invocations (pooled processes, through the control plane); ``SET`` + polling ``GET``;
* ``s3``: the same with ``PutObject`` + polling ``GetObject`` (back-off 1, 2, 3... ms, as in the paper).

For every size the dataset is generated into S3 first (untimed), then each variant runs ``warmup`` untimed and
``reps`` timed times, the variants alternating (the order rotating), and their final centroids are checked to be
identical. Samples: the client's wall time of a run (``kmeans``) and, per run, the sums over workers of the
phases ``kmeans-read`` (the shard from S3), ``kmeans-sync`` (the all-reduce, every epoch) and ``kmeans-compute``
(local partials) and ``kmeans-init`` (the initial centroids' broadcast, including the wait for rank 0's read),
``kmeans-exchange`` (the part of ``kmeans-sync`` after the last worker of an epoch published: the all-reduce without
the wait for the slowest worker), and the storage requests of the run (``kmeans-requests``). Rows go to
``<out>/kmeans.csv`` + ``.meta.json``; :func:`plot` draws ``kmeans.png``/``.pdf``; :func:`comparison` sets our
ratios beside the paper's (``datasets/paper/kmeans.csv``).

Storage: on the ``local`` backend a throw-away ``redis-server`` and Swift S3 server on this machine; on a
deployment that has its own (the docker backend's ``storage``), those.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from praas_kit.apps.kmeans.driver import PHASES, VARIANTS
from praas_kit.bench.common import BenchRun, Figure, Row, Target, load_rows, paper_csv, pyplot, rotated, save_figure
from praas_kit.bench.harness import deployment, finish, start, storage
from praas_kit.errors import InvalidArgument

log = logging.getLogger("praas_kit.bench.kmeans")

NAMES = {"praas": "PraaS", "redis": "FaaS + Redis", "s3": "FaaS + S3"}
#: the paper's system for each of our variants (datasets/paper/kmeans.csv)
PAPER_SYSTEMS = {"praas": "praas", "redis": "knative-redis", "s3": "knative-s3"}
EXPERIMENTS = ("kmeans", *(f"kmeans-{p}" for p in PHASES), "kmeans-requests")
#: Σexchange (sync without the wait for the slowest worker); measured since 2026-12-02, so not required of a run
EXCHANGE = "kmeans-exchange"
MEASURED = (*EXPERIMENTS, EXCHANGE)  #: every experiment a run records, in the CSV's order
QUICK_POINTS = [1000, 4000]
FULL_POINTS = [10_000, 25_000, 50_000, 100_000, 200_000]
#: the issue's targets: PraaS faster than both baselines at every size (baseline / PraaS wall time); Σsync of Redis
#: >= 3x PraaS's
TARGETS = {"total": Target(">", 1), "sync": Target(">=", 3.0)}

Cell = tuple[str, str, int]  # experiment, variant, points per worker


def _check_params(points: list[int], workers: int, epochs: int, k: int, reps: int, warmup: int,
                  variants: tuple[str, ...]) -> None:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants or len(set(variants)) != len(variants):
        raise InvalidArgument(f"variants {list(variants)}: choose distinct ones from {', '.join(VARIANTS)}")
    for name, value, low in (("workers", workers, 1), ("epochs", epochs, 1), ("k", k, 1), ("reps", reps, 1),
                             ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgument(f"{name} must be an integer >= {low}, not {value!r}")
    if not points or any(isinstance(n, bool) or not isinstance(n, int) or n < k for n in points):
        raise InvalidArgument(f"points per worker {points} must be integers >= k = {k}")


def run_kmeans_benchmark(out: Path, quick: bool = True, backend: str = "local", dataplane_auth: str = "curve",
                         points: list[int] | None = None, workers: int = 4, epochs: int | None = None, k: int = 8,
                         reps: int | None = None, warmup: int = 1, variants: tuple[str, ...] = VARIANTS,
                         vcpus: float = 1.0, memory_mb: int = 1024) -> BenchRun:
    """Run every variant at every size (``points`` per worker; default :data:`QUICK_POINTS` quick,
    :data:`FULL_POINTS` full) for ``epochs`` epochs (default 5 quick, 20 full) and ``reps`` timed repetitions
    (default 2 quick, 5 full) after ``warmup`` untimed ones; save ``kmeans.csv`` + metadata under ``out`` and draw
    the figure (:func:`plot`, when matplotlib is installed).

    Raises :class:`~praas_kit.errors.InvalidArgument` on a bad parameter or backend (before anything starts) and
    ``RuntimeError`` if the variants' final centroids differ. Every process, application and server this starts
    is removed on return, also after an error.
    """
    from praas_kit.apps.kmeans import DatasetSpec, KMeans

    sizes = list(points or (QUICK_POINTS if quick else FULL_POINTS))
    epochs = epochs if epochs is not None else (5 if quick else 20)
    reps = reps if reps is not None else (2 if quick else 5)
    _check_params(sizes, workers, epochs, k, reps, warmup, variants)
    started = start("kmeans", backend)
    params: dict[str, Any] = {"quick": quick, "backend": backend, "auth": dataplane_auth, "variants": list(variants),
                              "points": sizes, "workers": workers, "epochs": epochs, "k": k, "reps": reps,
                              "warmup": warmup, "process": {"vcpus": vcpus, "memory_mb": memory_mb},
                              "dataset": {}, "centroids": {}}
    extra = {"backend": backend, "auth": dataplane_auth, "workers": workers, "epochs": epochs, "k": k}
    rows: dict[Cell, Row] = {(e, v, n): Row(e, v, n, "requests" if e == "kmeans-requests" else "s",
                                            extra=dict(extra))
                             for n in sizes for v in variants for e in MEASURED}
    with ExitStack() as stack:
        cp = stack.enter_context(deployment(backend, swap="s3", redis=True, dataplane_auth=dataplane_auth))
        s3, redis_url = storage(cp, stack)
        if "redis" in variants and not redis_url:
            raise InvalidArgument(f"the {backend} deployment has no Redis for the redis variant")
        km = stack.enter_context(KMeans(cp, s3, redis_url, workers=workers, vcpus=vcpus, memory_mb=memory_mb))
        bar = tqdm(total=len(sizes) * len(variants) * (warmup + reps), desc=f"kmeans ({backend})", unit="run",
                   leave=False)
        stack.callback(bar.close)
        turn = 0
        for n in sizes:
            spec = DatasetSpec(n, workers)
            bar.set_postfix_str(f"{n} points/worker: generating")
            km.prepare(spec)
            params["dataset"][str(n)] = spec.to_json() | {"shard_bytes": spec.shard_bytes}
            last: dict[str, Any] = {}
            for rep in range(warmup + reps):
                order = rotated(variants, turn)
                turn += 1
                for v in order:
                    bar.set_postfix_str(f"{n} points/worker, {NAMES[v]}")
                    res = km.run(v, spec, k=k, epochs=epochs)
                    last[v] = res.centroids
                    bar.update(1)
                    if rep < warmup:
                        continue
                    rows[("kmeans", v, n)].values.append(res.wall_s)
                    for phase, seconds in res.phases.items():
                        rows[(f"kmeans-{phase}", v, n)].values.append(seconds)
                    rows[(EXCHANGE, v, n)].values.append(res.exchange)
                    rows[("kmeans-requests", v, n)].values.append(float(sum(r.requests for r in res.reports)))
            params["centroids"][str(n)] = _agreement(last)
    return finish(list(rows.values()), out, "kmeans", params, plot, started=started)


def _agreement(centroids: dict[str, Any]) -> dict[str, Any]:
    """Whether every variant's final centroids are identical (``RuntimeError`` if they are not even close)."""
    first = next(iter(centroids.values()))
    diff = max(float(np.max(np.abs(c - first))) for c in centroids.values())
    identical = all(np.array_equal(c, first) for c in centroids.values())
    if not np.allclose(first, [c for c in centroids.values()], rtol=1e-9, atol=1e-9):
        raise RuntimeError(f"the variants' final centroids differ (by up to {diff:g}): {sorted(centroids)}")
    return {"identical": identical, "max_abs_diff": diff}


# ---------------------------------------------------------------------------------------------- analysis
def medians(rows: list[Row]) -> dict[Cell, float]:
    """``{(experiment, variant, points per worker): median}`` of the rows with samples."""
    return {(r.experiment, r.variant, r.size): r.median for r in rows if r.experiment in MEASURED and r.values}


def ratios(rows: list[Row], experiment: str = "kmeans") -> dict[tuple[str, int], float]:
    """``{(baseline, points per worker): baseline median / PraaS median}`` of ``experiment``."""
    m = medians(rows)
    return {(v, n): m[(e, v, n)] / m[(e, "praas", n)] for (e, v, n) in m
            if e == experiment and v != "praas" and m.get((e, "praas", n))}


def paper() -> dict[tuple[str, int], dict[str, float]]:
    """The paper's rows, ``{(our variant, points per worker): {"median", "p1", "p99", "sync", "read",
    "compute"}}`` in seconds (empty outside a source checkout)."""
    ours = {s: v for v, s in PAPER_SYSTEMS.items()}
    out: dict[tuple[str, int], dict[str, float]] = {}
    for r in paper_csv("kmeans.csv"):
        cell = {"median": float(r["median_s"]), "sync": float(r["sum_sync_s"]), "read": float(r["sum_read_s"]),
                "compute": float(r["sum_compute_s"])}
        cell |= {q: float(r[f"{q}_s"]) for q in ("p1", "p99") if r.get(f"{q}_s")}
        out[(ours[r["system"]], int(r["points_per_worker"]))] = cell
    return out


def paper_ratio(baseline: str, n: int, key: str = "median") -> float | None:
    """The paper's baseline / PraaS ratio of ``key`` at ``n`` points per worker (``None`` if it has no such size)."""
    p = paper()
    if (baseline, n) in p and ("praas", n) in p:
        return p[(baseline, n)][key] / p[("praas", n)][key]
    return None


def expected(params: dict[str, Any]) -> set[Cell]:
    """The cells (experiment, variant, points per worker) a run with ``params`` must have measured."""
    return {(e, v, int(n)) for e in EXPERIMENTS for v in params["variants"] for n in params["points"]}


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def summarise(rows: list[Row]) -> list[Figure]:
    """Per size: Redis/PraaS and S3/PraaS total time (target > 1: PraaS faster) and Σsync Redis/PraaS (target
    >= 3x), with the paper's ratio where it measured the same size (its sizes are 100k-1000k)."""
    total, sync, exchange = ratios(rows), ratios(rows, "kmeans-sync"), ratios(rows, EXCHANGE)
    out = []
    for (b, n), v in sorted(total.items(), key=lambda item: (item[0][1], item[0][0])):
        theirs = paper_ratio(b, n)
        note = f" (paper {theirs:.2f}x)" if theirs else ""
        out.append(TARGETS["total"].figure(f"{NAMES[b]} / PraaS, {_k(n)} points/worker", f"{v:.2f}x{note}", v,
                                           "median wall time of a whole run, baseline / PraaS"))
        if b == "redis" and (b, n) in sync:
            s, theirs = sync[(b, n)], paper_ratio(b, n, "sync")
            note = f" (paper {theirs:.2f}x)" if theirs else ""
            out.append(TARGETS["sync"].figure(
                f"Σsync Redis / PraaS, {_k(n)} points/worker", f"{s:.2f}x{note}", s,
                "sum over workers of the all-reduce time (every epoch), median over runs"))
        if b == "redis" and (b, n) in exchange:
            out.append(Figure(f"Σexchange Redis / PraaS, {_k(n)} points/worker", f"{exchange[(b, n)]:.2f}x", "–",
                              None, "Σsync without the wait for the slowest worker: from the last publish of an "
                              "epoch to the end of its all-reduce"))
    return out


def comparison(rows: list[Row]) -> list[dict[str, Any]]:
    """Our ratios beside the paper's, per size: ``{"benchmark": "kmeans", "what", "condition", "ours",
    "paper"}`` for Redis/PraaS and S3/PraaS of the total time and of Σsync (``paper`` is None where the paper has
    no such size)."""
    extra = next((r.extra for r in rows if r.experiment == "kmeans"), {})
    setup = f"{extra.get('workers', '?')} workers, {extra.get('epochs', '?')} epochs"
    out = []
    for experiment, key, label in (("kmeans", "median", ""), ("kmeans-sync", "sync", "Σsync "),
                                   (EXCHANGE, "", "Σexchange ")):
        for (b, n), v in sorted(ratios(rows, experiment).items(), key=lambda item: (item[0][0], item[0][1])):
            theirs = paper_ratio(b, n, key) if key else None  # the paper did not split its sync
            out.append({"benchmark": "kmeans", "what": f"{label}{'Redis' if b == 'redis' else 'S3'}/PraaS",
                        "condition": f"{_k(n)} points/worker ({setup})", "ours": round(v, 3),
                        "paper": None if theirs is None else round(theirs, 3)})
    return out


def format_medians(rows: list[Row]) -> str:
    """Medians per size and variant as a Markdown table: wall time and Σ of each phase (seconds)."""
    m = medians(rows)
    variants = [v for v in VARIANTS if any(c[1] == v for c in m)]
    head = ["| points/worker | variant | wall s | Σread s | Σinit s | Σcompute s | Σsync s | requests | Σexchange s |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    body = []
    for n in sorted({c[2] for c in m}):
        for v in variants:
            cells = [(e, m.get((e, v, n))) for e in MEASURED]
            body.append(f"| {n} | {NAMES[v]} | " + " | ".join(
                "–" if c is None else f"{c:.0f}" if e == "kmeans-requests" else f"{c:.3f}" for e, c in cells) + " |")
    return "\n".join(head + body)


# ---------------------------------------------------------------------------------------------- figure
STYLES = {"praas": "-", "s3": "--", "redis": ":"}
COLORS = {"praas": "tab:green", "redis": "tab:orange", "s3": "tab:red"}
PHASE_COLORS = {"read": "0.65", "init": "0.85", "compute": "tab:blue", "sync": "tab:purple"}
HATCHES = {"praas": "", "redis": "..", "s3": "//"}


def plot(csv_path: Path) -> list[Path]:
    """Draw ``kmeans.png`` and ``kmeans.pdf`` next to ``csv_path`` (a ``kmeans.csv``); the two paths.
    ``ImportError`` without matplotlib.

    Three panels: (1) this run's wall time against points per worker, a line per variant (PraaS solid, FaaS + S3
    dashed, FaaS + Redis dotted, as in the paper's figure), median with a p1–p99 band; (2) this run's breakdown,
    per size a stacked bar per variant of the median Σread, Σinit, Σcompute and Σsync over the workers; (3) the paper's
    figure on AWS (8 workers, 100 epochs, 100k-1000k points per worker), same line styles."""
    plt = pyplot()
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    rows = [r for r in load_rows(csv_path) if r.values]
    m = medians(rows)
    sizes = sorted({r.size for r in rows})
    variants = [v for v in VARIANTS if any(r.variant == v for r in rows)]
    extra = next((r.extra for r in rows), {})
    fig, (lines, bars, theirs) = plt.subplots(1, 3, figsize=(16, 4.8))

    for v in variants:
        cells = sorted((r.size, r) for r in rows if r.experiment == "kmeans" and r.variant == v)
        xs = [n for n, _ in cells]
        lines.plot(xs, [r.median for _, r in cells], STYLES[v], marker="o", markersize=3, color=COLORS[v],
                   label=NAMES[v])
        lines.fill_between(xs, [r.quantile(0.01) for _, r in cells], [r.quantile(0.99) for _, r in cells],
                           color=COLORS[v], alpha=0.2, linewidth=0)
    lines.set_title(f"this run: {extra.get('workers', '?')} workers, {extra.get('epochs', '?')} epochs, "
                    f"k={extra.get('k', '?')}, {extra.get('backend', '?')} backend", fontsize=9)
    lines.set_xlabel("points per worker")
    lines.set_ylabel("time of a run [s] (median, p1–p99)")

    width = 0.8 / max(1, len(variants))
    for i, n in enumerate(sizes):
        for j, v in enumerate(variants):
            x, bottom = i - 0.4 + width * (j + 0.5), 0.0
            for phase in PHASES:
                h = m.get((f"kmeans-{phase}", v, n), 0.0)
                bars.bar(x, h, width, bottom=bottom, color=PHASE_COLORS[phase], hatch=HATCHES[v],
                         edgecolor="black", linewidth=0.4)
                bottom += h
    bars.set_xticks(range(len(sizes)), [f"{n // 1000}k" if n >= 1000 else str(n) for n in sizes])
    bars.set_xlabel("points per worker")
    bars.set_ylabel("Σ over workers [s] (median of runs)")
    bars.set_title("this run: read / init / compute / sync per variant", fontsize=9)
    bars.legend(handles=[Patch(facecolor=PHASE_COLORS[p], label=p) for p in PHASES]
                + [Patch(facecolor="white", edgecolor="black", hatch=HATCHES[v], label=NAMES[v]) for v in variants],
                fontsize=7)

    p = paper()
    for v in VARIANTS:
        pts = sorted((n, cell) for (vv, n), cell in p.items() if vv == v)
        if not pts:
            continue
        xs = [n for n, _ in pts]
        theirs.plot(xs, [c["median"] for _, c in pts], STYLES[v], marker="x", markersize=3, color=COLORS[v],
                    label=f"paper: {NAMES[v].replace('FaaS', 'Knative')}")
        if all("p1" in c and "p99" in c for _, c in pts):
            theirs.fill_between(xs, [c["p1"] for _, c in pts], [c["p99"] for _, c in pts], color=COLORS[v],
                                alpha=0.2, linewidth=0)
    theirs.set_title("paper, AWS EKS (§6.5): 8 workers, 100 epochs", fontsize=9)
    theirs.set_xlabel("points per worker")
    theirs.set_ylabel("time [s]")
    for ax in (lines, theirs):
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.35)
        ax.legend(fontsize=7)
    fig.suptitle("KMeans execution time: PraaS channels vs FaaS with Redis or S3 for the all-reduce", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["run_kmeans_benchmark", "summarise", "expected", "comparison", "plot", "ratios", "medians", "paper",
           "paper_ratio", "format_medians", "VARIANTS", "NAMES", "EXPERIMENTS", "EXCHANGE", "MEASURED", "QUICK_POINTS",
           "FULL_POINTS", "TARGETS"]
