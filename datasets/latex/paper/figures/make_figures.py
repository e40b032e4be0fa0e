#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Regenerate the two figures of the praas-kit LaTeX benchmark paper.

    python3 make_figures.py            # writes latency.png and architecture.pdf here

Uses matplotlib only. The output is deterministic: the synthetic data come
from a fixed seed, the font is the DejaVu Sans that ships with matplotlib,
and the timestamp/software metadata that would differ between runs are
dropped, so rerunning the script on the same matplotlib version produces
identical files.

The numbers plotted are synthetic and illustrative; they are not
measurements of any real system.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20241114

PNG_META = {"Software": None}
PDF_META = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}

plt.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.linewidth": 0.6,
        "lines.linewidth": 1.4,
        "pdf.fonttype": 42,
        "svg.hashsalt": "praas-kit",
    }
)


def make_latency(path: str) -> None:
    """CDF of end-to-end invocation latency for three configurations."""
    rng = np.random.default_rng(SEED)
    n = 4000
    # Synthetic latency samples in milliseconds (log-normal bodies).
    configs = [
        ("cold start", rng.lognormal(np.log(410.0), 0.30, n), "#b2182b", "-"),
        ("warm, state reloaded", rng.lognormal(np.log(96.0), 0.35, n), "#ef8a62", "--"),
        ("Ember, state resident", rng.lognormal(np.log(7.5), 0.40, n), "#2166ac", "-"),
    ]
    fig, ax = plt.subplots(figsize=(3.3, 2.2))
    y = np.arange(1, n + 1) / n
    for label, samples, colour, style in configs:
        ax.plot(np.sort(samples), y, label=label, color=colour, linestyle=style)
    ax.set_xscale("log")
    ax.set_xlim(2, 2000)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("invocation latency [ms]")
    ax.set_ylabel("CDF")
    ax.grid(True, which="major", linewidth=0.3, alpha=0.6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
              frameon=False, fontsize=6.5, handlelength=2.2, columnspacing=1.2)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=150, metadata=PNG_META)
    plt.close(fig)


def _box(ax, x, y, w, h, text, face, fontsize=7, weight="normal"):
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h,
            boxstyle="round,pad=0.01,rounding_size=0.02",
            linewidth=0.7, edgecolor="#333333", facecolor=face,
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center",
            fontsize=fontsize, weight=weight)


def _arrow(ax, start, end, style="-|>", dashed=False):
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style, mutation_scale=8, linewidth=0.8,
            color="#333333", linestyle="--" if dashed else "-",
        )
    )


def make_architecture(path: str) -> None:
    """Box-and-arrow diagram of the Ember components on one worker node."""
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")

    # Control path.
    _box(ax, 0.02, 0.82, 0.22, 0.13, "clients", "#f7f7f7")
    _box(ax, 0.33, 0.82, 0.34, 0.13, "gateway\n(state-aware router)", "#d1e5f0")
    _box(ax, 0.76, 0.82, 0.22, 0.13, "object\nstore", "#f7f7f7")
    _arrow(ax, (0.24, 0.885), (0.33, 0.885))

    # Worker node frame.
    ax.add_patch(
        FancyBboxPatch(
            (0.02, 0.03), 0.96, 0.70,
            boxstyle="round,pad=0.0,rounding_size=0.02",
            linewidth=0.7, edgecolor="#777777", facecolor="none", linestyle="--",
        )
    )
    ax.text(0.04, 0.69, "worker node", fontsize=6.5, style="italic", va="center")

    _box(ax, 0.06, 0.42, 0.24, 0.22, "sandbox A\nfunction +\nstate heap", "#fddbc7")
    _box(ax, 0.35, 0.42, 0.24, 0.22, "sandbox B\nfunction +\nstate heap", "#fddbc7")
    _box(ax, 0.68, 0.42, 0.26, 0.22, "Ember agent\nretention\npolicy", "#d1e5f0",
         weight="bold")
    _box(ax, 0.06, 0.08, 0.40, 0.20, "tier 1: shared\nmemory pool", "#e0e0e0")
    _box(ax, 0.54, 0.08, 0.40, 0.20, "tier 2: local\nSSD spill area", "#e0e0e0")

    # Invocations routed to the sandboxes holding their state.
    _arrow(ax, (0.42, 0.82), (0.18, 0.64))
    _arrow(ax, (0.50, 0.82), (0.47, 0.64))
    # Agent supervises the sandboxes and the tiers.
    _arrow(ax, (0.68, 0.53), (0.59, 0.53), style="<|-|>")
    _arrow(ax, (0.81, 0.42), (0.74, 0.28), style="<|-|>")
    _arrow(ax, (0.18, 0.42), (0.22, 0.28), style="<|-|>")
    _arrow(ax, (0.47, 0.42), (0.36, 0.28), style="<|-|>")
    # Demotion to and restore from the remote tier.
    _arrow(ax, (0.87, 0.64), (0.87, 0.82), style="<|-|>", dashed=True)
    ax.text(0.855, 0.77, "tier 3", fontsize=6, va="center", ha="right")

    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)
    fig.savefig(path, metadata=PDF_META)
    plt.close(fig)


def main() -> None:
    make_latency(os.path.join(HERE, "latency.png"))
    make_architecture(os.path.join(HERE, "architecture.pdf"))


if __name__ == "__main__":
    main()
