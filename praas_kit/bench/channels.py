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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.baselines import Contention
from praas_kit.bench.common import Figure, Row, Target, load_rows, log_log, median_of, paper_csv, pyplot, save_figure
from praas_kit.bench.harness import BENCH_APP, create_bucket, deployment, finish, s3_settings, security, start, storage
from praas_kit.bench.series import pingpong
from praas_kit.bench.sizes import SIZES, by_size, size_label
from praas_kit.errors import InvocationError, StorageError

if TYPE_CHECKING:
    from praas_kit.bench.common import BenchRun
    from praas_kit.sdk.client import Process
    from praas_kit.storage.s3_endpoint import S3Endpoint

log = logging.getLogger("praas_kit.bench.channels")

TRANSPORTS = ("praas", "raw", "redis", "redis-poll", "s3")
#: the bucket the S3 baseline's messages go through
S3_BUCKET = "praas-channels"
#: a quick run sends no larger S3 messages than this
S3_QUICK_MAX = 1 << 20
#: one-way send/recv against raw pyzmq at 10 B, and the baselines against send/recv at 10 B and 1 KiB
TARGETS = {"send-recv/raw": Target("<=", 1.5), "redis/send-recv": Target(">=", 2), "s3/send-recv": Target(">=", 20)}


def _reps(size: int, quick: bool) -> int:
    return by_size(size, (200, 50, 10) if quick else (1000, 300, 60))


def _s3_reps(size: int, quick: bool) -> int:
    """Repetitions of the S3 baseline, over all rounds (tens of ms per message: far fewer than the others)."""
    return by_size(size, (20, 5, 5) if quick else (100, 30, 20))


def _s3_sizes(sizes: list[int], quick: bool) -> list[int]:
    """The sizes the S3 baseline runs at: all, but none above 1 MiB in a quick run."""
    return [s for s in sizes if not quick or s <= S3_QUICK_MAX]


def _s3_target(s3: S3Endpoint | None) -> dict[str, Any] | None:
    """The S3 settings of the baseline's messages (:data:`S3_BUCKET`, created), or None without S3."""
    if s3 is None:
        return None
    try:
        create_bucket(s3, S3_BUCKET)
    except StorageError as exc:  # e.g. no boto3 here
        log.warning("no S3 baseline: %s", exc)
        return None
    return s3_settings(s3, S3_BUCKET)


def run_channel_benchmarks(out: Path, quick: bool = True, backend: str = "local",
                           dataplane_auth: str | tuple[str, ...] = ("curve", "none"), sizes: list[int] | None = None,
                           transports: tuple[str, ...] = TRANSPORTS, contention: bool = False,
                           s3_reps: int | None = None) -> BenchRun:
    """Ping-pong over each transport and size, for each data-plane security setting in ``dataplane_auth``; save
    ``channels.csv`` + metadata under ``out`` and draw ``channels.png``/``.pdf`` (:func:`plot`).

    ``s3_reps`` overrides the S3 baseline's repetitions per size (default :func:`_s3_reps`). Every server this
    starts (Redis, the Swift S3 server) is stopped on return, also on an error."""
    started, auths = start("channels", backend), security(dataplane_auth)
    sizes, rounds = sizes or SIZES, 2 if quick else 3
    s3_sizes = _s3_sizes(sizes, quick) if "s3" in transports else []
    s3_n = {s: s3_reps or _s3_reps(s, quick) for s in s3_sizes}
    skipped: set[str] = set()
    params: dict[str, Any] = {
        "quick": quick, "backend": backend, "auths": list(auths), "sizes": sizes, "rounds": rounds,
        "transports": list(transports), "reps": {s: _reps(s, quick) for s in sizes}, "contention": contention,
        "s3_sizes": s3_sizes, "s3_reps": s3_n, "s3_warmup": 2, "skipped": []}
    rows: list[Row] = []
    redis = any(t.startswith("redis") for t in transports)
    with ExitStack() as outer:  # on this machine, one S3 server for every setting
        local_s3 = storage(None, outer, s3=bool(s3_sizes), redis=False, optional=True).s3 \
            if backend == "local" else None
        s3_local = _s3_target(local_s3)
        for auth in auths:
            with ExitStack() as stack:
                cp = stack.enter_context(deployment(backend, swap="s3" if s3_sizes else "dir", redis=True,
                                                    function_workers=2, dataplane_auth=auth))
                own = storage(cp, stack, s3=bool(s3_sizes) and backend != "local", redis=redis, optional=True)
                url = own.redis_url
                s3 = s3_local if backend == "local" else _s3_target(own.s3)
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
    return finish(rows, out, "channels", params, plot, started=started)


def _measure(a: Process, b: Process, size: int, quick: bool, rounds: int, transports: tuple[str, ...], url: str | None,
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
    return median_of(rows, "channel", transport, size, auth=auth)


#: (baseline transport, its name, how its figure reads (baseline, send/recv seconds), what it measures)
BASELINE_FIGURES: tuple[tuple[str, str, Callable[[float, float], str], str], ...] = (
    ("redis", "Redis BLPOP", lambda r, p: f"{r * 1e6:.0f} us / {p * 1e6:.0f} us = {r / p:.2f}x",
     "one-way, same two processes"),
    ("s3", "S3", lambda s, p: f"{s * 1e3:.1f} ms / {p * 1e3:.3f} ms = {s / p:.0f}x",
     "one-way, same two processes; S3 PutObject + polling GetObject (1, 2, 3... ms)"))


def summarise(rows: list[Row]) -> list[Figure]:
    """Headline figures per data-plane security setting: send/recv within 1.5x of raw pyzmq at 10 B, at least 2x
    faster than Redis BLPOP and at least 20x faster than S3 at 10 B and 1 KiB (one-way medians)."""
    out = []
    for auth in sorted({str(r.extra.get("auth")) for r in rows}):
        p10, raw10 = median(rows, "praas", 10, auth), median(rows, "raw", 10, auth)
        if p10 and raw10:
            out.append(TARGETS["send-recv/raw"].figure(
                f"send/recv / raw, one-way 10 B ({auth})", f"{p10 * 1e6:.0f} us / {raw10 * 1e6:.0f} us = "
                f"{p10 / raw10:.2f}x", p10 / raw10,
                "ping-pong / 2 between two processes vs raw pyzmq between the same two"))
        for transport, label, measured, meaning in BASELINE_FIGURES:
            for size in (10, 1024):
                p, other = median(rows, "praas", size, auth), median(rows, transport, size, auth)
                if p and other:
                    out.append(TARGETS[f"{transport}/send-recv"].figure(
                        f"{label} / send-recv, {size} B ({auth})", measured(other, p), other / p, meaning))
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
            out.append({"benchmark": "channels", "what": what, "condition": size_label(size),
                        "ours": round(ours / base, 2),
                        "paper": round(theirs / their_base, 2) if theirs and their_base else None})
    return out


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
        log_log(ax, sizes, [size_label(s) for s in sizes])
        ax.set_xlabel("message size")
        ax.set_title(title, fontsize=10)
        ax.grid(which="major", alpha=0.35)
        ax.legend(fontsize=7)
    ours.set_ylabel("one-way latency [ms] (round trip / 2), median")
    fig.suptitle("Messages between two processes: PraaS channels vs raw pyzmq, Redis and S3", fontsize=11)
    return save_figure(fig, csv_path)


__all__ = ["run_channel_benchmarks", "summarise", "median", "expected", "comparison", "plot", "pingpong",
           "paper_channels", "SIZES", "TRANSPORTS", "TARGETS"]
