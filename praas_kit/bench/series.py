"""Series more than one benchmark measures, each with the targets that judge it: invocations in alternating
blocks (direct against the raw transport), cold starts, swap-out and swap-in, and ping-pong between two
processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.common import Row, Target, time_calls
from praas_kit.bench.sizes import SIZES

if TYPE_CHECKING:
    from praas_kit.bench.baselines import RawEcho, RawEchoContainer
    from praas_kit.sdk.client import Application, Process

#: direct invocation / raw pyzmq round trip, by payload size (``praas bench``, ``invocations``)
DIRECT_VS_RAW = {10: Target("<=", 1.5), 1 << 20: Target("<=", 1.3)}
#: invocation through the control plane (sticky) / direct, 10 B
CONTROL_PLANE_VS_DIRECT = Target("<=", 5)
#: swap-out to (and restore from) the directory store at 100 MiB (``praas bench``, ``swap``)
SWAP_TO_DIR = Target(">=", 300, " MiB/s", ".0f")


def blocks(calls: dict[str, Callable[[], Any]], rounds: int, reps: dict[str, int], warmup: int
           ) -> dict[str, list[float]]:
    """``rounds`` rounds of a block of ``reps[v]`` timed calls (after ``warmup`` untimed ones) of each
    ``calls[v]`` in turn, so that machine noise hits every series alike; the seconds of each call, per series."""
    samples: dict[str, list[float]] = {v: [] for v in calls}
    for _ in range(rounds):
        for v, call in calls.items():
            samples[v] += time_calls(call, reps[v], warmup=warmup)
    return samples


def invoke_rows(p: Process, raw: RawEcho | RawEchoContainer, reps: dict[int, int], rounds: int) -> list[Row]:
    """Direct invocation of ``echo`` in process ``p`` (``praas-direct``) against a round trip through ``raw``
    (``raw-zmq``), per size of :data:`~praas_kit.bench.sizes.SIZES`, in alternating blocks."""
    rows = []
    for size in SIZES:
        payload = b"x" * size
        n = max(1, reps[size] // rounds)
        got = blocks({"raw-zmq": lambda: raw.call(payload), "praas-direct": lambda: p.invoke("echo", payload)},  # noqa: B023
                     rounds, {"raw-zmq": n, "praas-direct": n}, warmup=5)
        rows += [Row("invoke", v, size, "s", got[v]) for v in ("praas-direct", "raw-zmq")]
    return rows


def cold_start_row(app: Application, variant: str, reps: int) -> Row:
    """Seconds from create to ALLOCATED for ``reps`` fresh processes (each deleted after)."""
    cold = Row("cold-start", variant, 0, "s")
    for i in range(reps):
        t0 = time.perf_counter()
        app.create_process(f"cold-{i}")
        cold.values.append(time.perf_counter() - t0)
        app.delete_process(f"cold-{i}")
    return cold


def swap_rows(app: Application, store: str, sizes: list[int], reps: int, extra: dict[str, Any] | None = None,
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
            so, so_total, si, si_restore = (Row(e, store, mib << 20, "s", extra=dict(extra or {}))
                                            for e in ("swap-out", "swap-out-total", "swap-in", "swap-in-restore"))
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


def pingpong(a: Process, b: Process, ping: str, pong: str, args: dict[str, Any]) -> list[float]:
    """Run ``pong`` in ``b`` and ``ping`` in ``a`` at once; the one-way latencies (RTT / 2) ``ping`` measured."""
    errors: list[BaseException] = []

    def answer() -> None:
        try:
            b.invoke(pong, {**args, "peer": a.name}, timeout=600)
        except BaseException as exc:  # reported below
            errors.append(exc)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    rtts = a.invoke(ping, {**args, "peer": b.name}, timeout=600).json()
    t.join(60)
    if errors:
        raise errors[0]
    return [x / 2 for x in rtts]


__all__ = ["blocks", "invoke_rows", "cold_start_row", "swap_rows", "pingpong", "DIRECT_VS_RAW",
           "CONTROL_PLANE_VS_DIRECT", "SWAP_TO_DIR"]
