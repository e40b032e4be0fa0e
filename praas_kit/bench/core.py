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
from praas_kit.bench.common import Row, save, time_calls

log = logging.getLogger("praas_kit.bench")

BENCH_APP = Path(__file__).parent / "benchapp.py"
SIZES = [10, 1024, 100 * 1024, 1 << 20, 5 << 20]


class RawEcho:
    """A raw pyzmq echo server in a subprocess (the transport baseline): the same two frames, no runtime."""

    HEADER = wire.invoke_header("1", "echo")

    def __init__(self, bind: str = "tcp://127.0.0.1:0", argv: list[str] | None = None) -> None:
        cmd = argv or [sys.executable, "-m", "praas_kit.bench.raw_echo", "--bind", bind]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def call(self, payload: bytes) -> None:
        self.sock.send_multipart([self.HEADER, payload], copy=len(payload) < 65536)
        self.sock.recv_multipart(copy=False)

    def close(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait(10)


def _throughput_client(address: str, seconds: float, start: Any, out: Any) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
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


def throughput(address: str, clients: int = 8, seconds: float = 3.0) -> float:
    """No-op invocations per second on one process from ``clients`` concurrent client processes."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_throughput_client, args=(address, seconds, start, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(30)
    return sum(n for n, _ in results) / max(t for _, t in results)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MiB) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_core_benchmarks(out: Path, quick: bool = True, backend: str = "local") -> list[Row]:
    """Run everything and save ``core.csv`` + ``core.meta.json`` under ``out``; print a summary."""
    import praas_kit

    reps = {10: 300, 1024: 300, 100 * 1024: 100, 1 << 20: 40, 5 << 20: 15} if quick else \
        {10: 2000, 1024: 2000, 100 * 1024: 500, 1 << 20: 100, 5 << 20: 100}
    rounds = 3 if quick else 5
    cold_reps = 5 if quick else 20
    swap_sizes = [1, 100]
    swap_reps = 2 if quick else 5
    tp_seconds = 2.0 if quick else 5.0
    params = {"quick": quick, "backend": backend, "reps": reps, "rounds": rounds, "cold_reps": cold_reps,
              "swap_sizes_mib": swap_sizes, "swap_reps": swap_reps, "throughput_seconds": tp_seconds,
              "throughput_clients": 8}
    rows: list[Row] = []
    steps = tqdm(total=6, desc="praas bench", unit="step")
    with praas_kit.local(function_workers=2) as cp:
        app = cp.create_application("bench", code=BENCH_APP)
        p = app.create_process("echo")
        raw = RawEcho()
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
                tp.values.append(throughput(p.address or "", 8, tp_seconds))
            rows.append(tp)
            steps.update()
            # 6. idle resident memory
            idle = app.create_process("idle")
            time.sleep(1.0)
            pid = cp.controller.registry.get_process("bench", "idle").handle["pid"]
            rows.append(Row("idle-rss", backend, 0, "MiB", [rss_mb(pid)]))
            steps.update()
            del idle
        finally:
            raw.close()
            steps.close()
    csv_path, meta_path = save(rows, out, "core", params)
    print_summary(rows)
    log.warning("results: %s, %s", csv_path, meta_path)
    return rows


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


def swap_rows(app: Any, store: str, sizes: list[int], reps: int) -> list[Row]:
    """Swap-out and swap-in of processes holding ``sizes`` MiB of state.

    ``swap-out`` is the snapshot write inside the process, ``swap-out-total`` the whole control-plane
    operation (drain, write, exit); ``swap-in-restore`` is reading the snapshot back inside the new
    process, ``swap-in`` the whole operation (start the runtime, restore, connect).
    """
    rows = []
    for mib in sizes:
        so, so_total = Row("swap-out", store, mib << 20, "s"), Row("swap-out-total", store, mib << 20, "s")
        si, si_restore = Row("swap-in", store, mib << 20, "s"), Row("swap-in-restore", store, mib << 20, "s")
        for i in range(reps):
            sp = app.create_process(f"swap-{store}-{mib}-{i}", memory_mb=max(512, 3 * mib + 256))
            sp.invoke("fill", str(mib))
            report = sp.swap()
            so.values.append(report["seconds"])
            so_total.values.append(report["total_seconds"])
            t0 = time.perf_counter()
            sp = app.swapin(sp.name)
            si.values.append(time.perf_counter() - t0)
            if sp.info.get("restore_seconds") is not None:
                si_restore.values.append(float(sp.info["restore_seconds"]))
            if sp.invoke("size").json() != mib << 20:
                raise RuntimeError(f"swap-in of {sp.name} restored the wrong amount of state")
            app.delete_process(sp.name)
        rows += [r for r in (so, so_total, si, si_restore) if r.values]
    return rows


def summarise(rows: list[Row]) -> list[tuple[str, str, str]]:
    """``(figure, measured, target)`` lines for the headline numbers."""
    by = {(r.experiment, r.variant, r.size): r for r in rows}
    lines = []
    for size in SIZES:
        ours, base = by.get(("invoke", "praas-direct", size)), by.get(("invoke", "raw-zmq", size))
        if ours and base:
            lines.append((f"direct invoke {size} B / raw zmq",
                          f"{ours.median * 1e6:.0f} us / {base.median * 1e6:.0f} us = {ours.median / base.median:.2f}x",
                          "<= 2.0x" if size == 10 else ""))
    cpv, d10 = by.get(("invoke", "praas-control-plane", 10)), by.get(("invoke", "praas-direct", 10))
    if cpv and d10:
        lines.append(("control plane / direct, 10 B", f"{cpv.median * 1e3:.2f} ms / {d10.median * 1e3:.3f} ms = "
                      f"{cpv.median / d10.median:.1f}x", ""))
    for r in rows:
        if r.experiment == "cold-start":
            lines.append((f"cold start ({r.variant})", f"{r.median:.3f} s", "<= 0.5 s local, <= 1.0 s docker"))
        if r.experiment.startswith("swap-"):
            mib = r.size / (1 << 20)
            target = ">= 300 MiB/s" if r.experiment in ("swap-out", "swap-in-restore") and mib >= 100 \
                and r.variant == "dir" else ""
            lines.append((f"{r.experiment} {mib:.0f} MiB ({r.variant})",
                          f"{r.median:.3f} s = {mib / r.median:.0f} MiB/s", target))
        if r.experiment == "image-size":
            lines.append((f"image {r.variant}", f"{r.median / 1e6:.0f} MB", ""))
        if r.experiment == "throughput":
            lines.append(("throughput, 8 clients", f"{r.median:.0f} invocations/s", ">= 5000/s"))
        if r.experiment == "idle-rss":
            lines.append(("idle process RSS", f"{r.median:.1f} MiB", "<= 50 MB"))
    return lines


def print_summary(rows: list[Row]) -> None:
    """Print the headline figures as a table (this is the CLI's output, not library logging)."""
    for fig, val, target in summarise(rows):
        sys.stdout.write(f"{fig:38s} {val:42s} {target}\n")
    sys.stdout.flush()
