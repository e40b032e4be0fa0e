"""The LaTeX benchmark's figure and its comparison with the paper (§6.4), from a ``latex.csv``.

* :func:`medians`: median, p5 and p95 seconds per (operation, label, system, vCPUs).
* :func:`ratio_table`: FaaS/PraaS median ratios per operation, label and size, for PraaS direct and sticky
  through the control plane, beside the paper's ratio (AWS Lambda + S3 / PraaS on Fargate) at the same size
  tier, from ``datasets/paper/latex_ratios.csv``.
* :func:`plot`: the paper's figure shape: grouped bars on a log scale; left panel get-file x4, get-pdf,
  update-file x4; right panel the three compile scenarios; hue = system and size. A bottom panel sets our
  FaaS/PraaS ratios beside the paper's Lambda/PraaS ratios at the same size tier (absolute times are not
  comparable: AWS against one machine, another document). PNG and PDF.
* :func:`input_sizes` / :func:`format_inputs`: the files a run edited as Input 1..4 beside the paper's
  (:data:`PAPER_INPUTS`), with the size ratio.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from praas_kit.bench.common import paper_csv, pyplot, save_figure
from praas_kit.checkout import checkout_path

PAPER = checkout_path("datasets", "paper")  # in the source checkout
EDIT_GROUPS = [("get-file", f"Input {i}") for i in range(1, 5)] + [("get-pdf", "get-pdf")] + \
    [("update-file", f"Input {i}") for i in range(1, 5)]
COMPILE_GROUPS = [("compile", "Recompilation"), ("compile", "No Update"), ("compile", "Failure")]
PAPER_COMPILE_INPUTS = {"full": "Recompilation", "small-update": "No Update", "large-update": "Failure"}
TIERS = {"small": 0.25, "medium": 0.5, "large": 1.0, "largest": 2.0}  #: the paper's size tiers, in vCPUs
#: the paper's editing inputs: (label, file, bytes of the file), from ``datasets/paper/README.md``
PAPER_INPUTS = (("Input 1", "secs/acks.tex", 694), ("Input 2", "secs/multi.tex", 1_124),
                ("Input 3", "secs/core.tex", 11_609), ("Input 4", "sampleteaser.pdf", 439_021))
PAPER_REPS = 50  #: the paper's measured calls per cell (after 1 warm-up), editing and compiling alike

Key = tuple[str, str, str, float]  # operation, plot label, system, vCPUs


def load(csv_path: Path) -> list[dict[str, Any]]:
    """The lines of a ``latex.csv``, numbers parsed."""
    with open(csv_path, newline="") as f:
        rows: list[dict[str, Any]] = list(csv.DictReader(f))
    for r in rows:
        for k in ("time_s", "vcpus", "time_data_s", "time_compile_s"):
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
        for k in ("memory_mb", "repetition", "request_bytes", "reply_bytes"):
            r[k] = int(r[k]) if r.get(k) not in (None, "") else None
    return rows


def _q(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def medians(lines: list[dict[str, Any]]) -> dict[Key, dict[str, float]]:
    """``{(operation, label, system, vcpus): {"median", "p5", "p95", "n"}}`` in seconds."""
    groups: dict[Key, list[float]] = defaultdict(list)
    for line in lines:
        groups[(line["operation"], line["plot_label"], line["system"], float(line["vcpus"]))].append(
            float(line["time_s"]))
    return {k: {"median": statistics.median(v), "p5": _q(v, 0.05), "p95": _q(v, 0.95), "n": len(v)}
            for k, v in groups.items()}


def _paper_rows(name: str, folder: Path | None) -> list[dict[str, str]]:
    if folder is None:
        return paper_csv(name)  # datasets/paper/, recorded as an input
    try:
        with open(folder / name, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def paper_ratios(folder: Path | None = None) -> dict[tuple[str, str, float], float]:
    """The paper's Lambda/PraaS median ratios, ``{(operation, label, vcpus): ratio}``, from ``latex.csv`` (the
    labels) and ``latex_ratios.csv`` in ``folder`` (default ``datasets/paper``); empty without them."""
    labels = {(r["operation"], r["input"]): r["plot_label"] for r in _paper_rows("latex.csv", folder)}
    rows = _paper_rows("latex_ratios.csv", folder) if labels else []
    out = {}
    for r in rows:
        label = PAPER_COMPILE_INPUTS.get(r["input"]) if r["operation"] == "compile" else \
            labels.get((r["operation"], r["input"]))
        if label and r["size"] in TIERS:
            out[(r["operation"], label, TIERS[r["size"]])] = float(r["ratio_median"])
    return out


def ratio_table(lines: list[dict[str, Any]], paper: dict[tuple[str, str, float], float] | None = None
                ) -> list[dict[str, Any]]:
    """One row per (operation, label, vCPUs): the medians (ms), FaaS/PraaS for PraaS direct and sticky, the
    paper's ratio, and whether PraaS (direct) was faster."""
    m = medians(lines)
    paper = paper_ratios() if paper is None else paper
    out = []
    for (op, label, system, vcpus), faas in sorted(m.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1])):
        if system != "faas":
            continue
        direct = m.get((op, label, "praas", vcpus))
        sticky = m.get((op, label, "praas-cp", vcpus))
        row: dict[str, Any] = {"operation": op, "label": label, "vcpus": vcpus,
                               "faas_ms": round(faas["median"] * 1e3, 3),
                               "praas_ms": round(direct["median"] * 1e3, 3) if direct else None,
                               "praas_cp_ms": round(sticky["median"] * 1e3, 3) if sticky else None,
                               "ratio_direct": round(faas["median"] / direct["median"], 2) if direct else None,
                               "ratio_sticky": round(faas["median"] / sticky["median"], 2) if sticky else None,
                               "paper_ratio": paper.get((op, label, vcpus))}
        row["praas_faster"] = bool(direct and direct["median"] < faas["median"])
        out.append(row)
    return out


def speedup(rows: list[dict[str, Any]], operation: str) -> dict[str, float] | None:
    """How much faster PraaS (direct) was than FaaS+S3 at ``operation`` over every input and size of a
    :func:`ratio_table`: ``{"min", "max", "geomean", "n"}`` of its FaaS/PraaS ratios; None if it has none."""
    ratios = [r["faas_ms"] / r["praas_ms"] for r in rows if r["operation"] == operation and r["praas_ms"]]
    if not ratios:
        return None
    return {"min": min(ratios), "max": max(ratios), "geomean": statistics.geometric_mean(ratios),
            "n": float(len(ratios))}


def update_over_get(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PraaS's own ``update-file`` against its ``get-file`` on the text inputs (Input 1-3), ours and the paper's at
    the same size tier: per vCPUs of a :func:`ratio_table`, ``{"vcpus", "ours_update_ms", "ours_get_ms",
    "paper_update_ms", "paper_get_ms"}``, each the median over the three inputs (the paper's None without its
    data). The paper's PraaS stored a file in process memory too, yet its update-file cost about 25 ms more
    than its get-file; this sets that beside ours."""
    text = {f"Input {i}" for i in range(1, 4)}
    paper: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in paper_csv("latex.csv"):
        if r["system"] == "praas" and r["plot_label"] in text and r["size"] in TIERS:
            paper[(r["operation"], TIERS[r["size"]])].append(float(r["median_ms"]))
    out = []
    for vcpus in sorted({r["vcpus"] for r in rows}):
        ours = {op: [r["praas_ms"] for r in rows if r["vcpus"] == vcpus and r["operation"] == op
                     and r["label"] in text and r["praas_ms"]] for op in ("update-file", "get-file")}
        if not all(ours.values()):
            continue
        theirs = {op: paper.get((op, vcpus)) for op in ("update-file", "get-file")}
        out.append({"vcpus": vcpus, "ours_update_ms": statistics.median(ours["update-file"]),
                    "ours_get_ms": statistics.median(ours["get-file"]),
                    "paper_update_ms": statistics.median(theirs["update-file"]) if theirs["update-file"] else None,
                    "paper_get_ms": statistics.median(theirs["get-file"]) if theirs["get-file"] else None})
    return out


def save_ratio_table(rows: list[dict[str, Any]], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]) if rows else ["operation"])
        w.writeheader()
        w.writerows(rows)
    return path


def format_ratio_table(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown (medians in ms; ratios FaaS/PraaS)."""
    head = "| operation | input | vCPU | PraaS direct ms | PraaS sticky ms | FaaS ms | FaaS/direct | FaaS/sticky | " \
           "paper (Lambda/PraaS) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"

    def f(x: Any, suffix: str = "") -> str:
        return "–" if x is None else f"{x:g}{suffix}"

    body = [f"| {r['operation']} | {r['label']} | {r['vcpus']:g} | {f(r['praas_ms'])} | {f(r['praas_cp_ms'])} | "
            f"{f(r['faas_ms'])} | {f(r['ratio_direct'], '×')} | {f(r['ratio_sticky'], '×')} | "
            f"{f(r['paper_ratio'], '×')} |"
            for r in rows]
    return "\n".join([head, *body])


def input_sizes(inputs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The editing inputs of a run (its metadata's ``params["inputs"]``: ``{label: [file, bytes]}``) beside the
    paper's: ``{"label", "file", "bytes", "paper_file", "paper_bytes", "ratio"}`` (ours / the paper's size)."""
    out = []
    for label, paper_file, paper_bytes in PAPER_INPUTS:
        file, size = inputs.get(label, [None, None])
        out.append({"label": label, "file": file, "bytes": size, "paper_file": paper_file,
                    "paper_bytes": paper_bytes, "ratio": round(size / paper_bytes, 3) if size else None})
    return out


def format_inputs(rows: list[dict[str, Any]]) -> str:
    """:func:`input_sizes` as Markdown."""
    head = "| input | this run | bytes | paper | bytes | ours / paper |\n|---|---|---:|---|---:|---:|"
    body = [f"| {r['label']} | `{r['file']}` | {r['bytes']:,} | `{r['paper_file']}` | {r['paper_bytes']:,} | "
            f"{r['ratio']:.2f}× |" for r in rows if r["file"] is not None]
    return "\n".join([head, *body])


def _tick(op: str, label: str, compile_too: bool = False) -> str:
    if op == "compile":
        return f"compile {label}" if compile_too else label
    return op if label == op else f"{op} {label}"


def _ratio_panel(ax: Any, m: dict[Key, dict[str, float]], paper: dict[tuple[str, str, float], float],
                 sizes: list[float], cmap: Any) -> None:
    """FaaS/PraaS (direct) per group and size as bars, the paper's Lambda/PraaS at the same tier as hollow
    markers on the same x."""
    groups = EDIT_GROUPS + COMPILE_GROUPS
    width = 0.8 / max(1, len(sizes))
    marked = False
    for h, vcpus in enumerate(sizes):
        shade = 0.4 + 0.5 * (h / max(1, len(sizes) - 1))
        xs, ys, pxs, pys = [], [], [], []
        for g, (op, label) in enumerate(groups):
            x = g - 0.4 + width * (h + 0.5)
            faas, praas = m.get((op, label, "faas", vcpus)), m.get((op, label, "praas", vcpus))
            if faas and praas:
                xs.append(x)
                ys.append(faas["median"] / praas["median"])
            theirs = paper.get((op, label, vcpus))
            if theirs is not None:
                pxs.append(x)
                pys.append(theirs)
        ax.bar(xs, ys, width, color=cmap(shade), label=f"ours: FaaS+S3 / PraaS, {vcpus:g} vCPU")
        if pxs:
            ax.plot(pxs, pys, linestyle="none", marker="D", markersize=5, color="black", markerfacecolor="none",
                    label=None if marked else "paper: Lambda+S3 / PraaS (AWS, same size tier)")
            marked = True
    ax.axhline(1.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.axvline(len(EDIT_GROUPS) - 0.5, color="0.6", linewidth=0.8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([_tick(op, label, True) for op, label in groups], fontsize=8, rotation=25, ha="right",
                       rotation_mode="anchor")
    ax.set_yscale("log")
    ax.set_ylabel("ratio of medians\n(> 1: PraaS faster)")
    ax.set_title("our ratios beside the paper's (§6.4)")
    ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("paper"))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))


def plot(lines: list[dict[str, Any]], out: Path, systems: tuple[str, ...] = ("praas", "faas"),
         title: str | None = None, paper: dict[tuple[str, str, float], float] | None = None) -> list[Path]:
    """Draw the figure to ``out``.png and ``out``.pdf; the two paths. Top: our medians (editing in ms, compiling
    in s); bottom: our FaaS/PraaS ratios with the paper's Lambda/PraaS ratios (``paper``, default
    :func:`paper_ratios`) at the same size tier."""
    plt = pyplot()

    m = medians(lines)
    paper = paper_ratios() if paper is None else paper
    sizes = sorted({k[3] for k in m})
    hues = [(s, v) for s in systems for v in sizes if any(k[2] == s and k[3] == v for k in m)]
    cmaps = {"praas": plt.get_cmap("Blues"), "praas-cp": plt.get_cmap("Greens"), "faas": plt.get_cmap("Oranges")}
    names = {"praas": "PraaS", "praas-cp": "PraaS (sticky, CP)", "faas": "FaaS + S3"}
    fig = plt.figure(figsize=(13, 7.6))
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1.2], height_ratios=[1, 0.9])
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
    width = 0.8 / max(1, len(hues))
    for ax, groups, unit, scale in ((axes[0], EDIT_GROUPS, "ms", 1e3), (axes[1], COMPILE_GROUPS, "s", 1.0)):
        for h, (system, vcpus) in enumerate(hues):
            shade = 0.4 + 0.5 * (sizes.index(vcpus) / max(1, len(sizes) - 1))
            xs, ys, lo, hi = [], [], [], []
            for g, (op, label) in enumerate(groups):
                cell = m.get((op, label, system, vcpus))
                if cell is None:
                    continue
                xs.append(g - 0.4 + width * (h + 0.5))
                ys.append(cell["median"] * scale)
                lo.append((cell["median"] - cell["p5"]) * scale)
                hi.append((cell["p95"] - cell["median"]) * scale)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=1.5, error_kw={"linewidth": 0.6},
                   color=cmaps[system](shade), label=f"{names[system]}, {vcpus:g} vCPU")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([_tick(op, label) for op, label in groups], fontsize=8, rotation=25, ha="right",
                           rotation_mode="anchor")
        ax.set_yscale("log")
        ax.set_ylabel(f"time [{unit}], median (p5–p95)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_title("editing")
    axes[1].set_title("compiling")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    _ratio_panel(fig.add_subplot(grid[1, :]), m, paper, sizes, plt.get_cmap("Purples"))
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out)


def report(csv_path: Path) -> dict[str, Any]:
    """Figure (``latex.png``/``.pdf``) and ratio table (``latex_ratios.csv``, ``latex_ratios.md``) next to a
    ``latex.csv``; what was written."""
    lines = load(csv_path)
    rows = ratio_table(lines)
    folder = csv_path.parent
    table = save_ratio_table(rows, folder / "latex_ratios.csv")
    (folder / "latex_ratios.md").write_text(format_ratio_table(rows) + "\n")
    figures = plot(lines, folder / "latex")
    return {"figures": figures, "table": table, "rows": rows}


__all__ = ["load", "TIERS", "PAPER_INPUTS", "PAPER_REPS", "medians", "paper_ratios", "ratio_table",
           "format_ratio_table", "save_ratio_table", "speedup", "update_over_get", "input_sizes", "format_inputs",
           "plot", "report"]
