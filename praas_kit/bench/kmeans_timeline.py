"""The k-means workers on one time axis: where each worker's epochs go (computing its partial, waiting for the
slowest worker, exchanging), from the per-epoch timings of its
:class:`~praas_kit.apps.kmeans.worker.WorkerReport` (``epochs``, ``started_at``).

* :func:`epoch_timeline`: one lane per worker, every epoch as three bars one after the other (compute, waiting for
  the slowest worker, exchange after the last worker published), after the worker's read of its shard and its
  initial centroids; the time axis starts at the earliest worker's start.
* :func:`run_timelines`: :func:`epoch_timeline` for several runs (say one per variant), one panel each.
* :func:`epoch_summary` / :func:`format_epoch_summary`: per worker Σcompute, Σwait and Σexchange, as rows or
  as a Markdown table.

Workers are aligned on their wall-clock start (``started_at``, ``time.time()``): exact for the processes of one
host, within the hosts' clock offset (NTP: milliseconds) across hosts. Reports from before ``started_at`` was
recorded are aligned on each worker's own start instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from praas_kit.apps.kmeans.driver import RunResult
from praas_kit.apps.kmeans.worker import WorkerReport
from praas_kit.bench.common import pyplot
from praas_kit.bench.kmeans import NAMES
from praas_kit.errors import InvalidArgument

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

EPOCH_PARTS = ("compute", "wait", "exchange")  #: the bars of one epoch, in order
LABELS = {"read": "read shard (S3)", "init": "initial centroids (incl. waiting for rank 0)",
          "compute": "compute (partial sums)", "wait": "waiting for the slowest worker",
          "exchange": "exchange (after the last worker published)"}
COLORS = {"read": "0.80", "init": "0.90", "compute": "tab:blue", "wait": "tab:orange", "exchange": "tab:green"}
HEIGHT = 0.6  #: a bar's height (a lane is 1)


def _offsets(reports: Sequence[WorkerReport]) -> tuple[list[float], bool]:
    """Each worker's start on the shared axis (seconds after the earliest), and whether the wall clock aligned
    them (``False``: some report has no ``started_at``, every worker starts at 0)."""
    starts = [r.started_at for r in reports]
    if any(s is None for s in starts):
        return [0.0] * len(reports), False
    first = min(s for s in starts if s is not None)
    return [s - first for s in starts if s is not None], True


def _figure(ax: Axes) -> Figure:
    """The figure ``ax`` is drawn in (the root figure if ``ax`` is in a subfigure)."""
    from matplotlib.figure import Figure

    fig = ax.figure
    return fig if isinstance(fig, Figure) else fig.figure


def _legend(ax: Axes) -> None:
    """The legend of the bars, centred under ``ax``'s x label (attached to ``ax``, so that ``tight_layout``, as
    :func:`~praas_kit.bench.common.save_figure` calls it, makes room for it)."""
    from matplotlib.patches import Patch
    from matplotlib.transforms import offset_copy

    under = offset_copy(ax.transAxes, _figure(ax), y=-0.5, units="inches")
    ax.legend(handles=[Patch(facecolor=COLORS[p], label=LABELS[p]) for p in ("read", "init", *EPOCH_PARTS)],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=under, ncol=3, fontsize=8,
              frameon=False)


def epoch_timeline(reports: Sequence[WorkerReport], *, title: str = "k-means epochs per worker",
                   ax: Axes | None = None, legend: bool = True) -> Figure:
    """Draw the workers' timeline: lane ``i`` (top to bottom) is ``reports[i]``, labelled with its rank; in it a bar
    for reading the shard and one for the initial centroids, then for every epoch three bars one after the other,
    compute, waiting for the slowest worker and exchange (thin white lines between epochs); x is seconds since the
    earliest worker's start.

    Into ``ax``, or a new figure (laid out with ``tight_layout``); with ``legend``, the legend under the axes. The
    figure is returned, not saved or closed (the caller shows, saves, closes it:
    :func:`~praas_kit.bench.common.save_figure` does both). Every bar is a rectangle patch whose ``gid`` says what
    it is: ``"rank<r>/read"``, ``"rank<r>/init"``, ``"rank<r>/e<epoch>/<part>"`` with ``part`` in
    :data:`EPOCH_PARTS` (so 2 + 3 × epochs patches per worker). ``ImportError`` without
    matplotlib; :class:`InvalidArgument` if ``reports`` is empty."""
    if not reports:
        raise InvalidArgument("no worker reports to draw")
    new = ax is None
    if ax is None:
        ax = pyplot().figure(figsize=(11, 1.6 + 0.5 * len(reports))).add_subplot()
    offsets, aligned = _offsets(reports)
    for lane, (r, off) in enumerate(zip(reports, offsets, strict=True)):
        spans = [("read", off, r.read_s), ("init", off + r.read_s, r.init_s)]
        for i, e in enumerate(r.epochs):
            t = off + e.start_s
            for part, width in zip(EPOCH_PARTS, (e.compute_s, e.wait_s, e.exchange_s), strict=True):
                spans.append((f"e{i}/{part}", t, width))
                t += width
        for name, left, width in spans:
            bar = ax.barh(lane, width, left=left, height=HEIGHT, color=COLORS[name.rsplit("/", 1)[-1]],
                          edgecolor="none")[0]
            bar.set_gid(f"rank{r.rank}/{name}")
        starts = [off + e.start_s for e in r.epochs[1:]]
        ax.vlines(starts, lane - HEIGHT / 2, lane + HEIGHT / 2, colors="white", linewidth=0.8)
    ax.set_yticks(range(len(reports)), [f"rank {r.rank}" for r in reports])
    ax.set_ylim(len(reports) - 0.5, -0.5)  # rank 0 on top
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the first worker started" if aligned else "seconds since each worker started")
    ax.grid(axis="x", alpha=0.35)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10)
    if legend:
        _legend(ax)
    if new:
        _figure(ax).tight_layout()
    return _figure(ax)


def run_timelines(runs: Sequence[RunResult], *, title: str | None = None) -> Figure:
    """:func:`epoch_timeline` of every run, one panel each, top to bottom, the legend under the last. Each panel has
    its own time axis (the variants' times differ by orders of magnitude) and a title naming the variant, its
    epochs, its points per worker, its wall time and its workers' Σwait and Σexchange. The figure is returned, not
    saved or closed (:func:`~praas_kit.bench.common.save_figure` does both). ``ImportError`` without matplotlib;
    :class:`InvalidArgument` if ``runs`` is empty."""
    if not runs:
        raise InvalidArgument("no k-means runs to draw")
    heights = [1.2 + 0.45 * len(run.reports) for run in runs]
    fig, axes = pyplot().subplots(len(runs), 1, figsize=(11, 0.6 + sum(heights)), squeeze=False,
                                  gridspec_kw={"height_ratios": heights})
    for i, (run, ax) in enumerate(zip(runs, axes[:, 0], strict=True)):
        wait = sum(r.wait_s for r in run.reports)
        exchange = sum(r.exchange_s for r in run.reports)
        epoch_timeline(run.reports, ax=ax, legend=i == len(runs) - 1,
                       title=f"{NAMES.get(run.variant, run.variant)}: {run.epochs} epochs, "
                             f"{run.dataset.points_per_worker} points per worker, run {run.wall_s:.3f} s "
                             f"(Σwait {wait:.3f} s, Σexchange {exchange:.3f} s over the workers)")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig  # type: ignore[no-any-return]  # pyplot() is untyped


def epoch_summary(reports: Sequence[WorkerReport]) -> list[dict[str, Any]]:
    """Per worker (in the order of ``reports``): ``{"rank", "epochs", "compute_s", "wait_s", "exchange_s",
    "wait_share"}``, the sums over its epochs in seconds and the share of its epochs' time spent waiting for the
    slowest worker (0 for a worker without epochs)."""
    rows = []
    for r in reports:
        busy = r.compute_s + r.sync_s
        rows.append({"rank": r.rank, "epochs": len(r.epochs), "compute_s": r.compute_s, "wait_s": r.wait_s,
                     "exchange_s": r.exchange_s, "wait_share": r.wait_s / busy if busy > 0 else 0.0})
    return rows


def format_epoch_summary(runs: Sequence[RunResult]) -> str:
    """:func:`epoch_summary` of every run as one Markdown table (a row per run and worker)."""
    head = ["| variant | rank | epochs | Σcompute s | Σwait s | Σexchange s | waiting |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    body = [f"| {NAMES.get(run.variant, run.variant)} | {row['rank']} | {row['epochs']} | {row['compute_s']:.4f} | "
            f"{row['wait_s']:.4f} | {row['exchange_s']:.4f} | {row['wait_share']:.0%} |"
            for run in runs for row in epoch_summary(run.reports)]
    return "\n".join(head + body)


__all__ = ["epoch_timeline", "run_timelines", "epoch_summary", "format_epoch_summary", "EPOCH_PARTS"]
