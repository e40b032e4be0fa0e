"""Runtime micro-benchmarks (``praas bench``): invocation latency against the raw transport,
control-plane vs direct invocation, cold start, swap bandwidth, throughput, idle memory.

Every figure is a ratio or a rate measured in one run on one machine; results go to
``<out>/core.csv`` (one line per sample) and ``<out>/core.meta.json`` (provenance + medians).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from praas_kit.bench import series
from praas_kit.bench.baselines import THROUGHPUT, RawEcho, throughput
from praas_kit.bench.common import BenchRun, Figure, Row, Target, time_calls
from praas_kit.bench.harness import BENCH_APP, deployment, finish, start
from praas_kit.bench.series import cold_start_row, invoke_rows, swap_rows
from praas_kit.bench.sizes import SIZES, size_label

if TYPE_CHECKING:
    from praas_kit.sdk.client import Application


def idle_rss_mib(app: Application, name: str, settle: float = 1.5) -> float:
    """Resident memory (MiB) an idle process reports in its metrics, after ``settle`` seconds."""
    p = app.create_process(name)
    deadline = time.monotonic() + settle + 10
    time.sleep(settle)
    while time.monotonic() < deadline:
        metrics = p.refresh().info.metrics
        if metrics is not None and metrics.rss_bytes:
            return float(metrics.rss_bytes) / (1 << 20)
        time.sleep(0.2)
    raise RuntimeError(f"process {name!r} reported no memory figure")


def run_core_benchmarks(out: Path, quick: bool = True, dataplane_auth: str = "curve") -> BenchRun:
    """Run everything on the local backend and save ``core.csv`` + ``core.meta.json`` under ``out``.

    The raw transport baseline uses the same security as the data plane (CurveZMQ with ``curve``)."""
    backend, started = "local", start("core")
    reps = {10: 300, 1024: 300, 100 * 1024: 100, 1 << 20: 40, 5 << 20: 15} if quick else \
        {10: 2000, 1024: 2000, 100 * 1024: 500, 1 << 20: 100, 5 << 20: 100}
    rounds = 3 if quick else 5
    cold_reps = 5 if quick else 20
    swap_sizes = [1, 100]
    swap_reps = 2 if quick else 5
    tp_seconds = 2.0 if quick else 5.0
    params = {"quick": quick, "backend": backend, "dataplane_auth": dataplane_auth, "reps": reps, "rounds": rounds,
              "cold_reps": cold_reps,
              "swap_sizes_mib": swap_sizes, "swap_reps": swap_reps, "throughput_seconds": tp_seconds,
              "throughput_clients": 8}
    rows: list[Row] = []
    with ExitStack() as stack:
        steps = stack.enter_context(tqdm(total=6, desc="praas bench", unit="step"))
        cp = stack.enter_context(deployment(backend, function_workers=2, dataplane_auth=dataplane_auth))
        app = cp.create_application("bench", code=BENCH_APP)
        p = app.create_process("echo")
        raw = RawEcho(curve=dataplane_auth == "curve")
        stack.callback(raw.close)
        # 1. direct invocation vs raw transport, interleaved rounds so noise hits both alike
        rows += invoke_rows(p, raw, reps, rounds)
        steps.update()
        # 2. through the control plane (sticky) vs direct, 10 B
        cpv = Row("invoke", "praas-control-plane", 10, "s")
        cpv.values = time_calls(lambda: app.invoke("echo", b"x" * 10, process="echo"), reps[1024] // 2)
        rows.append(cpv)
        steps.update()
        # 3. cold start: create -> ALLOCATED
        rows.append(cold_start_row(app, backend, cold_reps))
        steps.update()
        # 4. swap-out / swap-in bandwidth to the directory store
        rows += swap_rows(app, "dir", swap_sizes, swap_reps)
        steps.update()
        # 5. throughput from 8 concurrent clients
        tp = Row("throughput", "noop-8-clients", 0, "1/s")
        for _ in range(2 if quick else 3):
            tp.values.append(throughput(p.address or "", 8, tp_seconds, p.info.public_key, cp.credentials("bench")))
        rows.append(tp)
        steps.update()
        # 6. idle resident memory
        rows.append(Row("idle-rss", backend, 0, "MiB", [idle_rss_mib(app, "idle")]))
        steps.update()
    return finish(rows, out, "core", params, started=started)


#: figure key -> its target (the hot path's and the swap's are those of the series they judge)
TARGETS: dict[str, Target] = {
    "ratio-10": series.DIRECT_VS_RAW[10], "ratio-1048576": series.DIRECT_VS_RAW[1 << 20],
    "cp-ratio": series.CONTROL_PLANE_VS_DIRECT, "cold-local": Target("<=", 0.5, " s"),
    "cold-docker": Target("<=", 1.0, " s", ".1f"), "swap-dir-100": series.SWAP_TO_DIR,
    "throughput": THROUGHPUT, "idle-rss": Target("<=", 50, " MiB"),
}


def _figure(key: str | None, name: str, measured: str, value: float, meaning: str) -> Figure:
    target = TARGETS.get(key) if key else None
    return target.figure(name, measured, value, meaning) if target else Figure(name, measured, "", None, meaning)


def summarise(rows: list[Row]) -> list[Figure]:
    """The headline figures of a run: what each measures, its target and whether the target was met."""
    by = {(r.experiment, r.variant, r.size): r for r in rows}
    out = []
    for size in SIZES:
        ours, base = by.get(("invoke", "praas-direct", size)), by.get(("invoke", "raw-zmq", size))
        if ours and base:
            ratio = ours.median / base.median
            out.append(_figure(f"ratio-{size}", f"direct invoke {size_label(size)}",
                               f"{ours.median * 1e6:.0f} us vs raw {base.median * 1e6:.0f} us = {ratio:.2f}x", ratio,
                               "echo round trip client -> process, against a raw pyzmq round trip"))
    cpv, d10 = by.get(("invoke", "praas-control-plane", 10)), by.get(("invoke", "praas-direct", 10))
    if cpv and d10:
        ratio = cpv.median / d10.median
        out.append(_figure("cp-ratio", "control plane / direct, 10 B",
                           f"{cpv.median * 1e3:.2f} ms / {d10.median * 1e3:.3f} ms = {ratio:.1f}x", ratio,
                           "REST invoke (sticky) against a direct invoke"))
    for r in rows:
        if r.experiment == "cold-start":
            out.append(_figure(f"cold-{r.variant}", f"cold start ({r.variant})", f"{r.median:.3f} s", r.median,
                               "create -> ALLOCATED, runtime start included"))
        elif r.experiment.startswith("swap-"):
            mib = r.size / (1 << 20)
            rate = mib / r.median
            key = f"swap-{r.variant}-100" if r.experiment in ("swap-out", "swap-in-restore") and mib >= 100 else None
            meaning = {"swap-out": "snapshot write inside the process",
                       "swap-out-total": "whole swap-out: drain, write, exit",
                       "swap-in-restore": "snapshot read inside the new process",
                       "swap-in": "whole swap-in, including starting the process"}.get(r.experiment, "")
            out.append(_figure(key, f"{r.experiment} {mib:.0f} MiB ({r.variant})",
                               f"{r.median:.3f} s = {rate:.0f} MiB/s", rate, meaning))
        elif r.experiment == "image-size":
            out.append(_figure(None, f"image {r.variant}", f"{r.median / 1e6:.0f} MB", r.median, "image size"))
        elif r.experiment == "throughput":
            out.append(_figure("throughput", "throughput, 8 clients", f"{r.median:,.0f} /s", r.median,
                               "no-op invocations per second on one process from 8 client processes"))
        elif r.experiment == "idle-rss":
            out.append(_figure("idle-rss", "idle process RSS", f"{r.median:.1f} MiB", r.median,
                               "resident memory of a process that runs nothing"))
    return out
