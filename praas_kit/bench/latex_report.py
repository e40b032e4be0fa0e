"""The LaTeX benchmark's figure and its comparison with the paper (§6.4), from a ``latex.csv``.

* :func:`medians`: median, p5 and p95 seconds per (operation, label, system, vCPUs).
* :func:`ratio_table`: FaaS/PraaS median ratios per operation, label and size, for PraaS direct and sticky
  through the control plane, beside the paper's ratio (AWS Lambda + S3 / PraaS on Fargate) at the same size
  tier, from ``datasets/paper/latex_ratios.csv``.
* :func:`plot`: the paper's figure shape: grouped bars on a log scale; left panel get-file x4, get-pdf,
  update-file x4; right panel the three compile scenarios; hue = system and size. PNG and PDF.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from praas_kit.bench.common import pyplot, save_figure

PAPER = Path(__file__).resolve().parents[2] / "datasets" / "paper"  # in a source checkout
EDIT_GROUPS = [("get-file", f"Input {i}") for i in range(1, 5)] + [("get-pdf", "get-pdf")] + \
    [("update-file", f"Input {i}") for i in range(1, 5)]
COMPILE_GROUPS = [("compile", "Recompilation"), ("compile", "No Update"), ("compile", "Failure")]
PAPER_COMPILE_INPUTS = {"full": "Recompilation", "small-update": "No Update", "large-update": "Failure"}
TIERS = {"small": 0.25, "medium": 0.5, "large": 1.0, "largest": 2.0}  #: the paper's size tiers, in vCPUs

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


def paper_ratios(folder: Path = PAPER) -> dict[tuple[str, str, float], float]:
    """The paper's Lambda/PraaS median ratios, ``{(operation, label, vcpus): ratio}`` (empty without the
    datasets)."""
    labels: dict[tuple[str, str], str] = {}
    try:
        with open(folder / "latex.csv", newline="") as f:
            for r in csv.DictReader(f):
                labels[(r["operation"], r["input"])] = r["plot_label"]
        with open(folder / "latex_ratios.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
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


def plot(lines: list[dict[str, Any]], out: Path, systems: tuple[str, ...] = ("praas", "faas"),
         title: str | None = None) -> list[Path]:
    """Draw the figure to ``out``.png and ``out``.pdf; the two paths."""
    plt = pyplot()

    m = medians(lines)
    sizes = sorted({k[3] for k in m})
    hues = [(s, v) for s in systems for v in sizes if any(k[2] == s and k[3] == v for k in m)]
    cmaps = {"praas": plt.get_cmap("Blues"), "praas-cp": plt.get_cmap("Greens"), "faas": plt.get_cmap("Oranges")}
    names = {"praas": "PraaS", "praas-cp": "PraaS (sticky, CP)", "faas": "FaaS + S3"}
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.2]})
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
        ax.set_xticklabels([f"{op}\n{label}" if op != "compile" else label for op, label in groups], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(f"time [{unit}], median (p5–p95)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_title("editing")
    axes[1].set_title("compiling")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
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


__all__ = ["load", "TIERS", "medians", "paper_ratios", "ratio_table", "format_ratio_table", "save_ratio_table", "plot",
           "report"]
