"""The datasets the benchmarks and notebooks read: the paper's numbers and the LaTeX projects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATASETS = Path(__file__).parent.parent / "datasets"


def test_paper_numbers_are_consistent() -> None:
    """Every CSV parses, and the ratios the paper states are recomputed from the raw medians."""
    out = subprocess.run([sys.executable, str(DATASETS / "paper" / "check.py")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.rstrip().endswith("OK")


def test_latex_projects_have_the_benchmark_inputs() -> None:
    paper, small = DATASETS / "latex" / "paper", DATASETS / "latex" / "test"
    for rel in ("main.tex", "references.bib", "secs/acks.tex", "secs/conclusion.tex", "secs/design.tex",
                "figures/architecture.pdf", "figures/latency.png"):
        assert (paper / rel).is_file(), rel
    assert len(list((paper / "secs").glob("*.tex"))) >= 8
    assert (paper / "secs" / "design.tex").stat().st_size > 12_000  # the long input
    assert (paper / "secs" / "acks.tex").stat().st_size < 1_500  # the short ones
    assert (paper / "figures" / "architecture.pdf").read_bytes().startswith(b"%PDF")
    assert (small / "main.tex").is_file() and (small / "figures" / "dot.png").read_bytes()[:4] == b"\x89PNG"
