"""Runtime micro-benchmarks (``praas bench``): invocation latency against the raw transport,
control-plane vs direct invocation, cold start, swap bandwidth, throughput, idle memory.

Every figure is a ratio or a rate measured in one run on one machine; results go to
``<out>/core.csv`` (one line per sample) and ``<out>/core.meta.json`` (provenance + medians).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import zmq
from tqdm.auto import tqdm

from praas_kit import wire
from praas_kit.bench.common import BenchRun, Figure, Row, save, time_calls
from praas_kit.keys import KeyPair, curve_client

log = logging.getLogger("praas_kit.bench")

BENCH_APP = Path(__file__).parent / "benchapp.py"
SIZES = [10, 1024, 100 * 1024, 1 << 20, 5 << 20]


class RawEcho:
    """A raw pyzmq echo server in a subprocess (the transport baseline): the same two frames, no runtime."""

    HEADER = wire.invoke_header("1", "echo")

    def __init__(self, bind: str = "tcp://127.0.0.1:0", argv: list[str] | None = None, curve: bool = False) -> None:
        server = KeyPair.new() if curve else None
        cmd = argv or [sys.executable, "-m", "praas_kit.bench.raw_echo", "--bind", bind]
        if server is not None:
            cmd += ["--curve-secret", server.secret]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        self.sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if server is not None:
            curve_client(self.sock, server.public, KeyPair.new())
        self.sock.connect(self.endpoint)

    def call(self, payload: bytes) -> None:
        self.sock.send_multipart([self.HEADER, payload], copy=len(payload) < 65536)
        self.sock.recv_multipart(copy=False)

    def close(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait(10)


def _throughput_client(address: str, seconds: float, start: Any, out: Any, server_key: str | None,
                       client: KeyPair | None) -> None:
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key and client is not None:
        curve_client(sock, server_key, client)
    sock.connect(address)
    hdr = wire.header("inv", id="t", fn="noop")
    for _ in range(20):
        sock.send_multipart([hdr, b""])
        sock.recv_multipart()
    start.wait()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sock.send_multipart([hdr, b""])
        sock.recv_multipart()
        n += 1
    out.put((n, time.perf_counter() - t0))
    sock.close()


def throughput(address: str, clients: int = 8, seconds: float = 3.0, server_key: str | None = None,
               client: KeyPair | None = None) -> float:
    """No-op invocations per second on one process from ``clients`` concurrent client processes."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_throughput_client, args=(address, seconds, start, out, server_key, client))
             for _ in range(clients)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    results: list[tuple[int, float]] = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(30)
    return sum(n for n, _ in results) / max(t for _, t in results)


def idle_rss_mib(app: Any, name: str, settle: float = 1.5) -> float:
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
    import praas_kit

    backend = "local"

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
    steps = tqdm(total=6, desc="praas bench", unit="step")
    with praas_kit.local(function_workers=2, dataplane_auth=dataplane_auth) as cp:
        app = cp.create_application("bench", code=BENCH_APP)
        p = app.create_process("echo")
        raw = RawEcho(curve=dataplane_auth == "curve")
        try:
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
                tp.values.append(throughput(p.address or "", 8, tp_seconds, p.info.public_key,
                                            cp.credentials("bench")))
            rows.append(tp)
            steps.update()
            # 6. idle resident memory
            rows.append(Row("idle-rss", backend, 0, "MiB", [idle_rss_mib(app, "idle")]))
            steps.update()
        finally:
            raw.close()
            steps.close()
    csv_path, meta_path = save(rows, out, "core", params)
    return BenchRun(rows, csv_path, meta_path)


def cold_start_row(app: Any, variant: str, reps: int) -> Row:
    """Seconds from create to ALLOCATED for ``reps`` fresh processes (each deleted after)."""
    cold = Row("cold-start", variant, 0, "s")
    for i in range(reps):
        t0 = time.perf_counter()
        app.create_process(f"cold-{i}")
        cold.values.append(time.perf_counter() - t0)
        app.delete_process(f"cold-{i}")
    return cold


def invoke_rows(p: Any, raw: Any, reps: dict[int, int], rounds: int) -> list[Row]:
    """Direct invocation of ``echo`` in process ``p`` against a round trip through ``raw``, per size,
    in alternating blocks so that machine noise hits both alike."""
    rows = []
    for size in SIZES:
        payload = b"x" * size
        ours, base = Row("invoke", "praas-direct", size, "s"), Row("invoke", "raw-zmq", size, "s")
        for _ in range(rounds):
            n = max(1, reps[size] // rounds)
            base.values += time_calls(lambda: raw.call(payload), n)  # noqa: B023
            ours.values += time_calls(lambda: p.invoke("echo", payload), n)  # noqa: B023
        rows += [ours, base]
    return rows


def swap_rows(app: Any, store: str, sizes: list[int], reps: int, extra: dict[str, Any] | None = None,
              desc: str | None = None) -> list[Row]:
    """Swap-out and swap-in of processes holding ``sizes`` MiB of state, ``reps`` fresh processes per size.

    ``swap-out`` is the snapshot write inside the process, ``swap-out-total`` the whole control-plane
    operation (drain, write, exit); ``swap-in-restore`` is reading the snapshot back inside the new
    process, ``swap-in`` the whole operation (start the runtime, restore, connect). Rows are labelled
    ``store`` (the variant) and carry a copy of ``extra``; ``desc`` shows a progress bar over the swaps.
    Raises :class:`RuntimeError` when a swapped-in process does not hold the state it was filled with.
    """
    rows = []
    with tqdm(total=len(sizes) * reps, desc=desc, unit="swap", leave=False, disable=desc is None) as bar:
        for mib in sizes:
            so = Row("swap-out", store, mib << 20, "s", extra=dict(extra or {}))
            so_total = Row("swap-out-total", store, mib << 20, "s", extra=dict(extra or {}))
            si = Row("swap-in", store, mib << 20, "s", extra=dict(extra or {}))
            si_restore = Row("swap-in-restore", store, mib << 20, "s", extra=dict(extra or {}))
            for i in range(reps):
                sp = app.create_process(f"swap-{store}-{mib}-{i}", memory_mb=max(512, 3 * mib + 256))
                sp.invoke("fill", str(mib))
                report = sp.swap()
                so.values.append(report.seconds)
                so_total.values.append(report.total_seconds)
                t0 = time.perf_counter()
                sp = app.swapin(sp.name)
                si.values.append(time.perf_counter() - t0)
                if sp.info.restore_seconds is not None:
                    si_restore.values.append(sp.info.restore_seconds)
                if sp.invoke("size").json() != mib << 20:
                    raise RuntimeError(f"swap-in of {sp.name} restored the wrong amount of state")
                app.delete_process(sp.name)
                bar.update()
            rows += [r for r in (so, so_total, si, si_restore) if r.values]
    return rows


TARGETS: dict[str, tuple[str, Any]] = {
    # figure key -> (target as text, predicate on the measured value)
    "ratio-10": ("<= 1.5x", lambda v: v <= 1.5),
    "ratio-1048576": ("<= 1.3x", lambda v: v <= 1.3),
    "cp-ratio": ("<= 5x", lambda v: v <= 5.0),
    "cold-local": ("<= 0.5 s", lambda v: v <= 0.5),
    "cold-docker": ("<= 1.0 s", lambda v: v <= 1.0),
    "swap-dir-100": (">= 300 MiB/s", lambda v: v >= 300),
    "throughput": (">= 12,000 /s", lambda v: v >= 12000),
    "idle-rss": ("<= 50 MiB", lambda v: v <= 50),
}


def _figure(key: str | None, name: str, measured: str, value: float, meaning: str) -> Figure:
    target, ok = TARGETS.get(key, ("", None)) if key else ("", None)
    return Figure(name, measured, target, None if ok is None else bool(ok(value)), meaning)


def summarise(rows: list[Row]) -> list[Figure]:
    """The headline figures of a run: what each measures, its target and whether the target was met."""
    by = {(r.experiment, r.variant, r.size): r for r in rows}
    out = []
    for size in SIZES:
        ours, base = by.get(("invoke", "praas-direct", size)), by.get(("invoke", "raw-zmq", size))
        if ours and base:
            ratio = ours.median / base.median
            out.append(_figure(f"ratio-{size}", f"direct invoke {_size(size)}",
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


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"
