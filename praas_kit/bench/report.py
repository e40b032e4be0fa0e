"""One table of our ratios beside the paper's, generated from the saved result files (``praas report``).

Each benchmark whose record (:data:`praas_kit.bench.BENCHMARKS`) has a ``comparison`` contributes rows
``{"benchmark", "what", "condition", "ours", "paper"}`` from its result files, read back with the record's
``read``; :data:`ORDER` lists them, in the registry's order. Every result and dataset file read is recorded as an
input (:mod:`praas_kit.provenance`). :func:`collect` finds result files
under ``results/<name>/<backend>/<name>.csv``; :func:`write` renders ``results/paper_vs_machine.md`` and
replaces the block between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in the README.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from praas_kit import provenance
from praas_kit.bench import BENCHMARKS, Benchmark
from praas_kit.errors import InvalidArgument

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
#: the benchmarks compared with the paper (those with a comparison), in the registry's order
ORDER = tuple(name for name, bench in BENCHMARKS.items() if bench.comparison is not None)


def result_files(results: Path) -> Iterator[tuple[Benchmark, Path]]:
    """Every result CSV under ``results`` (``<name>/<backend>/<name>.csv``) of a benchmark in :data:`ORDER`, with
    its record, in that order."""
    for name in ORDER:
        for csv_path in sorted(results.glob(f"{name}/*/{name}.csv")):
            yield BENCHMARKS[name], csv_path


def collect(results: Path) -> list[dict[str, Any]]:
    """Comparison rows from every result file under ``results`` (``<name>/<backend>/<name>.csv``), each with
    ``backend`` and ``source`` (the CSV's path relative to ``results``) added."""
    out: list[dict[str, Any]] = []
    for bench, csv_path in result_files(results):
        assert bench.comparison is not None
        rows = bench.code(bench.comparison)(bench.code(bench.read)(csv_path))
        source = csv_path.relative_to(results).as_posix()
        out += [r | {"backend": csv_path.parent.name, "source": source} for r in rows]
    return out


def regenerate_figures(results: Path, dest: Path | None = None) -> list[Path]:
    """Draw every benchmark's figure again from its CSV under ``results/<name>/<backend>/`` and copy the
    PNG and PDF to ``dest`` as ``<name>-<backend>.png``/``.pdf`` (default ``results/figures``); the copies."""
    import shutil

    dest = dest if dest is not None else results / "figures"
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for bench, csv_path in result_files(results):
        if bench.plot is None:
            continue
        for fig in bench.code(bench.plot)(csv_path):
            copy = dest / f"{bench.name}-{csv_path.parent.name}{fig.suffix}"
            shutil.copyfile(fig, copy)
            out.append(copy)
    return out


def _meta(results: Path, source: str) -> dict[str, Any]:
    try:
        path = (results / source).with_suffix(".meta.json")
        data = path.read_bytes()
        provenance.record(path, data)
        meta: dict[str, Any] = json.loads(data)
        return meta
    except (OSError, ValueError):
        return {}


def render(rows: list[dict[str, Any]], results: Path) -> str:
    """The rows as Markdown, one table per benchmark and backend, each naming its source files."""
    if not rows:
        return "_No result files found: run `praas bench NAME --full` first._\n"
    parts = []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["benchmark"], r["backend"], r["source"]), []).append(r)
    for (bench, backend, source), items in groups.items():
        meta = _meta(results, source)
        when = meta.get("created", "?")
        commit = str(meta.get("git_commit", "?"))[:10]
        if meta.get("git_dirty"):
            commit += " plus uncommitted changes"  # the run's code was not exactly that commit's
        mode = "quick" if meta.get("params", {}).get("quick") else "full"
        parts.append(f"**{bench}** ({backend} backend, {mode} run, `results/{source}`, {when}, commit {commit})\n")
        parts.append("| ratio | condition | ours | paper (AWS) |\n|---|---|---:|---:|")
        for r in items:
            ours = "–" if r["ours"] is None else f"{r['ours']:g}"
            paper = "–" if r["paper"] is None else f"{r['paper']:g}"
            parts.append(f"| {r['what']} | {r['condition']} | {ours} | {paper} |")
        parts.append("")
    return "\n".join(parts)


def _span(values: list[float]) -> str:
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}"


def render_summary(rows: list[dict[str, Any]]) -> str:
    """One line per (benchmark, backend, ratio): our range over its conditions beside the paper's range (for
    the README; :func:`render` has every condition)."""
    if not rows:
        return "_No result files found: run `praas bench NAME --full` first._\n"
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["benchmark"], r["backend"], r["what"]), []).append(r)
    lines = ["| benchmark | backend | ratio | conditions | ours | paper (AWS) |", "|---|---|---|---|---:|---:|"]
    for (bench, backend, what), items in groups.items():
        conds = [str(r["condition"]) for r in items]
        shown = conds[0] if len(conds) == 1 else f"{conds[0]} … {conds[-1]} ({len(conds)})"
        lines.append(f"| {bench} | {backend} | {what} | {shown} | "
                     f"{_span([r['ours'] for r in items if r['ours'] is not None])} | "
                     f"{_span([r['paper'] for r in items if r['paper'] is not None])} |")
    return "\n".join(lines) + "\n"


def write(results: Path = Path("results"), readme: Path | None = Path("README.md")) -> Path:
    """Write ``results/paper_vs_machine.md`` and, if ``readme`` has the markers, the README's results block."""
    if not results.is_dir():
        raise InvalidArgument(f"no results folder {results}")
    rows = collect(results)
    text = render(rows, results)
    target = results / "paper_vs_machine.md"
    target.write_text("# Our ratios beside the paper's\n\nGenerated by `praas report` from the CSV files under "
                      "`results/`; do not edit by hand.\n\n" + text)
    if readme is not None and readme.is_file():
        body = readme.read_text()
        if BEGIN in body and END in body:
            head, rest = body.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            readme.write_text(f"{head}{BEGIN}\n<!-- generated by `praas report` from results/; do not edit -->\n\n"
                              f"Our ratios of medians beside the paper's, each a range over its conditions (payload "
                              f"sizes, input sizes, container sizes; every condition, with the source files, is in "
                              f"`results/paper_vs_machine.md`):\n\n{render_summary(rows)}\n{END}{tail}")
    return target


__all__ = ["collect", "render", "render_summary", "write", "regenerate_figures", "result_files", "ORDER"]
