"""Benchmarks: scripts that measure the real path and save CSV + metadata (``praas bench NAME``).

:data:`BENCHMARKS` is the one registry: a :class:`Benchmark` record per experiment says where its code is (named,
imported only when used), which backends it runs on, which of its functions summarise a run (each headline figure
with its target, the module's ``TARGETS``), compare it with the paper, draw its figure and list the cells a run
must have measured, and what its CSV looks like. ``praas bench``, ``praas bench --check``, ``praas report``,
:mod:`~praas_kit.bench.report` and :mod:`~praas_kit.bench.validate` read nothing else. A new benchmark is a
module (standing on :mod:`~praas_kit.bench.harness`) plus its record here.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from praas_kit.errors import InvalidArgument

#: the columns of a result CSV written by :func:`praas_kit.bench.common.save` (one line per sample)
ROW_COLUMNS = ["experiment", "variant", "size", "unit", "repetition", "value", "extra"]
#: how a measured cell is read from a line of such a CSV: (column, type) pairs
ROW_CELL: tuple[tuple[str, Callable[[str], Any]], ...] = (("experiment", str), ("variant", str), ("size", int))
#: the LaTeX benchmark's tidy CSV (one line per call; :func:`praas_kit.bench.latex.save_tidy`)
LATEX_COLUMNS = ("operation", "input", "plot_label", "system", "path", "vcpus", "memory_mb", "tier", "repetition",
                 "time_s", "status", "time_data_s", "time_compile_s", "updated_files", "request_bytes", "reply_bytes")


def check_choice(what: str, chosen: tuple[str, ...] | list[str], known: tuple[str, ...]) -> None:
    """:class:`InvalidArgument` naming the known ones unless ``chosen`` (the ``what``: systems, stores...) is a
    selection of at least one of ``known``."""
    unknown = [c for c in chosen if c not in known]
    if unknown or not chosen:
        raise InvalidArgument(f"unknown {what} {unknown or list(chosen)}; known: {', '.join(known)}")


def check_backend(backend: str, valid: tuple[str, ...], what: str = "") -> None:
    """:class:`InvalidArgument` naming the valid backends when ``backend`` is not one of them (the one check)."""
    if backend not in valid:
        raise InvalidArgument(f"unknown backend {backend!r}{f' for {what}' if what else ''}; valid: "
                              f"{', '.join(valid)}")


@dataclass(frozen=True)
class Benchmark:
    """One experiment. Functions are named, not imported: ``"plot"`` is that attribute of :attr:`module`,
    ``"package.module:name"`` one of another module (:meth:`code` imports it)."""

    name: str
    module: str
    run: str  #: ``run(out, quick=..., ...) -> BenchRun``
    backends: tuple[str, ...] = ("local",)  #: what its ``backend`` option takes
    instead: tuple[tuple[str, str], ...] = ()  #: (backend, the benchmark that runs there instead)
    summarise: str = "summarise"  #: ``summarise(rows) -> list[Figure]``, each figure with its target
    targets: str | None = None  #: ``{key: Target}``, stated beside what they judge
    comparison: str | None = None  #: ``comparison(read(csv)) -> [{"benchmark", "what", "condition", "ours", ...}]``
    read: str = "praas_kit.bench.common:load_rows"  #: a result CSV back into what ``comparison`` takes
    plot: str | None = None  #: ``plot(csv) -> [png, pdf]``, drawn next to the CSV
    expected: str | None = None  #: ``expected(params) -> cells`` a run with those parameters must have measured
    columns: tuple[str, ...] = tuple(ROW_COLUMNS)  #: the CSV's header
    value: str = "value"  #: the CSV column of the measured value
    cell: tuple[tuple[str, Callable[[str], Any]], ...] = ROW_CELL  #: a line's cell: (column, type) pairs
    cell_extra: tuple[str, ...] = ()  #: keys of the ``extra`` column that are part of a cell too (integers)

    def code(self, ref: str) -> Callable[..., Any]:
        """The function (or value) ``ref`` names (see the class)."""
        module, _, attr = ref.rpartition(":")
        found: Callable[..., Any] = getattr(importlib.import_module(module or self.module), attr)
        return found

    def check_backend(self, backend: str) -> None:
        """:class:`InvalidArgument` if this benchmark does not run on ``backend``."""
        check_backend(backend, self.backends, self.name)

    def cell_of(self, line: Mapping[str, str]) -> tuple[Any, ...]:
        """The cell a CSV line measured (what :attr:`expected` lists)."""
        cell = tuple(kind(line[column]) for column, kind in self.cell)
        if self.cell_extra:
            extra = json.loads(line.get("extra") or "{}")
            cell += tuple(int(extra[k]) for k in self.cell_extra if k in extra)
        return cell


def _paper(name: str, run: str, backends: tuple[str, ...] = ("local", "docker"), **more: Any) -> Benchmark:
    """A paper experiment: its module has summarise, TARGETS, comparison, plot and expected."""
    return Benchmark(name, f"praas_kit.bench.{name}", run, backends, targets="TARGETS", comparison="comparison",
                     plot="plot", expected="expected", **more)


#: name -> record, the paper's experiments in the order of the report (:data:`praas_kit.bench.report.ORDER`)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("core", "praas_kit.bench.core", "run_core_benchmarks", instead=(("docker", "docker"),),
              targets="TARGETS"),
    Benchmark("docker", "praas_kit.bench.docker", "run_docker_benchmarks", ("docker",), (("docker", "docker"),),
              summarise="praas_kit.bench.core:summarise", targets="praas_kit.bench.core:TARGETS"),
    Benchmark("load", "praas_kit.bench.load", "run_load_benchmarks", targets="TARGETS"),
    Benchmark("profile", "praas_kit.bench.profile", "run_profile"),
    _paper("invocations", "run_invocation_benchmarks"),
    _paper("channels", "run_channel_benchmarks"),
    _paper("state", "run_state_benchmark", cell_extra=("invocations",)),
    _paper("swap", "run_swap_benchmark"),
    _paper("allocation", "run_allocation_benchmark", ("local", "docker", "swarm")),
    _paper("latex", "run_latex_benchmark", read="load", columns=LATEX_COLUMNS, value="time_s",
           cell=(("operation", str), ("plot_label", str), ("system", str), ("vcpus", float))),
    _paper("kmeans", "run_kmeans_benchmark"),
    Benchmark("scaling", "praas_kit.bench.scaling", "run_scaling", plot="plot", expected="expected"),
)}


def benchmark(name: str) -> Benchmark:
    """The record of benchmark ``name``; :class:`InvalidArgument` naming the known ones."""
    if name not in BENCHMARKS:
        raise InvalidArgument(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


__all__ = ["BENCHMARKS", "Benchmark", "benchmark", "check_backend", "check_choice", "ROW_COLUMNS", "LATEX_COLUMNS"]
