"""Invocation latency (``praas bench invocations``, paper §6.1): an echo of 10 B ... 5 MiB, round trip.

Variants, measured in alternating blocks so that machine noise hits them alike:

* ``raw``: a raw pyzmq round trip of the same two frames to an echo server reached like the process (same
  host or same network, the same security: CurveZMQ when the data plane uses it); the transport's limit;
* ``direct``: client -> process over the data plane (the SDK's ``Process.invoke``);
* ``control-plane``: through the control plane, sticky (``app.invoke(..., process=)``), over its invocation
  gateway (ZeroMQ);
* ``control-plane-rest``: the same through the REST route (a client made with ``gateway=False``);
* ``faas``: through the control plane to any idle pooled process (FaaS style);
* ``local``: a function invoking ``SELF`` (timed inside the process).

Also the no-op throughput of one process from 8 client processes and, with ``contention``, the same
direct/raw blocks again while a CPU-bound process runs beside the benchmark. Rows go to
``<out>/invocations.csv`` + ``.meta.json`` with ``auth`` and ``contention`` in each row's ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.baselines import THROUGHPUT, Contention, RawEcho, RawEchoContainer, raw_echo, throughput
from praas_kit.bench.common import BenchRun, Figure, Row, Target, load_rows, median_of, paper_csv, pyplot, save_figure
from praas_kit.bench.harness import BENCH_APP, deployment, finish, security, start
from praas_kit.bench.series import CONTROL_PLANE_VS_DIRECT, DIRECT_VS_RAW, blocks
from praas_kit.bench.sizes import SIZES, by_size, size_label
from praas_kit.sdk.client import ControlPlaneClient

if TYPE_CHECKING:
    from praas_kit.sdk.client import Application, Process

#: the hot path's targets: direct / raw by size, control plane / direct at 10 B, the throughput of one process,
#: and direct / raw with a CPU hog beside within 1.3x of the quiet ratio
TARGETS: dict[str, Target] = {"direct/raw 10 B": DIRECT_VS_RAW[10], "direct/raw 1 MiB": DIRECT_VS_RAW[1 << 20],
                              "control plane/direct": CONTROL_PLANE_VS_DIRECT, "throughput": THROUGHPUT,
                              "contention": Target("<=", 1.3, text="within 1.3x of quiet")}


def _reps(size: int, quick: bool) -> int:
    return by_size(size, (200, 60, 20) if quick else (2000, 500, 100))


def _rows(auth: str, contention: bool, backend: str) -> dict[str, Any]:
    return {"auth": auth, "contention": contention, "backend": backend}


def latency_rows(p: Process, app: Application, raw: RawEcho | RawEchoContainer, sizes: list[int], quick: bool,
                 extra: dict[str, Any], variants: tuple[str, ...], rounds: int,
                 rest_app: Application | None = None) -> list[Row]:
    rows: list[Row] = []
    for size in tqdm(sizes, desc=f"invocations ({extra['auth']}{', contention' if extra['contention'] else ''})",
                     unit="size", leave=False):
        payload = b"x" * size
        n = max(1, _reps(size, quick) // rounds)
        calls: dict[str, Callable[[], Any]] = {
            "raw": lambda: raw.call(payload),  # noqa: B023
            "direct": lambda: p.invoke("echo", payload),  # noqa: B023
            "control-plane": lambda: app.invoke("echo", payload, process=p.name),  # noqa: B023
            "faas": lambda: app.invoke("echo", payload),  # noqa: B023
        }
        if rest_app is not None:
            calls["control-plane-rest"] = lambda: rest_app.invoke("echo", payload, process=p.name)  # noqa: B023
        timed = [v for v in variants if v in calls]
        got = blocks({v: calls[v] for v in timed}, rounds,
                     {v: n if v in ("raw", "direct") else max(1, n // 4) for v in timed}, warmup=3)
        rows += [Row("invoke", v, size, "s", got[v], dict(extra)) for v in timed]
        if "local" in variants:
            rows.append(Row("invoke", "local", size, "s", p.invoke("self_echo", {"size": size, "n": n}).json(),
                            dict(extra)))
    return rows


def run_invocation_benchmarks(out: Path, quick: bool = True, backend: str = "local",
                              dataplane_auth: str | tuple[str, ...] = ("curve", "none"),
                              sizes: list[int] | None = None, contention: bool = True,
                              variants: tuple[str, ...] = ("raw", "direct", "control-plane", "control-plane-rest",
                                                           "faas", "local"),
                              clients: int = 8) -> BenchRun:
    """Run the invocation benchmark for each data-plane security setting; save ``invocations.csv`` + meta."""
    started, auths = start("invocations", backend), security(dataplane_auth)
    sizes, rounds = sizes or SIZES, 3 if quick else 5
    params = {"quick": quick, "backend": backend, "auths": list(auths), "sizes": sizes, "rounds": rounds,
              "variants": list(variants), "contention": contention, "throughput_clients": clients,
              "reps": {s: _reps(s, quick) for s in sizes}}
    rows: list[Row] = []
    for auth in auths:
        with ExitStack() as stack:
            cp = stack.enter_context(deployment(backend, function_workers=2, dataplane_auth=auth))
            app = cp.create_application("bench", code=BENCH_APP)
            p = app.create_process("echo", vcpus=1.0, memory_mb=1024)
            raw = raw_echo(backend, cp, auth == "curve", stack)
            rest = stack.enter_context(ControlPlaneClient(cp.url, cp.token, gateway=False))
            extra = _rows(auth, False, backend)
            rows += latency_rows(p, app, raw, sizes, quick, extra, variants, rounds, rest.application("bench"))
            tp = Row("throughput", "noop", clients, "1/s", extra=dict(extra))
            for _ in range(2 if quick else 3):
                tp.values.append(throughput(p.refresh().address or "", clients, 2.0 if quick else 5.0,
                                            p.info.public_key, cp.credentials("bench")))
            rows.append(tp)
            if contention:
                with Contention():
                    rows += latency_rows(p, app, raw, [s for s in sizes if s in (10, 1 << 20)], quick,
                                         _rows(auth, True, backend), ("raw", "direct"), rounds)
    return finish(rows, out, "invocations", params, partial(plot, auth=auths[0]), started=started)


def median(rows: list[Row], variant: str, size: int, auth: str, contention: bool = False) -> float | None:
    """The median round trip (seconds) of ``variant`` at ``size`` bytes under ``auth`` (``"curve"`` or ``"none"``),
    quiet or with the CPU hog beside (``contention``); None when that was not measured."""
    return median_of(rows, "invoke", variant, size, auth=auth, contention=contention)


def summarise(rows: list[Row]) -> list[Figure]:
    """The hot path's figures with their targets, for each security setting measured."""
    out = []
    for auth in sorted({str(r.extra.get("auth")) for r in rows}):
        for size in (10, 1 << 20):
            d, raw = median(rows, "direct", size, auth), median(rows, "raw", size, auth)
            if d and raw:
                out.append(TARGETS[f"direct/raw {size_label(size)}"].figure(
                    f"direct / raw, {size_label(size)} ({auth})", f"{d * 1e6:.0f} us / {raw * 1e6:.0f} us = "
                    f"{d / raw:.2f}x", d / raw, "echo round trip, client -> process vs raw pyzmq, same security"))
        for variant, how in (("control-plane", "gateway"), ("control-plane-rest", "REST")):
            d, cpv = median(rows, "direct", 10, auth), median(rows, variant, 10, auth)
            if d and cpv:
                out.append(TARGETS["control plane/direct"].figure(
                    f"control plane ({how}) / direct, 10 B ({auth})", f"{cpv * 1e3:.2f} ms / {d * 1e3:.3f} ms = "
                    f"{cpv / d:.1f}x", cpv / d, f"sticky invoke through the control plane's {how} vs direct"))
        for r in rows:
            if r.experiment == "throughput" and r.extra.get("auth") == auth:
                out.append(TARGETS["throughput"].figure(f"throughput, {r.size} clients ({auth})",
                                                        f"{r.median:,.0f} /s", r.median,
                                                        "no-op invocations/s, one process, client processes"))
        for size in (10, 1 << 20):
            qd, qr = median(rows, "direct", size, auth), median(rows, "raw", size, auth)
            bd, br = median(rows, "direct", size, auth, True), median(rows, "raw", size, auth, True)
            if qd and qr and bd and br:
                q, b = qd / qr, bd / br
                out.append(TARGETS["contention"].figure(f"contention, {size_label(size)} ({auth})",
                                                        f"ratio {b:.2f}x busy vs {q:.2f}x quiet", b / q,
                                                        "direct/raw with a CPU hog beside"))
    for size in (10, 1 << 20):
        with_, without = median(rows, "direct", size, "curve"), median(rows, "direct", size, "none")
        if with_ and without:
            out.append(Figure(f"CurveZMQ cost, direct {size_label(size)}", f"{with_ * 1e6:.0f} us vs "
                              f"{without * 1e6:.0f} us = {with_ / without:.2f}x", "", None, "authenticated vs not"))
    return out


def expected(params: dict[str, Any]) -> set[tuple[str, str, int]]:
    """The cells (experiment, variant, size) a run with ``params`` must have measured."""
    cells = {("invoke", v, s) for v in params["variants"] for s in params["sizes"]}
    return cells | {("throughput", "noop", int(params["throughput_clients"]))}


def _paper_invocations() -> dict[tuple[str, int], float]:
    """The paper's medians (seconds), ``{(system, size): median}``; netperf TCP_RR by its mean, as the paper."""
    out = {}
    for r in paper_csv("invocations.csv"):
        value = r["mean_ms"] if r["system"] == "tcp-netperf" else r["median_ms"]
        if value:
            out[(r["system"], int(r["size_bytes"]))] = float(value) / 1e3
    return out


#: our ratio (numerator, denominator variant) -> the paper's (numerator, denominator system). The paper's
#: remote/local ratio has no counterpart: our ``invoke(SELF)`` is a function call in the calling thread (about
#: 2 us), the original's went through a message queue between its controller and workers (73 us).
RATIOS = {
    ("direct", "raw"): ("praas-remote", "tcp-netperf", "remote / raw transport (paper: TCP_RR)"),
    ("faas", "direct"): ("lambda", "praas-remote", "FaaS / remote (paper: AWS Lambda)"),
    ("control-plane", "direct"): (None, None, "control plane (sticky, gateway) / direct"),
    ("control-plane-rest", "direct"): (None, None, "control plane (sticky, REST) / direct"),
}


def comparison(rows: list[Row], auth: str = "curve") -> list[dict[str, Any]]:
    """Our ratios of medians beside the paper's, per size (``auth``: the data-plane security compared)."""
    paper = _paper_invocations()
    out = []
    for (num, den), (pnum, pden, what) in RATIOS.items():
        for size in SIZES:
            a, b = median(rows, num, size, auth), median(rows, den, size, auth)
            if not a or not b:
                continue
            pa, pb = paper.get((pnum or "", size)), paper.get((pden or "", size))
            out.append({"benchmark": "invocations", "what": what, "condition": size_label(size),
                        "ours": round(a / b, 2), "paper": round(pa / pb, 2) if pa and pb else None})
    return out


def plot(csv_path: Path, auth: str = "curve") -> list[Path]:
    """The paper's §6.1 figure shape: round-trip latency per payload size, grouped bars on a log scale, one bar per
    path (raw transport, local, direct, control plane, FaaS), with the paper's PraaS remote / local / Lambda as
    markers; ``invocations.png`` + ``.pdf`` next to the CSV."""
    plt = pyplot()

    rows = load_rows(csv_path)
    variants = [v for v in ("raw", "local", "direct", "control-plane", "control-plane-rest", "faas")
                if any(r.variant == v and r.experiment == "invoke" for r in rows)]
    sizes = sorted({r.size for r in rows if r.experiment == "invoke"})
    paper = _paper_invocations()
    colors = {"raw": "0.6", "local": "tab:green", "direct": "tab:blue", "control-plane": "tab:purple",
              "control-plane-rest": "plum", "faas": "tab:orange"}
    fig, ax = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs, ys, lo, hi = [], [], [], []
        for j, size in enumerate(sizes):
            row = next((r for r in rows if (r.experiment, r.variant, r.size) == ("invoke", v, size)
                        and r.extra.get("auth") == auth and not r.extra.get("contention") and r.values), None)
            if row is None:
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(row.median * 1e3)
            lo.append((row.median - row.quantile(0.05)) * 1e3)
            hi.append((row.quantile(0.95) - row.median) * 1e3)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=1.5, error_kw={"linewidth": 0.6}, color=colors[v], label=v)
    for system, marker in (("praas-local", "v"), ("praas-remote", "o"), ("lambda", "s")):
        pts = [(j, paper[(system, s)] * 1e3) for j, s in enumerate(sizes) if (system, s) in paper]
        if pts:
            ax.plot(*zip(*pts, strict=True), linestyle="none", marker=marker, color="black", markerfacecolor="none",
                    label=f"paper: {system} (AWS)")
    ax.set_xticks(range(len(sizes)), [size_label(s) for s in sizes])
    ax.set_yscale("log")
    ax.set(xlabel="payload (echoed back)", ylabel="round trip [ms], median (p5–p95)",
           title=f"Invocation latency (§6.1), data plane security: {auth}")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, csv_path)


__all__ = ["run_invocation_benchmarks", "summarise", "median", "SIZES", "TARGETS", "expected", "comparison", "plot"]
