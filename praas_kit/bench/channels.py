"""Channel latency (``praas bench channels``, paper §6.2): two processes play ping-pong; one-way latency =
round trip / 2, per message size.

Transports, run by the same two processes in alternating blocks:

* ``praas``: ``context.send`` / ``context.recv``;
* ``raw``: raw pyzmq PAIR sockets between the same two processes (the transport's limit; CurveZMQ when the
  data plane uses it);
* ``redis``: Redis lists, ``RPUSH`` + blocking ``BLPOP`` (the fair baseline);
* ``redis-poll``: Redis ``SET`` + polling ``GET`` with a linear 1, 2, 3... ms back-off (the paper's way);
* ``s3``: S3 ``PutObject`` + polling ``GetObject`` with the same back-off, then ``DeleteObject`` (the paper's S3
  baseline). S3 is slow, so it runs fewer repetitions (:func:`_s3_reps`), and a quick run skips it above 1 MiB.

Redis is a real ``redis-server`` (:class:`~praas_kit.tools.services.RedisServer`) on the local backend, the
deployment's Redis container on the docker backend; S3 is a real OpenStack Swift S3 server
(:class:`~praas_kit.tools.services.SwiftS3Server`) on the local backend, the deployment's Swift S3 container on
the docker backend. A transport whose server is not available is skipped with a warning and listed in the
metadata's ``params["skipped"]``. Rows: ``<out>/channels.csv`` + ``.meta.json``; then :func:`plot` draws
``channels.png``/``.pdf``, and :func:`comparison` sets our ratios beside the paper's
(``datasets/paper/channels.csv``).
"""

from __future__ import annotations

import logging
import shutil
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from praas_kit.bench.common import BenchRun, Figure, Row, load_rows, paper_csv, pyplot, save, save_figure
from praas_kit.bench.core import BENCH_APP
from praas_kit.bench.invocations import Contention
from praas_kit.errors import BackendError, InvocationError, StorageError

log = logging.getLogger("praas_kit.bench.channels")

SIZES = [10, 1024, 100 * 1024, 1 << 20, 5 << 20]
TRANSPORTS = ("praas", "raw", "redis", "redis-poll", "s3")
#: the bucket the S3 baseline's messages go through
S3_BUCKET = "praas-channels"
#: a quick run sends no larger S3 messages than this
S3_QUICK_MAX = 1 << 20


def _reps(size: int, quick: bool) -> int:
    if quick:
        return 200 if size <= 1024 else 50 if size <= 100 * 1024 else 10
    return 1000 if size <= 1024 else 300 if size <= 100 * 1024 else 60


def _s3_reps(size: int, quick: bool) -> int:
    """Repetitions of the S3 baseline, over all rounds (tens of ms per message: far fewer than the others)."""
    if quick:
        return 20 if size <= 1024 else 5
    return 100 if size <= 1024 else 30 if size <= 100 * 1024 else 20


def _s3_sizes(sizes: list[int], quick: bool) -> list[int]:
    """The sizes the S3 baseline runs at: all, but none above 1 MiB in a quick run."""
    return [s for s in sizes if not quick or s <= S3_QUICK_MAX]


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


def s3_target(backend: str, cp: Any, stack: ExitStack) -> dict[str, Any] | None:
    """Where the processes reach S3 (``{"endpoint", "access_key", "secret_key", "region", "bucket"}``, the
    bucket created), or ``None`` when no S3 server is available. On the local backend a
    :class:`~praas_kit.tools.services.SwiftS3Server` is started in ``stack`` (stopped when it closes)."""
    if backend == "docker":
        st = cp.storage
        if not st.s3_endpoint:
            return None
        target = {"endpoint": st.s3_endpoint, "access_key": st.s3_access_key, "secret_key": st.s3_secret_key,
                  "region": st.s3_region, "bucket": S3_BUCKET}
    else:
        from praas_kit.tools.services import SwiftS3Server

        try:
            s3 = stack.enter_context(SwiftS3Server())
        except (BackendError, StorageError) as exc:
            log.warning("no S3 server for the S3 baseline: %s", exc)
            return None
        target = {"endpoint": s3.endpoint, "access_key": s3.access_key, "secret_key": s3.secret_key,
                  "region": s3.region, "bucket": S3_BUCKET}
    try:
        _create_bucket(target)
    except StorageError as exc:  # e.g. no boto3 here
        log.warning("no S3 baseline: %s", exc)
        return None
    return target


def _create_bucket(target: dict[str, Any]) -> None:
    from praas_kit.storage.s3 import make_client

    client = make_client(target["endpoint"], target["access_key"], target["secret_key"], target["region"])
    try:
        client.create_bucket(Bucket=target["bucket"])
    except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
        pass  # a deployment's S3 server kept from an earlier run
    finally:
        client.close()


def run_channel_benchmarks(out: Path, quick: bool = True, backend: str = "local",
                           dataplane_auth: str | tuple[str, ...] = ("curve", "none"), sizes: list[int] | None = None,
                           transports: tuple[str, ...] = TRANSPORTS, contention: bool = False,
                           s3_reps: int | None = None) -> BenchRun:
    """Ping-pong over each transport and size, for each data-plane security setting in ``dataplane_auth``; save
    ``channels.csv`` + metadata under ``out`` and draw ``channels.png``/``.pdf`` (:func:`plot`).

    ``s3_reps`` overrides the S3 baseline's repetitions per size (default :func:`_s3_reps`). Every server this
    starts (Redis, the Swift S3 server) is stopped on return, also on an error."""
    import praas_kit

    auths = (dataplane_auth,) if isinstance(dataplane_auth, str) else tuple(dataplane_auth)
    sizes = sizes or SIZES
    rounds = 2 if quick else 3
    s3_sizes = _s3_sizes(sizes, quick) if "s3" in transports else []
    s3_n = {s: s3_reps or _s3_reps(s, quick) for s in s3_sizes}
    skipped: set[str] = set()
    params: dict[str, Any] = {
        "quick": quick, "backend": backend, "auths": list(auths), "sizes": sizes, "rounds": rounds,
        "transports": list(transports), "reps": {s: _reps(s, quick) for s in sizes}, "contention": contention,
        "s3_sizes": s3_sizes, "s3_reps": s3_n, "s3_warmup": 2, "skipped": []}
    rows: list[Row] = []
    with ExitStack() as outer:
        s3_local = s3_target(backend, None, outer) if backend == "local" and s3_sizes else None
        for auth in auths:
            with ExitStack() as stack:
                cp: Any = stack.enter_context(
                    praas_kit.docker_deployment(swap="s3" if s3_sizes else "dir", redis=True, dataplane_auth=auth)
                    if backend == "docker" else praas_kit.local(function_workers=2, dataplane_auth=auth))
                url = redis_url(backend, cp, stack)
                s3 = (s3_target(backend, cp, stack) if backend == "docker" else s3_local) if s3_sizes else None
                skipped |= {t for t in transports if (t.startswith("redis") and not url) or (t == "s3" and not s3)}
                app = cp.create_application("chan", code=BENCH_APP)
                a, b = app.create_process("a"), app.create_process("b")
                host = "127.0.0.1" if backend == "local" else (b.address or "").split("//")[1].rsplit(":", 1)[0]
                if contention:
                    stack.enter_context(Contention())
                for size in tqdm(sizes, desc=f"channels ({auth})", unit="size", leave=False):
                    rows += _measure(a, b, size, quick, rounds, transports, url, s3, s3_n, auth, host,
                                     {"auth": auth, "backend": backend, "contention": contention})
    params["skipped"] = sorted(skipped)
    csv_path, meta_path = save(rows, out, "channels", params)
    plot(csv_path)
    return BenchRun(rows, csv_path, meta_path)


def _measure(a: Any, b: Any, size: int, quick: bool, rounds: int, transports: tuple[str, ...], url: str | None,
             s3: dict[str, Any] | None, s3_n: dict[int, int], auth: str, host: str,
             extra: dict[str, Any]) -> list[Row]:
    """One size: ``rounds`` alternating blocks over every transport available; a row per transport."""
    n = max(1, _reps(size, quick) // rounds)
    got = {t: Row("channel", t, size, "s", extra=dict(extra)) for t in transports
           if (url or not t.startswith("redis")) and (t != "s3" or (s3 and size in s3_n))}
    for r in range(rounds):
        for t, row in got.items():
            args: dict[str, Any] = {"n": n if t != "redis-poll" else max(1, n // 4), "size": size, "warmup": 5}
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
            elif t == "s3":
                assert s3 is not None
                row.values += pingpong(a, b, "s3_ping", "s3_pong",
                                       args | s3 | {"n": -(-s3_n[size] // rounds), "warmup": 2,
                                                    "key": f"pp-{auth}-{size}-{r}"})
            else:
                row.values += pingpong(a, b, "redis_ping", "redis_pong",
                                       args | {"url": url, "key": f"pp-{size}-{r}-{t}", "poll": t == "redis-poll"})
    return list(got.values())


def expected(params: dict[str, Any]) -> set[tuple[str, str, int]]:
    """The cells (``"channel"``, transport, size) a run with ``params`` must have measured: every transport that
    was not skipped for lack of a server, at every size (S3 only at ``params["s3_sizes"]``)."""
    skipped = set(params.get("skipped", ()))
    s3_sizes = set(params.get("s3_sizes", params["sizes"]))
    return {("channel", t, int(s)) for t in params["transports"] if t not in skipped
            for s in params["sizes"] if t != "s3" or s in s3_sizes}


def median(rows: list[Row], transport: str, size: int, auth: str) -> float | None:
    """The median one-way time (seconds) over ``transport`` at ``size`` bytes under ``auth``; None if not measured."""
    for r in rows:
        if (r.experiment, r.variant, r.size) == ("channel", transport, size) and r.extra.get("auth") == auth \
                and r.values:
            return r.median
    return None


def summarise(rows: list[Row]) -> list[Figure]:
    """Headline figures per data-plane security setting: send/recv within 1.5x of raw pyzmq at 10 B, at least 2x
    faster than Redis BLPOP and at least 20x faster than S3 at 10 B and 1 KiB (one-way medians)."""
    out = []
    for auth in sorted({str(r.extra.get("auth")) for r in rows}):
        p10, raw10 = median(rows, "praas", 10, auth), median(rows, "raw", 10, auth)
        if p10 and raw10:
            out.append(Figure(f"send/recv / raw, one-way 10 B ({auth})", f"{p10 * 1e6:.0f} us / {raw10 * 1e6:.0f} us "
                              f"= {p10 / raw10:.2f}x", "<= 1.5x", p10 / raw10 <= 1.5,
                              "ping-pong / 2 between two processes vs raw pyzmq between the same two"))
        for size in (10, 1024):
            p, r = median(rows, "praas", size, auth), median(rows, "redis", size, auth)
            if p and r:
                out.append(Figure(f"Redis BLPOP / send-recv, {size} B ({auth})", f"{r * 1e6:.0f} us / {p * 1e6:.0f} "
                                  f"us = {r / p:.2f}x", ">= 2x", r / p >= 2, "one-way, same two processes"))
        for size in (10, 1024):
            p, s = median(rows, "praas", size, auth), median(rows, "s3", size, auth)
            if p and s:
                out.append(Figure(f"S3 / send-recv, {size} B ({auth})", f"{s * 1e3:.1f} ms / {p * 1e3:.3f} ms = "
                                  f"{s / p:.0f}x", ">= 20x", s / p >= 20,
                                  "one-way, same two processes; S3 PutObject + polling GetObject (1, 2, 3... ms)"))
    return out


def paper_channels() -> dict[tuple[str, int], float]:
    """The paper's one-way medians in seconds, ``{(system, size): median}``, systems ``praas``, ``redis`` (SET +
    polling GET) and ``s3`` (PutObject + polling GetObject); empty outside a source checkout."""
    return {(r["system"], int(r["size_bytes"])): float(r["median_ms"]) / 1e3 for r in paper_csv("channels.csv")
            if r["median_ms"]}


#: our transport in a ratio over PraaS send/recv -> (the paper's system, what the row is called)
#: our transport -> (the paper's system it compares with, None: the paper has none; the ratio's name)
RATIOS: dict[str, tuple[str | None, str]] = {"redis-poll": ("redis", "Redis-poll/PraaS"),
                                             "redis": (None, "Redis BLPOP/PraaS"), "s3": ("s3", "S3/PraaS")}


def comparison(rows: list[Row], auth: str = "curve") -> list[dict[str, Any]]:
    """Our one-way ratios over send/recv beside the paper's, per size: ``{"benchmark": "channels", "what",
    "condition", "ours", "paper"}``. ``auth`` is the data-plane security of our run compared (the first present
    when there is none with it; the paper's data plane was not encrypted). The paper's Redis polled: our polling
    Redis faces its Redis/PraaS ratio, our blocking BLPOP (a baseline the paper did not run) faces none;
    ``paper`` is None where the paper has no such size."""
    auths = [str(r.extra.get("auth")) for r in rows if r.experiment == "channel"]
    if auth not in auths and auths:
        auth = auths[0]
    paper, out = paper_channels(), []
    for transport, (system, what) in RATIOS.items():
        for size in sorted({r.size for r in rows if r.experiment == "channel"}):
            ours, base = median(rows, transport, size, auth), median(rows, "praas", size, auth)
            if not ours or not base:
                continue
            theirs = paper.get((system, size)) if system else None
            their_base = paper.get(("praas", size))
            out.append({"benchmark": "channels", "what": what, "condition": _size(size), "ours": round(ours / base, 2),
                        "paper": round(theirs / their_base, 2) if theirs and their_base else None})
    return out


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


COLORS = {"praas": "tab:blue", "raw": "0.5", "redis": "tab:green", "redis-poll": "tab:olive", "s3": "tab:orange"}
NAMES = {"praas": "PraaS send/recv", "raw": "raw pyzmq", "redis": "Redis BLPOP", "redis-poll": "Redis polling",
         "s3": "S3 polling"}


def plot(csv_path: Path, auth: str = "curve") -> list[Path]:
    """Draw ``channels.png`` and ``channels.pdf`` next to ``csv_path`` (a ``channels.csv``); the two paths.

    Left panel: our one-way latency (median, p5–p95 bars) against the message size, log–log, a line per transport
    at data-plane security ``auth`` (the first present if none has it), PraaS at the other settings dotted. Right
    panel, same axes: the paper's PraaS, Redis (polling) and S3 medians on AWS, dashed.
    """
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    rows = [r for r in load_rows(csv_path) if r.experiment == "channel" and r.values
            and not r.extra.get("contention")]
    auths = list(dict.fromkeys(str(r.extra.get("auth")) for r in rows))
    if auth not in auths and auths:
        auth = auths[0]
    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for transport in TRANSPORTS:
        for each in [auth] + [x for x in auths if x != auth]:
            if each != auth and transport != "praas":
                continue
            cells = sorted((r.size, r) for r in rows if r.variant == transport and r.extra.get("auth") == each)
            if not cells:
                continue
            med = [r.median * 1e3 for _, r in cells]
            err = [[(r.median - r.quantile(0.05)) * 1e3 for _, r in cells],
                   [(r.quantile(0.95) - r.median) * 1e3 for _, r in cells]]
            label = NAMES[transport] + (f" (auth={each})" if each != auth else "")
            ours.errorbar([s for s, _ in cells], med, yerr=err, fmt="-" if each == auth else ":", marker="o",
                          markersize=4, capsize=2, color=COLORS[transport], label=label,
                          alpha=1.0 if each == auth else 0.6)
    paper = paper_channels()
    for system, color, name in (("praas", COLORS["praas"], "PraaS send/recv (Fargate)"),
                                ("redis", COLORS["redis-poll"], "Redis polling (EC2)"),
                                ("s3", COLORS["s3"], "S3 polling")):
        pts = sorted((s, v * 1e3) for (sy, s), v in paper.items() if sy == system)
        if pts:
            theirs.plot(*zip(*pts, strict=True), "--", marker="x", color=color, label=f"paper: {name}")
    sizes = sorted({r.size for r in rows} | {s for _, s in paper})
    for ax, title in ((ours, f"this run (data plane: {auth})"), (theirs, "paper, AWS us-east-1 (§6.2)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [_size(s) for s in sizes])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("message size")
        ax.set_title(title, fontsize=10)
        ax.grid(which="major", alpha=0.35)
        ax.legend(fontsize=7)
    ours.set_ylabel("one-way latency [ms] (round trip / 2), median")
    fig.suptitle("Messages between two processes: PraaS channels vs raw pyzmq, Redis and S3", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["run_channel_benchmarks", "summarise", "expected", "comparison", "plot", "pingpong", "paper_channels",
           "SIZES", "TRANSPORTS"]
