"""Where a direct invocation's time goes (``praas bench profile``): CPU and wake-ups per call.

For a 10 B echo, in alternating rounds, the raw pyzmq echo server and a process of the local backend are
called ``n`` times each from this thread; around each round the benchmark reads, from ``/proc`` (Linux):

* ``wall``: microseconds per call (the round trip the client sees);
* ``server_cpu``: CPU microseconds per call used by the server (all its threads, user + system);
* ``client_cpu``: CPU microseconds per call used by this client process (all threads, libzmq's too);
* ``server_switches``: context switches per call in the server (voluntary + involuntary, all threads): each is
  a thread going to sleep or being woken, the hand-offs a call costs.

The difference between ``direct`` and ``raw`` in each is what the runtime adds to the transport.

The same for a message between two processes (``chan_*`` metrics, variant ``send-recv`` against ``raw``, raw
pyzmq PAIR sockets between the same two processes): two processes play ping-pong with 10 B messages, and per
message (one way) the benchmark reads ``chan_wall`` (half a round trip), ``chan_cpu`` (CPU of both processes,
all threads, divided by the messages: what one message costs its sender plus its receiver) and
``chan_switches`` (context switches of both processes per message).

Rows: ``<out>/profile.csv`` + ``.meta.json`` (experiment = the metric, variant = raw | direct | send-recv).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.baselines import RawEcho
from praas_kit.bench.common import BenchRun, Figure, Row
from praas_kit.bench.harness import BENCH_APP, deployment, finish, start
from praas_kit.bench.series import pingpong

if TYPE_CHECKING:
    from praas_kit.sdk.client import Process

METRICS = ("wall", "server_cpu", "client_cpu", "server_switches")
CHANNEL_METRICS = ("chan_wall", "chan_cpu", "chan_switches")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime (fields 14 and 15 of stat)


def _switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.endswith("ctxt_switches") or "ctxt_switches:" in line:
                    total += int(line.split(":")[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total


def _client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def runtime_pid(p: Process) -> int:
    """The pid of process ``p``'s runtime, as it reports it (on the local backend: a process of this machine)."""
    pid: int = p.invoke("pid").json()
    return pid


def measure(call: Callable[[], Any], pid: int, n: int) -> dict[str, float]:
    """Call ``call`` ``n`` times; the per-call metrics (see the module docstring)."""
    s0, c0, x0, t0 = _cpu_seconds(pid), _client_cpu(), _switches(pid), time.perf_counter()
    for _ in range(n):
        call()
    t1, s1, c1, x1 = time.perf_counter(), _cpu_seconds(pid), _client_cpu(), _switches(pid)
    return {"wall": (t1 - t0) / n * 1e6, "server_cpu": (s1 - s0) / n * 1e6, "client_cpu": (c1 - c0) / n * 1e6,
            "server_switches": (x1 - x0) / n}


def measure_channel(a: Process, b: Process, ping: str, pong: str, pids: list[int], n: int) -> dict[str, float]:
    """Run ``n`` ping-pong rounds of 10 B between processes ``a`` and ``b`` (runtimes ``pids``); the per-message
    metrics (see the module docstring)."""
    cpu0, sw0 = sum(_cpu_seconds(p) for p in pids), sum(_switches(p) for p in pids)
    one_way = pingpong(a, b, ping, pong, {"size": 10, "n": n, "warmup": 0})
    cpu1, sw1 = sum(_cpu_seconds(p) for p in pids), sum(_switches(p) for p in pids)
    messages = 2 * n
    return {"chan_wall": sorted(one_way)[len(one_way) // 2] * 1e6, "chan_cpu": (cpu1 - cpu0) / messages * 1e6,
            "chan_switches": (sw1 - sw0) / messages}


def run_profile(out: Path, quick: bool = True, dataplane_auth: str = "curve", size: int = 10) -> BenchRun:
    """Profile the 10 B echo (direct vs raw) and a 10 B message between two processes (send/recv vs raw) on the
    local backend; save ``profile.csv`` + metadata."""
    started = start("profile")
    n, rounds = (2000, 3) if quick else (5000, 5)
    rows = {(m, v): Row(m, v, size, "us" if m != "server_switches" else "1/call", extra={"auth": dataplane_auth})
            for m in METRICS for v in ("raw", "direct")}
    rows |= {(m, v): Row(m, v, 10, "us" if m != "chan_switches" else "1/message", extra={"auth": dataplane_auth})
             for m in CHANNEL_METRICS for v in ("raw", "send-recv")}
    payload = b"x" * size
    with ExitStack() as stack:
        cp = stack.enter_context(deployment("local", function_workers=2, dataplane_auth=dataplane_auth))
        app = cp.create_application("profile", code=BENCH_APP)
        p = app.create_process("echo", vcpus=1.0, memory_mb=1024)
        raw = RawEcho(curve=dataplane_auth == "curve")
        stack.callback(raw.close)
        pids = {"direct": runtime_pid(p), "raw": raw.proc.pid}
        calls: dict[str, Callable[[], Any]] = {"raw": lambda: raw.call(payload),
                                               "direct": lambda: p.invoke("echo", payload)}
        for v in calls:  # warm-up
            measure(calls[v], pids[v], 200)
        for _ in tqdm(range(rounds), desc="profile", unit="round", leave=False):
            for v, call in calls.items():
                for m, value in measure(call, pids[v], n).items():
                    rows[(m, v)].values.append(value)
        a, b = (app.create_process(name, vcpus=1.0, memory_mb=1024) for name in ("ping", "pong"))
        both = [runtime_pid(a), runtime_pid(b)]
        pairs = {"send-recv": ("ping", "pong"), "raw": ("raw_ping", "raw_pong")}
        for ping, pong in pairs.values():  # warm-up
            measure_channel(a, b, ping, pong, both, 200)
        for _ in tqdm(range(rounds), desc="profile (channels)", unit="round", leave=False):
            for v, (ping, pong) in pairs.items():
                for m, value in measure_channel(a, b, ping, pong, both, n).items():
                    rows[(m, v)].values.append(value)
    params = {"quick": quick, "auth": dataplane_auth, "size": size, "calls_per_round": n, "rounds": rounds,
              "clock_ticks_per_s": _TICK}
    return finish(list(rows.values()), out, "profile", params, started=started)


def summarise(rows: list[Row]) -> list[Figure]:
    """Each metric for raw and direct, and what the runtime adds."""
    by = {(r.experiment, r.variant): r.median for r in rows if r.values}
    out = []
    for metrics, ours, per in ((METRICS, "direct", "call"), (CHANNEL_METRICS, "send-recv", "message")):
        for m in metrics:
            raw, value = by.get((m, "raw")), by.get((m, ours))
            if raw is None or value is None:
                continue
            unit = f"per {per}" if m.endswith("switches") else f"us per {per}"
            out.append(Figure(m, f"raw {raw:.1f}, {ours} {value:.1f} {unit} (+{value - raw:.1f})", "", None,
                              "median over rounds; the difference is the runtime's share"))
    return out


__all__ = ["run_profile", "summarise", "measure", "measure_channel", "runtime_pid", "METRICS", "CHANNEL_METRICS"]
