"""Channel latency (``praas bench channels``, paper §6.2): two processes play ping-pong; one-way latency =
round trip / 2, per message size.

Transports, run by the same two processes in alternating blocks:

* ``praas``: ``context.send`` / ``context.recv``;
* ``raw``: raw pyzmq PAIR sockets between the same two processes (the transport's limit; CurveZMQ when the
  data plane uses it);
* ``redis``: Redis lists, ``RPUSH`` + blocking ``BLPOP`` (the fair baseline);
* ``redis-poll``: Redis ``SET`` + polling ``GET`` with a linear 1, 2, 3... ms back-off (the paper's way).

Redis is a real ``redis-server`` (:class:`~praas_kit.tools.services.RedisServer`) on the local backend, the
deployment's Redis container on the docker backend. Rows: ``<out>/channels.csv`` + ``.meta.json``.
"""

from __future__ import annotations

import logging
import shutil
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from praas_kit.bench.common import BenchRun, Figure, Row, save
from praas_kit.bench.core import BENCH_APP
from praas_kit.bench.invocations import Contention
from praas_kit.errors import InvocationError

log = logging.getLogger("praas_kit.bench.channels")

SIZES = [10, 1024, 100 * 1024, 1 << 20, 5 << 20]


def _reps(size: int, quick: bool) -> int:
    if quick:
        return 200 if size <= 1024 else 50 if size <= 100 * 1024 else 10
    return 1000 if size <= 1024 else 300 if size <= 100 * 1024 else 60


def pingpong(a: Any, b: Any, ping: str, pong: str, args: dict[str, Any]) -> list[float]:
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


def redis_url(backend: str, cp: Any, stack: ExitStack) -> str | None:
    """Where the processes reach Redis, or ``None`` when no Redis server is available."""
    if backend == "docker":
        return str(cp.storage.redis_url) if cp.storage.redis_url else None
    if not shutil.which("redis-server") and not Path("/usr/bin/redis-server").exists():
        return None
    from praas_kit.tools.services import RedisServer

    return str(stack.enter_context(RedisServer()).url)


def run_channel_benchmarks(out: Path, quick: bool = True, backend: str = "local",
                           dataplane_auth: str | tuple[str, ...] = ("curve", "none"), sizes: list[int] | None = None,
                           transports: tuple[str, ...] = ("praas", "raw", "redis", "redis-poll"),
                           contention: bool = False) -> BenchRun:
    """Ping-pong over each transport and size; save ``channels.csv`` + metadata."""
    import praas_kit

    auths = (dataplane_auth,) if isinstance(dataplane_auth, str) else tuple(dataplane_auth)
    sizes = sizes or SIZES
    rounds = 2 if quick else 3
    params = {"quick": quick, "backend": backend, "auths": list(auths), "sizes": sizes, "rounds": rounds,
              "transports": list(transports), "reps": {s: _reps(s, quick) for s in sizes}, "contention": contention}
    rows: list[Row] = []
    for auth in auths:
        with ExitStack() as stack:
            cp: Any = stack.enter_context(
                praas_kit.docker_deployment(swap="dir", redis=True, dataplane_auth=auth) if backend == "docker"
                else praas_kit.local(function_workers=2, dataplane_auth=auth))
            url = redis_url(backend, cp, stack)
            app = cp.create_application("chan", code=BENCH_APP)
            a, b = app.create_process("a"), app.create_process("b")
            host = "127.0.0.1" if backend == "local" else (b.address or "").split("//")[1].rsplit(":", 1)[0]
            if contention:
                stack.enter_context(Contention())
            for size in tqdm(sizes, desc=f"channels ({auth})", unit="size", leave=False):
                n = max(1, _reps(size, quick) // rounds)
                got = {t: Row("channel", t, size, "s", extra={"auth": auth, "backend": backend,
                                                               "contention": contention})
                       for t in transports if url or not t.startswith("redis")}
                for r in range(rounds):
                    for t, row in got.items():
                        args: dict[str, Any] = {"n": n if t != "redis-poll" else max(1, n // 4), "size": size,
                                                "warmup": 5}
                        if t == "praas":
                            row.values += pingpong(a, b, "ping", "pong", args)
                        elif t == "raw":
                            if row.extra.get("error"):
                                continue
                            try:
                                row.values += pingpong(a, b, "raw_ping", "raw_pong",
                                                       args | {"curve": auth == "curve", "host": host})
                            except InvocationError as exc:  # recorded, not hidden: see the row's "error"
                                log.warning("raw baseline failed at %d B (%s): %s", size, auth, exc)
                                row.extra["error"] = str(exc).splitlines()[0]
                        else:
                            row.values += pingpong(a, b, "redis_ping", "redis_pong",
                                                   args | {"url": url, "key": f"pp-{size}-{r}-{t}",
                                                           "poll": t == "redis-poll"})
                rows += got.values()
    csv_path, meta_path = save(rows, out, "channels", params)
    return BenchRun(rows, csv_path, meta_path)


def _median(rows: list[Row], transport: str, size: int, auth: str) -> float | None:
    for r in rows:
        if (r.experiment, r.variant, r.size) == ("channel", transport, size) and r.extra.get("auth") == auth \
                and r.values:
            return r.median
    return None


def summarise(rows: list[Row]) -> list[Figure]:
    out = []
    for auth in sorted({str(r.extra.get("auth")) for r in rows}):
        p10, raw10 = _median(rows, "praas", 10, auth), _median(rows, "raw", 10, auth)
        if p10 and raw10:
            out.append(Figure(f"send/recv / raw, one-way 10 B ({auth})", f"{p10 * 1e6:.0f} us / {raw10 * 1e6:.0f} us "
                              f"= {p10 / raw10:.2f}x", "<= 1.5x", p10 / raw10 <= 1.5,
                              "ping-pong / 2 between two processes vs raw pyzmq between the same two"))
        for size in (10, 1024):
            p, r = _median(rows, "praas", size, auth), _median(rows, "redis", size, auth)
            if p and r:
                out.append(Figure(f"Redis BLPOP / send-recv, {size} B ({auth})", f"{r * 1e6:.0f} us / {p * 1e6:.0f} "
                                  f"us = {r / p:.2f}x", ">= 2x", r / p >= 2, "one-way, same two processes"))
    return out


__all__ = ["run_channel_benchmarks", "summarise", "pingpong", "SIZES"]
