"""Swapping bandwidth (``praas bench swap``, paper §6.6): swap-out and swap-in of a process holding 1 ... 200 MiB
of state, to the directory store and to S3.

Per state size, ``reps`` fresh processes per store are filled (1 MiB objects of random bytes), swapped out,
swapped in and checked (the restored state must have the size it was filled with); the stores take turns size by
size, so drift hits both alike. Four series per (store, size), as :func:`praas_kit.bench.series.swap_rows`
measures them:

* ``swap-out``: the snapshot write inside the process (what the paper timed: the process serialising its state);
* ``swap-out-total``: the whole control-plane operation (drain, write, exit);
* ``swap-in-restore``: reading the snapshot back inside the new process;
* ``swap-in``: the whole swap-in (start the runtime, restore, connect).

Stores: ``dir`` (a directory on this machine's disk) and ``s3``: on the local backend a real OpenStack Swift S3
server (:class:`~praas_kit.tools.services.SwiftS3Server`) on this machine, on the docker backend the deployment's
Swift S3 container. The paper swapped to AWS S3 from a 1 vCPU Fargate task (about 58 MiB/s) and from an EC2 VM
(about 83 MiB/s with two or more threads); ``datasets/paper/swap.csv`` has its per-size medians. A local S3
server has no network in between, so our rates bound what the software stack costs, not what AWS S3 gives.

Output: ``<out>/swap.csv`` (one line per sample) + ``swap.meta.json``, then :func:`plot` draws ``swap.png`` and
``swap.pdf`` next to them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench import check_choice
from praas_kit.bench.common import BenchRun, Figure, Row, Target, load_rows, log_log, paper_csv, pyplot, save_figure
from praas_kit.bench.harness import BENCH_APP, deployment, finish, start, storage
from praas_kit.bench.series import SWAP_TO_DIR, swap_rows

if TYPE_CHECKING:
    from praas_kit.deploy.local import EmbeddedClient

log = logging.getLogger("praas_kit.bench.swap")

#: state sizes (MiB) of a full run, the paper's
SIZES_MIB = [1, 5, 10, 50, 100, 200]
#: state sizes (MiB) of a quick run
QUICK_SIZES_MIB = [1, 10, 50]
STORES = ("dir", "s3")
EXPERIMENTS = ("swap-out", "swap-out-total", "swap-in", "swap-in-restore")
#: the size (MiB) the headline targets are stated at; a run without it uses its largest size
HEADLINE_MIB = 100
#: swap-out at the headline size: to the directory store, and to S3 faster than the paper's AWS S3 (its bound is the
#: paper's rate at that size)
TARGETS = {"dir": SWAP_TO_DIR, "s3": Target(">", float("nan"), " MiB/s (paper, AWS S3)", ".0f")}
#: the bucket the local S3 store swaps to
BUCKET = "praas-bench-swap"

STORE_NAMES = {"dir": "directory store", "s3": "S3"}


@contextmanager
def _planes(backend: str, stores: tuple[str, ...]) -> Iterator[dict[str, EmbeddedClient]]:
    """A control plane per store (``{store: client}``), with the S3 server the ``s3`` one swaps to; everything
    is stopped when the block exits, also on an error."""
    with ExitStack() as stack:
        planes: dict[str, EmbeddedClient] = {}
        for store in stores:
            options: dict[str, Any] = {} if backend == "docker" else {"function_workers": 2}
            if backend == "local" and store == "s3":
                s3 = storage(None, stack, redis=False).s3
                assert s3 is not None
                options["swap_store"] = s3.store_spec(BUCKET)
            planes[store] = stack.enter_context(deployment(backend, swap=store, **options))
        yield planes


def run_swap_benchmark(out: Path, quick: bool = True, backend: str = "local", sizes: list[int] | None = None,
                       reps: int | None = None, stores: tuple[str, ...] = STORES) -> BenchRun:
    """Swap processes of each size in ``sizes`` (MiB; default 1, 10, 50 quick, else 1 ... 200) out and in,
    ``reps`` times per store (default 2 quick, else 5), on ``backend`` (``local`` or ``docker``).

    Saves ``swap.csv`` + ``swap.meta.json`` under ``out`` and draws ``swap.png``/``.pdf`` (:func:`plot`).
    Raises :class:`InvalidArgument` for an unknown backend or store; every server started is stopped on exit.
    """
    started = start("swap", backend)
    check_choice("swap stores", stores, STORES)
    sizes = list(sizes or (QUICK_SIZES_MIB if quick else SIZES_MIB))
    reps = reps or (2 if quick else 5)
    params = {"quick": quick, "backend": backend, "sizes_mib": sizes, "reps": reps, "stores": list(stores),
              "experiments": list(EXPERIMENTS), "s3_bucket": BUCKET if backend == "local" else "praas-swaps",
              "state": "1 MiB objects of os.urandom bytes; a fresh process per repetition"}
    rows: list[Row] = []
    with _planes(backend, tuple(stores)) as planes:
        apps = {store: cp.create_application("swap", code=BENCH_APP) for store, cp in planes.items()}
        for mib in tqdm(sizes, desc="praas bench swap", unit="size"):
            for store, app in apps.items():
                rows += swap_rows(app, store, [mib], reps, extra={"backend": backend},
                                  desc=f"{mib} MiB to {store}")
                got = [r for r in rows if r.variant == store and r.size == mib << 20 and r.experiment == "swap-out"]
                if got:
                    log.info("swap-out of %d MiB to %s: %.1f MiB/s", mib, store, mib / got[0].median)
    return finish(rows, out, "swap", params, plot, started=started)


def expected(params: dict[str, Any]) -> set[tuple[str, str, int]]:
    """The cells (experiment, variant = store, size in bytes) a run with ``params`` must have measured."""
    return {(e, store, int(mib) << 20) for e in params.get("experiments", EXPERIMENTS)
            for store in params["stores"] for mib in params["sizes_mib"]}


def paper_swap_out(platform: str = "fargate", threads: int = 1) -> dict[int, float]:
    """The paper's median swap-out time to AWS S3 in seconds, ``{size in MiB: seconds}`` (empty outside a source
    checkout); by default from the 1 vCPU Fargate task with one upload thread."""
    return {int(r["size_mib"]): float(r["median_ms"]) / 1e3 for r in paper_csv("swap.csv")
            if r["platform"] == platform and int(r["threads"]) == threads and r["median_ms"]}


def _by(rows: list[Row]) -> dict[tuple[str, str, int], Row]:
    return {(r.experiment, r.variant, r.size): r for r in rows if r.values}


def _mib(size: int) -> int:
    return size >> 20


def _headline(rows: list[Row], store: str) -> int | None:
    """The size (bytes) a store's target is judged at: 100 MiB if measured, else the largest size measured."""
    sizes = sorted({r.size for r in rows if r.variant == store and r.experiment == "swap-out" and r.values})
    if not sizes:
        return None
    return HEADLINE_MIB << 20 if HEADLINE_MIB << 20 in sizes else sizes[-1]


MEANINGS = {"swap-out": "snapshot write inside the process (the paper's measure)",
            "swap-out-total": "whole swap-out: drain, write, exit",
            "swap-in-restore": "snapshot read inside the new process",
            "swap-in": "whole swap-in, including starting the process"}


def summarise(rows: list[Row]) -> list[Figure]:
    """The headline figures: swap-out to the directory store >= 300 MiB/s and to S3 faster than the paper's AWS S3
    swap-out at the same size (Fargate, 1 thread; 58 MiB/s at 100 MiB), both at 100 MiB (or the largest size a quick
    run measured). Without a target: swap-out and swap-in-restore at every other size (S3 swap-out beside the
    paper's rate), and the whole operations (``swap-out-total``, ``swap-in``) at the headline size."""
    by, paper, out = _by(rows), paper_swap_out(), []
    heads = {store: _headline(rows, store) for store in STORES}
    for experiment in EXPERIMENTS:
        for store in STORES:
            for size in sorted({r.size for r in rows if r.variant == store and r.experiment == experiment}):
                row = by.get((experiment, store, size))
                if row is None or (experiment in ("swap-out-total", "swap-in") and size != heads[store]):
                    continue
                mib, rate = _mib(size), _mib(size) / row.median
                measured = f"{row.median * 1e3:.0f} ms = {rate:.0f} MiB/s"
                theirs = paper.get(mib)
                if experiment == "swap-out" and store == "s3" and theirs:
                    measured += f" (paper {theirs * 1e3:.0f} ms = {mib / theirs:.0f} MiB/s)"
                name = f"{experiment} {mib} MiB ({STORE_NAMES[store]})"
                target = None
                if experiment == "swap-out" and size == heads[store]:
                    target = TARGETS["dir"] if store == "dir" else TARGETS["s3"].at(mib / theirs) if theirs else None
                out.append(target.figure(name, measured, rate, MEANINGS[experiment]) if target
                           else Figure(name, measured, "", None, MEANINGS[experiment]))
    return out


def comparison(rows: list[Row]) -> list[dict[str, Any]]:
    """Our swap rates beside the paper's, one row per (series, size): ``{"benchmark": "swap", "what", "condition",
    "ours", "paper"}``; rates in MiB/s (median). The paper's figure exists only for swap-out to S3 (AWS S3 from a
    1 vCPU Fargate task, one thread); every other row has ``paper`` None."""
    by, paper, out = _by(rows), paper_swap_out(), []
    for experiment, label in (("swap-out", "swap-out"), ("swap-in-restore", "swap-in (restore)")):
        for store in STORES:
            for size in sorted({s for (e, v, s) in by if e == experiment and v == store}):
                mib = _mib(size)
                theirs = paper.get(mib) if (experiment, store) == ("swap-out", "s3") else None
                out.append({"benchmark": "swap", "what": f"{label} MiB/s, {STORE_NAMES[store]}",
                            "condition": f"{mib} MiB", "ours": round(mib / by[(experiment, store, size)].median, 1),
                            "paper": round(mib / theirs, 1) if theirs else None})
    return out


COLORS = {"dir": "tab:blue", "s3": "tab:orange"}


def plot(csv_path: Path) -> list[Path]:
    """Draw ``swap.png`` and ``swap.pdf`` next to ``csv_path`` (a ``swap.csv``); the two paths.

    Top row: swap-out and swap-in time (median, p5–p95 bars) against the state size, log–log, one solid line per
    store for the part inside the process and a dotted one for the whole operation; the paper's AWS S3 swap-out
    (Fargate, 1 thread) dashed. Bottom row: the same as MiB/s.
    """
    plt = pyplot()
    by = _by(load_rows(csv_path))
    paper = paper_swap_out()
    ticks = sorted({_mib(s) for (_, _, s) in by} | set(paper))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    panels = (("swap-out", "swap-out-total", "swap-out"), ("swap-in-restore", "swap-in", "swap-in"))
    for col, (inside, whole, title) in enumerate(panels):
        top, bottom = axes[0][col], axes[1][col]
        for store in STORES:
            for experiment, style, what in ((inside, "-", "inside the process"), (whole, ":", "whole operation")):
                cells = sorted((s, r) for (e, v, s), r in by.items() if e == experiment and v == store)
                if not cells:
                    continue
                mibs = [_mib(s) for s, _ in cells]
                med = [r.median for _, r in cells]
                err = [[(r.median - r.quantile(0.05)) * 1e3 for _, r in cells],
                       [(r.quantile(0.95) - r.median) * 1e3 for _, r in cells]]
                label = f"{STORE_NAMES[store]}, {what}"
                top.errorbar(mibs, [m * 1e3 for m in med], yerr=err, fmt=style, marker="o", markersize=4,
                             capsize=2, color=COLORS[store], label=label)
                bottom.plot(mibs, [m / t for m, t in zip(mibs, med, strict=True)], style, marker="o", markersize=4,
                            color=COLORS[store], label=label)
        if col == 0 and paper:
            mibs = sorted(paper)
            top.plot(mibs, [paper[m] * 1e3 for m in mibs], "--", color="black", marker="x",
                     label="paper: AWS S3 (Fargate, 1 thread)")
            bottom.plot(mibs, [m / paper[m] for m in mibs], "--", color="black", marker="x",
                        label="paper: AWS S3 (Fargate, 1 thread)")
        top.set_title(title)
        top.set_ylabel("time [ms], median (p5–p95)")
        bottom.set_ylabel("throughput [MiB/s], median")
        bottom.set_xlabel("process state [MiB]")
        for ax in (top, bottom):
            log_log(ax, ticks, [str(t) for t in ticks], minor_ticks=True)
            ax.grid(which="major", alpha=0.35)
            ax.grid(which="minor", alpha=0.1)
        top.legend(fontsize=7)
    fig.suptitle("Swapping process state (§6.6): directory store and S3", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["run_swap_benchmark", "summarise", "expected", "comparison", "plot", "paper_swap_out", "SIZES_MIB",
           "QUICK_SIZES_MIB", "STORES", "TARGETS"]
