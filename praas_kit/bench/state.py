"""Process state against Redis and S3 (``praas bench state``, paper §6.3): a reduction micro-benchmark.

Each invocation sends a vector of ``elements`` int64 values (10 ... 100,000, i.e. 80 B ... 800 KB) to one
process, which adds it into an accumulator and stores the accumulator (:mod:`praas_kit.bench.stateapp`):

* ``praas``: in process state (``ctx.state(key)`` / ``ctx.state(key, acc)``);
* ``redis``: Redis ``GET`` + ``SET`` (the function's connection is opened once per process and reused);
* ``s3``: S3 ``GetObject`` + ``PutObject`` in a bucket of a real S3 server (OpenStack Swift's s3api).

The client issues ``N`` sequential invocations over the data plane (``Process.invoke``) and times all ``N``
together; one sample is that total. Systems alternate in blocks of repetitions (the order rotating from block to
block) so that machine noise hits them alike; each (system, elements) pair is warmed up first, and the
accumulators are checked at the end (the reductions really happened).

Storage: on the ``local`` backend a throw-away ``redis-server`` and ``SwiftS3Server`` on this machine; on the
``docker`` backend the deployment's Redis and S3 containers. Rows go to ``<out>/state.csv`` + ``.meta.json``:
``Row("state", system, elements, "s", [seconds per repetition], {"invocations": N, "backend", "auth"})``, one
per (system, elements, N); the figure (two heatmaps, Redis/PraaS and S3/PraaS median ratios, as in the paper)
to ``state.png`` + ``state.pdf``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench import check_choice
from praas_kit.bench.common import BenchRun, Figure, Row, Target, load_rows, paper_csv, pyplot, rotated, save_figure
from praas_kit.bench.harness import deployment, finish, s3_settings, start, storage
from praas_kit.errors import InvalidArgument

if TYPE_CHECKING:
    from praas_kit.sdk.client import Process

log = logging.getLogger("praas_kit.bench.state")

STATE_APP = Path(__file__).parent / "stateapp.py"
SYSTEMS = ("praas", "redis", "s3")
ELEMENTS = [10, 100, 1000, 10000, 100000]
INVOCATIONS = [1, 10, 25, 50, 100]
QUICK_INVOCATIONS = [1, 10, 25]
FUNCTIONS = {"praas": "reduce_praas", "redis": "reduce_redis", "s3": "reduce_s3"}
NAMES = {"praas": "PraaS", "redis": "Redis", "s3": "S3"}
#: the issue's targets: baseline / PraaS median ratio for inputs of at most SMALL elements (80 KB)
TARGETS = {"redis": Target(">=", 1.5), "s3": Target(">=", 10.0)}
SMALL = 10000
BUCKET = "praas-state-bench"

Cell = tuple[str, int, int]  # system, elements, N


def vector(elements: int) -> bytes:
    """The payload: the little-endian int64 values 1, 2, ..., ``elements`` (its last lane is ``elements``)."""
    return b"".join(i.to_bytes(8, "little") for i in range(1, elements + 1))


def _timed(p: Process, fn: str, payload: bytes, n: int) -> float:
    """Seconds for ``n`` sequential invocations of ``fn`` in ``p`` with ``payload``."""
    t0 = time.perf_counter()
    for _ in range(n):
        p.invoke(fn, payload)
    return time.perf_counter() - t0


def run_state_benchmark(out: Path, quick: bool = True, backend: str = "local", dataplane_auth: str = "curve",
                        elements: list[int] | None = None, invocations: list[int] | None = None,
                        reps: int | None = None, block: int | None = None, warmup: int | None = None,
                        systems: tuple[str, ...] = SYSTEMS) -> BenchRun:
    """Run the reduction for every (elements, N) and system; save ``state.csv`` + ``state.meta.json`` and draw the
    figure (:func:`plot`, when matplotlib is installed).

    ``reps`` repetitions per cell (default 3 quick; 10 full, so that a full run takes about ten minutes, most of
    it S3) are measured in blocks of ``block`` repetitions per system (default 1 quick, 5 full), the systems
    alternating; ``warmup`` untimed invocations per (system,
    elements) come first (default 3 quick, 20 full). Quick mode defaults to N in :data:`QUICK_INVOCATIONS`.
    Raises :class:`~praas_kit.errors.InvalidArgument` on an unknown system or backend and ``RuntimeError`` if
    an accumulator does not hold the sum of what was sent.
    """
    started = start("state", backend)
    check_choice("systems", systems, SYSTEMS)
    sizes = list(elements or ELEMENTS)
    ns = list(invocations or (QUICK_INVOCATIONS if quick else INVOCATIONS))
    if min(sizes) < 1 or min(ns) < 1 or (reps is not None and reps < 1):
        raise InvalidArgument(f"elements {sizes}, invocations {ns} and reps {reps} must be at least 1")
    reps = reps or (3 if quick else 10)
    block = max(1, min(block or (1 if quick else 5), reps))
    warmup = warmup if warmup is not None else (3 if quick else 20)
    params: dict[str, Any] = {"quick": quick, "backend": backend, "auth": dataplane_auth, "systems": list(systems),
                              "elements": sizes, "invocations": ns, "reps": reps, "block": block, "warmup": warmup,
                              "process": {"vcpus": 1.0, "memory_mb": 2048}, "bucket": BUCKET}
    extra = {"backend": backend, "auth": dataplane_auth}
    rows: dict[Cell, Row] = {(s, e, n): Row("state", s, e, "s", extra={"invocations": n, **extra})
                             for e in sizes for n in ns for s in systems}
    with ExitStack() as stack:
        cp = stack.enter_context(deployment(backend, swap="s3", redis="redis" in systems,
                                            dataplane_auth=dataplane_auth))
        where = storage(cp, stack, s3="s3" in systems, redis="redis" in systems)
        setup: dict[str, Any] = {}
        if "redis" in systems:
            setup["redis_url"] = where.redis_url
        if "s3" in systems and where.s3 is not None:
            setup["s3"] = s3_settings(where.s3, BUCKET)
        app = cp.create_application("state", code=STATE_APP)
        p = app.create_process("reducer", vcpus=1.0, memory_mb=2048)
        configured = p.invoke("state_setup", setup, timeout=120).json()
        log.info("state benchmark on %s: process %s, baselines %s", backend, p.name, configured)
        sent: dict[tuple[str, int], int] = defaultdict(int)  # invocations per accumulator
        bar = tqdm(total=len(sizes) * len(ns), desc=f"state ({backend})", unit="cell", leave=False)
        stack.callback(bar.close)
        turn = 0
        for size in sizes:
            payload = vector(size)
            for system in systems:
                for _ in range(warmup):
                    p.invoke(FUNCTIONS[system], payload)
                sent[(system, size)] += warmup
            for n in ns:
                done = 0
                while done < reps:
                    k = min(block, reps - done)
                    order = rotated(systems, turn)
                    turn += 1
                    for system in order:
                        for _ in range(k):
                            rows[(system, size, n)].values.append(_timed(p, FUNCTIONS[system], payload, n))
                        sent[(system, size)] += k * n
                    done += k
                bar.update(1)
                bar.set_postfix_str(f"{size} elements, N={n}")
            for system in systems:
                got = p.invoke("state_peek", {"system": system, "elements": size}).json()
                want = sent[(system, size)] * size
                if got != want:
                    raise RuntimeError(f"{system}: the accumulator of {size} elements holds {got} in its last lane "
                                       f"after {sent[(system, size)]} invocations, not {want}")
    return finish(list(rows.values()), out, "state", params, plot, started=started)


# ---------------------------------------------------------------------------------------------- analysis
def medians(rows: list[Row]) -> dict[Cell, float]:
    """``{(system, elements, N): median total seconds}`` of the rows with samples."""
    return {(r.variant, r.size, int(r.extra["invocations"])): r.median
            for r in rows if r.experiment == "state" and r.values and "invocations" in r.extra}


def ratios(rows: list[Row]) -> dict[tuple[str, int, int], float]:
    """``{(baseline, elements, N): baseline median / PraaS median}`` for every cell both measured."""
    m = medians(rows)
    return {(b, e, n): m[(b, e, n)] / m[("praas", e, n)]
            for (b, e, n) in m if b != "praas" and m.get(("praas", e, n))}


def paper_ratios() -> dict[tuple[str, int, int], float]:
    """The paper's heatmap cells, ``{(baseline, elements, N): ratio}`` (empty outside a source checkout)."""
    return {(r["baseline"], int(r["elements"]), int(r["invocations"])): float(r["ratio_median"])
            for r in paper_csv("state_ratios.csv")}


def expected(params: dict[str, Any]) -> set[tuple[str, str, int, int]]:
    """The cells (experiment, variant, elements, N) a run with ``params`` must have measured."""
    return {("state", s, int(e), int(n)) for s in params["systems"] for e in params["elements"]
            for n in params["invocations"]}


def _range(values: list[float]) -> str:
    lo, hi = f"{min(values):.2f}", f"{max(values):.2f}"
    return f"{lo}x" if lo == hi else f"{lo}-{hi}x"


def summarise(rows: list[Row]) -> list[Figure]:
    """Per baseline and N: the range of baseline/PraaS over the inputs of at most 80 KB against the target
    (Redis >= 1.5x, S3 >= 10x; met when the smallest ratio meets it), beside the paper's range; and the 800 KB
    inputs without a target."""
    got, paper = ratios(rows), paper_ratios()
    out = []
    for b in ("redis", "s3"):
        for n in sorted({k[2] for k in got if k[0] == b}):
            small = [v for (bb, e, nn), v in got.items() if bb == b and nn == n and e <= SMALL]
            theirs = [v for (bb, e, nn), v in paper.items() if bb == b and nn == n and e <= SMALL]
            if small:
                note = f" (paper {_range(theirs)})" if theirs else ""
                out.append(TARGETS[b].figure(f"{NAMES[b]} / PraaS, N={n}, <= 80 KB", f"{_range(small)}{note}",
                                             min(small), f"reduction, median of N invocations' total, {NAMES[b]} "
                                             "vs process state"))
        large = [v for (bb, e, _), v in got.items() if bb == b and e > SMALL]
        if large:
            theirs = [v for (bb, e, _), v in paper.items() if bb == b and e > SMALL]
            note = f" (paper {_range(theirs)})" if theirs else ""
            out.append(Figure(f"{NAMES[b]} / PraaS, > 80 KB", f"{_range(large)}{note}", "", None,
                              "large inputs: transfer and addition weigh more than storage"))
    return out


def _condition(elements: int, n: int) -> str:
    return f"{elements} elements, N={n}"


def comparison(rows: list[Row]) -> list[dict[str, Any]]:
    """One dict per (baseline, elements, N) measured: ``benchmark``, ``what`` (e.g. ``"Redis/PraaS"``),
    ``condition`` (e.g. ``"10000 elements, N=10"``), ``ours`` (ratio of medians) and ``paper`` (the paper's
    ratio, ``None`` where it has none)."""
    got, paper = ratios(rows), paper_ratios()
    return [{"benchmark": "state", "what": f"{NAMES[b]}/PraaS", "condition": _condition(e, n),
             "ours": round(v, 3), "paper": paper.get((b, e, n))}
            for (b, e, n), v in sorted(got.items())]


def _elements_label(e: int) -> str:
    nbytes = 8 * e
    size = f"{nbytes / 1000:g} KB" if nbytes >= 1000 else f"{nbytes} B"
    return f"{e:,} ({size})"


def plot(csv_path: Path) -> list[Path]:
    """The paper's figure shape: two heatmaps side by side, Redis/PraaS and S3/PraaS ratios of median total times,
    rows = elements (largest on top), columns = N, each cell annotated with our ratio and the paper's; written to
    ``state.png`` and ``state.pdf`` next to ``csv_path``. The two paths; ``ImportError`` without matplotlib."""
    plt = pyplot()

    rows = load_rows(csv_path)
    got, paper = ratios(rows), paper_ratios()
    m = medians(rows)
    sizes = sorted({e for (_, e, _) in m}, reverse=True)
    ns = sorted({n for (_, _, n) in m})
    backends = sorted({str(r.extra.get("backend", "?")) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, b in zip(axes, ("redis", "s3"), strict=True):
        grid = [[got.get((b, e, n), float("nan")) for n in ns] for e in sizes]
        finite = [v for line in grid for v in line if v == v]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        cmap = plt.get_cmap("cubehelix_r").with_extremes(bad="0.85")
        im = ax.imshow(grid, cmap=cmap, vmin=min(lo, 1.0), vmax=max(hi, lo + 1e-9), aspect="auto")
        for i, e in enumerate(sizes):
            for j, n in enumerate(ns):
                v = grid[i][j]
                theirs = paper.get((b, e, n))
                text = "–" if v != v else f"{v:.2f}" if v < 10 else f"{v:.1f}"
                if theirs is not None:
                    text += f"\n(paper {theirs:g})"
                shade = (v - min(lo, 1.0)) / max(hi - min(lo, 1.0), 1e-9) if v == v else 0.0
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shade > 0.55 else "black")
        ax.set_xticks(range(len(ns)), [str(n) for n in ns])
        ax.set_yticks(range(len(sizes)), [_elements_label(e) for e in sizes])
        ax.set(xlabel="Number of reduction invocations N", ylabel="Input size [elements (bytes)]",
               title=f"{NAMES[b]} / PraaS (target {TARGETS[b]} up to 80 KB)")
        fig.colorbar(im, ax=ax, label=f"{NAMES[b]} / PraaS, ratio of medians")
    fig.suptitle(f"State reduction (§6.3): median total time of N invocations, baseline / PraaS "
                 f"(> 1: PraaS faster); backend {', '.join(backends)}", fontsize=10)
    return save_figure(fig, csv_path)


def format_medians(rows: list[Row]) -> str:
    """The medians (ms, total of N invocations) as a Markdown table, one line per (elements, N)."""
    m = medians(rows)
    systems = [s for s in SYSTEMS if any(k[0] == s for k in m)]
    head = "| elements | N | " + " | ".join(f"{NAMES[s]} ms" for s in systems) + " |\n|---:|---:|" + \
        "---:|" * len(systems)
    body = []
    for e, n in sorted({(e, n) for (_, e, n) in m}):
        cells = [f"{m[(s, e, n)] * 1e3:.3f}" if (s, e, n) in m else "–" for s in systems]
        body.append(f"| {e} | {n} | " + " | ".join(cells) + " |")
    return "\n".join([head, *body])


__all__ = ["run_state_benchmark", "summarise", "expected", "plot", "comparison", "ratios", "medians",
           "paper_ratios", "format_medians", "vector", "SYSTEMS", "ELEMENTS", "INVOCATIONS", "STATE_APP"]
