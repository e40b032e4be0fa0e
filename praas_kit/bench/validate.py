"""Output validators for the benchmarks (in the spirit of SeBS's result checks): a run's files exist, have
their columns, and every cell the run's parameters call for was measured. They check what a run wrote, not how
fast it was.

:func:`validate` returns the problems found (an empty list for a valid run); :func:`check` raises
:class:`~praas_kit.errors.InvalidArgument` listing them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from praas_kit import provenance
from praas_kit.bench import ROW_COLUMNS, Benchmark, benchmark
from praas_kit.errors import InvalidArgument

META_KEYS = ("created", "git_commit", "python", "cpu_count", "params")


def _cells(bench: Benchmark, csv_path: Path) -> tuple[list[str], set[tuple[Any, ...]], list[str]]:
    """(header, measured cells, problems with values) of a result CSV (recorded as an input)."""
    problems: list[str] = []
    cells: set[tuple[Any, ...]] = set()
    data = csv_path.read_bytes()
    provenance.record(csv_path, data)
    with io.StringIO(data.decode("utf-8"), newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        for n, line in enumerate(reader, 2):
            value = line.get(bench.value, "")
            try:
                ok = math.isfinite(float(value)) and float(value) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"{csv_path.name}:{n}: not a measured value: {value!r}")
                continue
            cells.add(bench.cell_of(line))
    return header, cells, problems


def validate(out: Path, name: str) -> list[str]:
    """Problems with benchmark ``name``'s output in folder ``out`` (``[]``: valid).

    Checks: ``<name>.csv`` and ``<name>.meta.json`` exist; the CSV has the columns of the benchmark's record and
    only finite, non-negative values; the metadata has its provenance keys; every cell the record's
    ``expected(params)`` lists has samples; the figure ``<name>.png``/``.pdf`` of a benchmark that draws one exists
    and is not empty. The CSV and the metadata are recorded as inputs (:mod:`praas_kit.provenance`); the figures are
    outputs.
    """
    bench = benchmark(name)
    out = Path(out)
    csv_path, meta_path = out / f"{name}.csv", out / f"{name}.meta.json"
    problems = [f"missing {p}" for p in (csv_path, meta_path) if not p.is_file()]
    if problems:
        return problems
    header, cells, problems = _cells(bench, csv_path)
    if header != list(bench.columns):
        problems.append(f"{csv_path.name} has columns {header}, expected {list(bench.columns)}")
    data = meta_path.read_bytes()
    provenance.record(meta_path, data)
    try:
        meta = json.loads(data)
    except ValueError as exc:
        return problems + [f"{meta_path.name} is not JSON: {exc}"]
    problems += [f"{meta_path.name} lacks {k!r}" for k in META_KEYS if k not in meta]
    if bench.expected is not None and "params" in meta:
        missing = sorted(bench.code(bench.expected)(meta["params"]) - cells, key=str)
        problems += [f"no samples for {cell}" for cell in missing[:20]]
        if len(missing) > 20:
            problems.append(f"... and {len(missing) - 20} more cells without samples")
    if bench.plot is not None:
        for suffix in (".png", ".pdf"):
            fig = out / f"{name}{suffix}"
            if not fig.is_file() or fig.stat().st_size == 0:
                problems.append(f"missing figure {fig.name}")
    return problems


def check(out: Path, name: str) -> None:
    """Raise :class:`InvalidArgument` listing the problems of ``name``'s output in ``out``, if any."""
    problems = validate(out, name)
    if problems:
        raise InvalidArgument(f"{name} results in {out} are not valid:\n  " + "\n  ".join(problems))


__all__ = ["validate", "check", "ROW_COLUMNS"]
