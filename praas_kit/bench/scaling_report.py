"""Reading the scaling measurement (:mod:`praas_kit.bench.scaling`): power-law fits of each cost against the
number of processes, the headline figures, and the three-panel figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from praas_kit.bench.common import Figure, Row, load_rows, pyplot, save_figure
from praas_kit.bench.scaling_s3 import S3_CLIENTS, S3_SIZES

REGISTRY_OPS = ("get_process", "update_process", "insert_process", "list_app", "list_app_small", "list_all",
                "ev_create", "ev_swap_out", "inv_sticky", "inv_faas")
MEANINGS = {
    "get_process": "one record by (app, name): every REST call and transition reads one",
    "update_process": "a status change (INSERT OR REPLACE of one record)",
    "insert_process": "a new record (create)",
    "list_app": "all records of the big application (world push, pooled routing)",
    "list_app_small": "all records of a 10-process application beside the big one",
    "list_all": "every record (downscaler tick, recovery, listing)",
    "ev_create": "registry calls of one create -> ALLOCATED, world listing included",
    "ev_swap_out": "registry calls of one swap-out (two world listings)",
    "inv_sticky": "registry calls of one invocation with ?process=",
    "inv_faas": "registry calls of one pooled (FaaS-style) invocation",
    "world-push": "control-plane CPU of one world push to N peers (sockets excluded)",
    "world-decode": "parsing one N-process world frame in a receiving process",
    "world-alloc full_frames": "world frames sent to allocate N processes one by one",
    "world-alloc full_bytes": "world bytes sent to allocate N processes one by one",
    "world-alloc full_seconds": "control-plane CPU of those pushes (interpolated)",
    "world-alloc peer_parse_seconds": "CPU all processes spend parsing them",
    "world-alloc delta_bytes": "the same with one-entry delta frames (proposed)",
}


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def interpolate(points: dict[int, float], x: int) -> float:
    """Piecewise-linear interpolation through the measured ``points`` (``{N: median}``), constant beyond them."""
    xs = sorted(points)
    if x <= xs[0]:
        return points[xs[0]]
    for lo, hi in zip(xs, xs[1:], strict=False):
        if x <= hi:
            return points[lo] + (points[hi] - points[lo]) * (x - lo) / (hi - lo)
    return points[xs[-1]]


def fit_power(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = c * x**k`` on a log-log scale; ``(c, k)``."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return float("nan"), float("nan")
    a, b = _fit_line([p[0] for p in pts], [p[1] for p in pts])
    return math.exp(a), b


def _by(rows: list[Row], experiment: str) -> dict[tuple[str, int], Row]:
    return {(r.variant, r.size): r for r in rows if r.experiment == experiment}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us" if seconds < 1e-2 else f"{seconds * 1e3:,.1f} ms" if seconds < 10 \
        else f"{seconds:,.0f} s"


def _bytes(n: float) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):,.1f} {unit}"
    return f"{n:,.0f} B"


def growth(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Per cost: the medians by N and the fitted exponent k of ``c * N**k``: ``{name: {"by_n", "exponent"}}``
    for every registry operation, ``world-push``, ``world-decode`` and the ``world-alloc`` totals."""
    out: dict[str, dict[str, Any]] = {}
    series = [(f"registry {op}", "registry", op) for op in REGISTRY_OPS]
    series += [("world-push", "world-push", "full"), ("world-decode", "world-decode", "full")]
    series += [(f"world-alloc {v}", "world-alloc", v) for v in ("full_frames", "full_bytes", "full_seconds",
                                                                "peer_parse_seconds", "delta_bytes")]
    for name, experiment, variant in series:
        by_n = {r.size: r.median for r in rows if r.experiment == experiment and r.variant == variant}
        if by_n:
            out[name] = {"by_n": dict(sorted(by_n.items())),
                         "exponent": fit_power([float(n) for n in by_n], list(by_n.values()))[1]}
    return out


def summarise(rows: list[Row]) -> list[Figure]:
    """The growth figures: each cost at the smallest and largest N with its fitted exponent (per-operation time
    ~ N**k), what allocating the largest N costs in world updates (full, delta, lazy), the largest world the
    runtime accepts, and the S3 rates with the time 10,000 swap-outs would queue on one endpoint."""
    figures: list[Figure] = []
    for name, g in growth(rows).items():
        by_n = g["by_n"]
        lo, hi = min(by_n), max(by_n)
        fmt = _bytes if name.endswith("bytes") else (lambda v: f"{v:,.0f}") if name.endswith("frames") else _us
        figures.append(Figure(name, f"{fmt(by_n[lo])} at N={lo:,} -> {fmt(by_n[hi])} at N={hi:,} "
                                    f"(~ N^{g['exponent']:.2f})", "", None,
                              MEANINGS.get(name.removeprefix("registry "), "")))
    push = [r for r in rows if r.experiment == "world-push"]
    if push:
        big = max(push, key=lambda r: r.size)
        figures.append(Figure("world frame", f"{_bytes(big.extra['frame_bytes'])} at N={big.size:,}; the runtime "
                                             f"{'accepts' if big.extra['runtime_accepts'] else 'refuses'} it",
                              "accepted", big.extra["runtime_accepts"],
                              "one world frame (the peers in its payload: no header limit)"))
    s3 = {(r.experiment, r.size, r.extra["clients"]): r for r in rows if r.experiment in ("s3-put", "s3-get")}
    for (experiment, size, clients), r in sorted(s3.items()):
        figures.append(Figure(f"{experiment} {_bytes(size)} x{clients}",
                              f"{r.extra['ops_per_s']:,.0f} req/s = {r.extra['mib_per_s']:,.1f} MiB/s, "
                              f"p50 {_us(r.median)}", "", None, "one Swift S3 endpoint on this machine"))
    swap = {r.variant: r for r in rows if r.experiment == "s3-swap"}
    if s3 and "swap-out" in swap:
        requests = swap["swap-out"].median
        small = max(r.extra["ops_per_s"] for (e, size, _), r in s3.items() if e == "s3-put" and size == S3_SIZES[0])
        large = max(r.extra["mib_per_s"] for (e, size, _), r in s3.items() if e == "s3-put" and size == S3_SIZES[-1])
        figures.append(Figure("10,000 swap-outs on one endpoint",
                              f"{requests:.0f} requests each: >= {10_000 * requests / small:,.0f} s by requests; "
                              f"10 MiB each: >= {10_000 * 10 / large:,.0f} s by bandwidth", "", None,
                              "queueing on one S3 endpoint at the best measured rates"))
    return figures


def plot(csv_path: Path) -> list[Path]:
    """Draw ``scaling.png`` and ``scaling.pdf`` next to ``csv_path``; the two paths. Left: registry time per
    operation against N (log-log); middle: bytes the control plane sends to allocate N processes, full worlds
    against deltas, with the runtime's header limit; right: S3 requests/s against concurrent clients."""
    rows = load_rows(csv_path)
    plt = pyplot()
    has_s3 = any(r.experiment == "s3-put" for r in rows)
    fig, axes = plt.subplots(1, 3 if has_s3 else 2, figsize=(13 if has_s3 else 9, 3.8))
    ax = axes[0]
    for op in ("get_process", "update_process", "inv_sticky", "list_app", "ev_create", "inv_faas"):
        pts = sorted((n, r.median) for (v, n), r in _by(rows, "registry").items() if v == op)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] * 1e3 for p in pts], marker="o", label=op)
    ax.set(xscale="log", yscale="log", xlabel="process records N", ylabel="ms per operation",
           title="(a) SQLite registry")
    ax.legend(fontsize=7)
    ax = axes[1]
    alloc = _by(rows, "world-alloc")
    for variant, label, style in (("full_bytes", "full world per event (now)", "-"),
                                  ("delta_bytes", "deltas (proposed)", "--"), ("full_frames", "frames (both)", ":")):
        pts = sorted((n, r.median) for (v, n), r in alloc.items() if v == variant)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=label)
    sim = sorted((n, r.median) for (v, n), r in alloc.items() if v == "sim_bytes")
    if sim:
        ax.plot([p[0] for p in sim], [p[1] for p in sim], "x", color="black", label="simulated (real pushes)")
    ax.set(xscale="log", yscale="log", xlabel="processes allocated one after another N",
           ylabel="bytes (or frames) sent", title="(b) world updates")
    ax.legend(fontsize=7)
    if has_s3:
        ax = axes[2]
        for size in S3_SIZES:
            for op, style in (("s3-put", "-"), ("s3-get", "--")):
                pts = sorted((r.extra["clients"], r.extra["ops_per_s"]) for r in rows
                             if r.experiment == op and r.size == size)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o",
                            label=f"{op[3:].upper()} {_bytes(size)}")
        ax.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="requests/s (all clients)",
               xticks=list(S3_CLIENTS), xticklabels=[str(c) for c in S3_CLIENTS], title="(c) one S3 endpoint (Swift)")
        ax.legend(fontsize=7)
    for ax in axes:
        ax.grid(which="major", alpha=0.35)
    fig.suptitle("Scale costs on this machine (issue 12)", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["growth", "summarise", "plot", "fit_power", "interpolate", "REGISTRY_OPS", "MEANINGS"]
