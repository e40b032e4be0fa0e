"""Load and endurance (``praas bench load``): what a control plane and one process take from many clients,
and what 1,000 process deaths leave behind.

* **load**: ``clients`` client *processes* (one SDK client each) call a no-op function for ``seconds``, one
  call at a time each, directly (data plane) or through the control plane (REST, sticky); calls per second
  of all clients together, p50/p99 latency of single calls, and errors.
* **deaths**: a process is killed and swapped in again ``n`` times; the control plane's open file
  descriptors and resident memory before and after (they must stay flat).

Rows go to ``<out>/load.csv`` + ``load.meta.json``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.common import BenchRun, Figure, Row, Target
from praas_kit.bench.harness import BENCH_APP, deployment, finish, start
from praas_kit.lifecycle import Status

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    from praas_kit.sdk.client import ControlPlaneClient

#: every load level without errors; the control plane's fds and memory flat over the deaths
TARGETS = {"errors": Target("<=", 0, text="no errors"), "fds": Target("<=", 5, text="flat (+<= 5)"),
           "rss": Target("<=", 20, text="flat (+<= 20 MiB)")}


def _client(url: str, token: str, app: str, proc: str, via: str, seconds: float, start: Event,
            out: Queue[tuple[list[float], int]]) -> None:
    import praas_kit

    latencies: list[float] = []
    errors = 0
    with praas_kit.connect(url, token) as cp:
        a = cp.application(app)
        p = a.process(proc)

        def call() -> Any:
            return p.invoke("noop") if via == "direct" else a.invoke("noop", process=proc)

        for _ in range(20):
            call()
        start.wait()
        t_end = time.perf_counter() + seconds
        while (t0 := time.perf_counter()) < t_end:
            try:
                call()
            except Exception:  # noqa: BLE001 - counted, reported
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
    out.put((latencies, errors))


def load_row(url: str, token: str, app: str, proc: str, via: str, clients: int, seconds: float) -> Row:
    """One load level: ``clients`` client processes for ``seconds``; the row holds calls/s and latencies."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, token, app, proc, via, seconds, start, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    time.sleep(1.0 + clients * 0.05)  # every client connected and warmed up
    start.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    rate = len(latencies) / seconds
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    return Row(f"load-{via}", f"{clients}-clients", clients, "1/s", [rate],
               {"p50_ms": statistics.median(latencies) * 1e3 if latencies else float("nan"), "p99_ms": p99 * 1e3,
                "calls": len(latencies), "errors": errors, "seconds": seconds})


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def deaths_rows(cp: ControlPlaneClient, n: int) -> list[Row]:
    """Kill a process and swap it in again ``n`` times; the control plane's fds and RSS along the way."""
    app = cp.create_application("soak", code=BENCH_APP)
    app.create_process("witness")  # receives the world updates each death sends
    p = app.create_process("victim")
    fds, rss = Row("deaths-fds", "control-plane", n, "fds"), Row("deaths-rss", "control-plane", n, "MiB")
    marks = sorted({0, n // 10, n // 2, n})
    for i in tqdm(range(n + 1), desc="process deaths", unit="death"):
        if i in marks:
            fds.values.append(float(_fds()))
            rss.values.append(_rss_mib())
            fds.extra.setdefault("after_deaths", []).append(i)
        if i == n:
            break
        p.kill()
        deadline = time.monotonic() + 20
        while app.process("victim").status is not Status.FAILED:
            if time.monotonic() > deadline:
                raise RuntimeError("the killed process was not marked FAILED")
            time.sleep(0.005)
        p = app.swapin("victim")
    rss.extra["after_deaths"] = fds.extra["after_deaths"]
    return [fds, rss]


def run_load_benchmarks(out: Path, quick: bool = True, clients: tuple[int, ...] = (8, 32, 64),
                        deaths: int | None = None) -> BenchRun:
    """Load at each client count (direct and REST) and the deaths soak; saved as ``load.csv`` + metadata."""
    started = start("load")
    seconds = 3.0 if quick else 10.0
    n_deaths = deaths if deaths is not None else (100 if quick else 1000)
    params = {"quick": quick, "clients": list(clients), "seconds": seconds, "deaths": n_deaths,
              "backend": "local", "dataplane_auth": "curve"}
    rows: list[Row] = []
    with deployment("local", function_workers=2) as cp:
        app = cp.create_application("load", code=BENCH_APP)
        app.create_process("target")
        steps = tqdm(total=2 * len(clients), desc="load", unit="level")
        for via in ("direct", "rest"):
            for c in clients:
                rows.append(load_row(cp.url, cp.token, "load", "target", via, c, seconds))
                steps.update()
        steps.close()
        rows += deaths_rows(cp, n_deaths)
    return finish(rows, out, "load", params, started=started)


#: the soak's rows: experiment -> (target, what grows, its unit, what it measures)
SOAK = {"deaths-fds": ("fds", "open fds", "", "file descriptors of the control plane"),
        "deaths-rss": ("rss", "RSS", " MiB", "resident memory of the control plane")}


def summarise(rows: list[Row]) -> list[Figure]:
    """One figure per load level (target: no errors) and the soak (target: fds and RSS flat)."""
    out = []
    for r in rows:
        if r.experiment.startswith("load-"):
            e = r.extra
            out.append(TARGETS["errors"].figure(
                f"{r.experiment.removeprefix('load-')}, {r.size} clients", f"{r.median:,.0f} calls/s, p50 "
                f"{e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.1f} ms, {e['errors']} errors", e["errors"],
                "no-op calls from client processes, one call at a time each"))
        elif r.experiment in SOAK:
            key, what, unit, meaning = SOAK[r.experiment]
            trend = " -> ".join(f"{v:.0f}{unit}" for v in r.values)
            out.append(TARGETS[key].figure(f"{what} over {r.size} deaths", trend, r.values[-1] - r.values[0], meaning))
    return out


__all__ = ["run_load_benchmarks", "load_row", "deaths_rows", "summarise", "TARGETS"]
