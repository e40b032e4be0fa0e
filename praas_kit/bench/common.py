"""Shared benchmark plumbing: result rows, figures and their targets, timing loops, CSV + metadata files."""

from __future__ import annotations

import csv
import io
import json
import operator
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from praas_kit import provenance
from praas_kit.bench import ROW_COLUMNS
from praas_kit.checkout import in_checkout
from praas_kit.provenance import git_commit as git_commit  # re-exported: the metadata of every result file
from praas_kit.provenance import git_diff as git_diff
from praas_kit.provenance import git_dirty as git_dirty


@dataclass
class Row:
    """One measured series: ``values`` are the samples (seconds, or per-second rates for throughput)."""

    experiment: str
    variant: str
    size: int
    unit: str
    values: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def quantile(self, q: float) -> float:
        if not self.values:
            return float("nan")
        s = sorted(self.values)
        return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Figure:
    """One headline figure of a run: what it measures, the value, the target and whether it was met."""

    name: str
    measured: str
    target: str
    met: bool | None  # None: no target
    meaning: str

    @property
    def verdict(self) -> str:
        return "" if self.met is None else "met" if self.met else "MISSED"


_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Target:
    """A figure's target, stated once: it reads as ``"<op> <bound><unit>"`` (or ``text``) and :meth:`met` judges
    a measured value by the same ``op`` and ``bound``."""

    op: str  #: ``<=``, ``>=``, ``<`` or ``>``
    bound: float
    unit: str = "x"  #: written right after the bound: ``"x"``, ``" s"``, ``" MiB/s"``...
    fmt: str = "g"  #: the bound's format
    text: str | None = None  #: how it reads, if not so

    def __str__(self) -> str:
        return self.text or f"{self.op} {self.bound:{self.fmt}}{self.unit}"

    def met(self, value: float) -> bool:
        return bool(_COMPARE[self.op](value, self.bound))

    def at(self, bound: float) -> Target:
        """The same target with another bound (one known only from the data, e.g. the paper's rate)."""
        return replace(self, bound=bound)

    def figure(self, name: str, measured: str, value: float, meaning: str, note: str = "") -> Figure:
        """The :class:`Figure` of ``value`` judged by this target (``note`` follows the target's text)."""
        return Figure(name, measured, f"{self}{note}", self.met(value), meaning)


@dataclass
class BenchRun:
    """What a benchmark run produced: its rows and where they were saved."""

    rows: list[Row]
    csv: Path
    meta: Path


TABLE_WIDTH = 100  #: columns a benchmark's table fits in
T = TypeVar("T")


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """``items`` starting at ``turn`` (modulo their number): the order of a turn when series take turns."""
    k = turn % len(items)
    return [*items[k:], *items[:k]]


def median_of(rows: list[Row], experiment: str, variant: str, size: int, **extra: Any) -> float | None:
    """The median of the first row of (``experiment``, ``variant``, ``size``) with samples whose ``extra`` has
    these values (``contention=False`` also matches a row without the key); None when there is none."""
    for r in rows:
        if (r.experiment, r.variant, r.size) == (experiment, variant, size) and r.values \
                and all(r.extra.get(k, False if v is False else None) == v for k, v in extra.items()):
            return r.median
    return None


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15 minute load averages (other work beside a benchmark distorts it), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


#: the key of ``params`` under which :func:`praas_kit.bench.harness.finish` hands :func:`metadata` the run's start
STARTED = "started"
#: where a run's metadata records the load average: ``params[LOAD_AVERAGE] = {"start": [...], "end": [...]}``
LOAD_AVERAGE = "load_average_1_5_15_min"
#: the other spellings of older result files: (key of the start, key of the end) in their params
_OLD_LOAD_AVERAGES = (("loadavg_before", "loadavg_after"), ("load_average_before", "load_average_after"))


def run_load_average(meta: dict[str, Any]) -> dict[str, list[float] | None]:
    """``{"start", "end"}``: the load average a result file's metadata recorded at its run's start and end
    (whichever spelling it used; None where it recorded none)."""
    params = meta.get("params", {})
    if isinstance(params.get(LOAD_AVERAGE), dict):
        return {"start": params[LOAD_AVERAGE].get("start"), "end": params[LOAD_AVERAGE].get("end")}
    for start, end in _OLD_LOAD_AVERAGES:
        if start in params or end in params:
            return {"start": params.get(start), "end": params.get(end)}
    return {"start": None, "end": None}


def format_figures(figures: list[Figure], width: int = TABLE_WIDTH) -> str:
    """The figures as a text table that fits ``width`` columns: figure, measured, target and verdict on a line,
    then what the figure measures, indented and wrapped."""
    import textwrap

    table = [("figure", "measured", "target", "verdict")]
    table += [(f.name, f.measured, f.target, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(table[0], widths, strict=True)).rstrip()]
    for f, row in zip(figures, table[1:], strict=True):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        lines += textwrap.wrap(line, width, subsequent_indent="    ") or [""]
        lines += textwrap.wrap(f.meaning, width, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def time_calls(fn: Callable[[], Any], reps: int, warmup: int = 5, desc: str | None = None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times; the seconds of each timed call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in tqdm(range(reps), desc=desc, leave=False, disable=desc is None):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_together(n: int, start: Callable[[int], Any]) -> tuple[float, list[Any]]:
    """Call ``start(i)`` for each i < n, each in a thread of its own, all released at once by a barrier;
    ``(seconds from the release until every call returned, their results)``. The first error is re-raised
    after all calls ended."""
    gate = threading.Barrier(n + 1)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = start(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed, results


def installed_versions() -> dict[str, str]:
    """The version of every distribution installed in this environment, by (normalised) name: what the run's
    imports resolved to."""
    import importlib.metadata

    out = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name:
            out[name] = dist.version
    return dict(sorted(out.items()))


def metadata(params: dict[str, Any]) -> dict[str, Any]:
    """Provenance recorded next to every result file (the packages' resolved versions among it)."""
    import zmq

    from praas_kit import __version__

    commit, dirty = git_commit(), git_dirty()
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "praas_kit": __version__,
        "git_commit": commit, "git_dirty": dirty, "python": platform.python_version(),
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "packages": installed_versions(), "params": {k: v for k, v in params.items() if k != STARTED},
    }
    started = params.get(STARTED)
    if isinstance(started, dict):  # the code the run ran from is the commit and tree at its start
        meta.update(started=started, git_commit=started.get("git_commit"), git_dirty=started.get("git_dirty"))
        if (commit, dirty) != (started.get("git_commit"), started.get("git_dirty")):
            meta["git_at_save"] = {"commit": commit, "dirty": dirty}  # changed while it ran
    return meta


def save(rows: list[Row], out: Path, name: str, params: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<name>.csv`` (one line per sample) and ``<name>.meta.json``; the two paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, meta_path = out / f"{name}.csv", out / f"{name}.meta.json"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(ROW_COLUMNS)
        for r in rows:
            for i, v in enumerate(r.values):
                w.writerow([r.experiment, r.variant, r.size, r.unit, i, f"{v:.9g}", json.dumps(r.extra)])
    summary = [{**{k: v for k, v in asdict(r).items() if k != "values"}, "n": len(r.values), "median": r.median,
                "p5": r.quantile(0.05), "p95": r.quantile(0.95)} for r in rows]
    meta = metadata(params) | {"summary": summary}
    meta_path.write_text(json.dumps(meta, indent=2))
    return csv_path, meta_path


def load_rows(csv_path: Path) -> list[Row]:
    """The rows of a CSV written by :func:`save` (samples grouped back by experiment, variant, size, extra). A
    committed file is recorded as an input (:func:`praas_kit.provenance.record`)."""
    groups: dict[tuple[str, str, int, str, str], Row] = {}
    data = Path(csv_path).read_bytes()
    provenance.record(csv_path, data)
    with io.StringIO(data.decode("utf-8"), newline="") as f:
        for line in csv.DictReader(f):
            key = (line["experiment"], line["variant"], int(line["size"]), line["unit"], line["extra"])
            if key not in groups:
                groups[key] = Row(key[0], key[1], key[2], key[3], extra=json.loads(key[4] or "{}"))
            groups[key].values.append(float(line["value"]))
    return list(groups.values())


def paper_csv(name: str) -> list[dict[str, str]]:
    """The rows of ``datasets/paper/<name>`` (the paper's numbers; see its README), or ``[]`` outside a checkout;
    recorded as an input (:func:`praas_kit.provenance.record`)."""
    path = in_checkout("datasets", "paper", name, what="the paper's measurements")
    try:
        data = path.read_bytes()
    except OSError:
        return []
    provenance.record(path, data)
    with io.StringIO(data.decode("utf-8"), newline="") as f:
        return list(csv.DictReader(f))


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are written to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_log(ax: Any, ticks: list[int], labels: list[str], minor_ticks: bool = False) -> None:
    """Both axes of ``ax`` logarithmic, x ticked at ``ticks`` with ``labels``; x's minor ticks unlabelled (with
    ``minor_ticks``) or gone."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, labels)
    if minor_ticks:
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_minor_locator(NullLocator())


def save_figure(fig: Any, stem: Path) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.pdf``, close it; the two paths."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"CreationDate": None})  # no timestamp: redrawing the same data changes nothing
    plt.close(fig)
    return paths
