"""Scale costs (issue 12): how the control-plane registry, world updates and S3 swap traffic grow with the number
of processes, measured on this machine on the real code paths, for the written scale plan (``docs/scaling.md``).

Three parts, each a set of :class:`~praas_kit.bench.common.Row` series:

* **registry** -- :class:`~praas_kit.control.registry.Registry` (SQLite, in a temporary directory) holding 10 ...
  10,000 process records of one application (plus a small application of 10). Single operations
  (``get_process``, ``update_process``, ``insert_process``, ``list_app``, ``list_app_small``, ``list_all``) and
  the sequences of registry calls the controller makes per event: ``ev_create`` (create -> ALLOCATED, ending in
  the world push's listing), ``ev_swap_out``, ``inv_sticky`` (``?process=``) and ``inv_faas`` (pooled routing
  scans the application's records). Unit: seconds per operation.
* **world** -- the real :meth:`World.push <praas_kit.control.world.World.push>` (what the controller runs) over a
  real registry and real sessions, with an endpoint that counts frames instead of writing to sockets (socket
  time is not included). ``world-push``: seconds per push with N processes running (N frames, one per peer);
  ``world-decode``: seconds to parse one such frame on the receiving side, and whether the runtime accepts it
  (:func:`praas_kit.wire.decode` then :func:`praas_kit.wire.parse_world`; the world travels in the payload since
  this measurement found that, as a header, it was refused above 561 processes); ``world-alloc``:
  frames, bytes and control-plane seconds to allocate N processes one after another (every allocation pushes
  the whole world to every running peer: N(N+1)/2 frames, O(N^3) bytes). Small N are *simulated* (every push
  really made and counted); every N is also *computed* from the per-entry sizes of a real frame and the measured
  push time (interpolated between the measured N). ``delta`` and ``lazy`` are the proposed fixes, computed: a
  one-entry frame per peer per event (the new process gets the full world once), or no push at all and one
  lookup per peer contacted.
* **s3** -- PutObject/GetObject of 1 KiB, 100 KiB and 10 MiB objects by 1, 4 and 16 concurrent clients (one
  thread and one boto3 client each) against one local OpenStack Swift S3 endpoint
  (:class:`~praas_kit.tools.services.SwiftS3Server`), plus the S3 requests one swap-out and one swap-in of a
  process make (the real :func:`~praas_kit.process.snapshot.write_snapshot` over
  :class:`~praas_kit.storage.s3.S3Store`, counted per HTTP request).

Output: ``<out>/scaling.csv`` + ``scaling.meta.json``; :func:`plot` draws ``scaling.png``/``.pdf`` next to them;
:func:`summarise` gives the growth figures (a power-law fit per cost and the projections at 10,000 processes).
Run it with ``praas bench scaling [--full] [--no-s3] --out results/scaling/local``; ``docs/scaling.md`` reads the
results.
"""

from __future__ import annotations

import functools
import logging
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from tqdm.auto import tqdm

from praas_kit import wire
from praas_kit.bench.common import BenchRun, Row, time_calls
from praas_kit.bench.harness import finish, start
from praas_kit.bench.scaling_report import REGISTRY_OPS, fit_power, growth, interpolate, plot, summarise
from praas_kit.bench.scaling_s3 import S3_CLIENTS, S3_SIZES, SWAP_STATE, s3_rows
from praas_kit.control.channels import HeldMessages
from praas_kit.control.endpoint import ProcessEndpoint
from praas_kit.control.registry import AppRecord, ProcRecord, Registry
from praas_kit.control.sessions import Session, Sessions
from praas_kit.control.world import World
from praas_kit.errors import ProtocolError
from praas_kit.keys import KeyPair
from praas_kit.lifecycle import Event, Status, transition

log = logging.getLogger("praas_kit.bench.scaling")

#: process counts of the registry and world parts
SIZES = (10, 100, 1_000, 10_000)
#: process counts whose allocation is simulated push by push (quick, full); larger ones are computed
SIM_SIZES = {True: (10, 100), False: (10, 100, 1_000)}
APP, SMALL_APP = "scale", "small"
NODES = 100  #: the simulated addresses spread processes over this many nodes
#: the computed ``world-alloc`` series, per N
ALLOC_VARIANTS = ("full_frames", "full_bytes", "delta_frames", "delta_bytes", "lazy_frames", "lazy_bytes",
                  "full_seconds", "peer_parse_seconds", "lazy_lookup_bytes")
#: operations whose cost grows with the records they read (fewer repetitions at large N)
LINEAR_OPS = frozenset({"list_app", "list_all", "ev_create", "ev_swap_out", "inv_faas"})


# ====================================================================== records
def _record(i: int, app: str = APP, status: Status = Status.ALLOCATED) -> ProcRecord:
    """A pooled process record as a container backend leaves it: address on one of :data:`NODES` nodes, a CurveZMQ
    public key (the default ``dataplane_auth``), a container handle."""
    now = time.time()
    return ProcRecord(app, f"pool-{i}", status, 1.0, 1024, pooled=True,
                      address=f"tcp://10.0.0.{1 + i % NODES}:{30000 + i}",
                      handle={"container": uuid.uuid4().hex + uuid.uuid4().hex}, incarnation=uuid.uuid4().hex[:12],
                      created=now, updated=now, public_key=KeyPair.new().public)


def _new_registry(tmp: Path) -> Registry:
    reg = Registry(tmp / f"registry-{uuid.uuid4().hex[:8]}.sqlite")
    for name in (APP, SMALL_APP):
        reg.add_app(AppRecord(name, None, "praas-bench", 1.0, 1024, 2, time.time()))
    return reg


def _set_status(reg: Registry, app: str, name: str, event: Event, **updates: Any) -> None:
    """What :meth:`Controller._transition` does to the registry: read, ask the state machine, write."""
    rec = reg.get_process(app, name)
    assert rec is not None
    rec.status = transition(rec.status, event)
    for key, value in updates.items():
        setattr(rec, key, value)
    reg.put_process(rec)


# ====================================================================== (a) registry
def _swap_back(reg: Registry, name: str) -> None:
    """SWAPPED_OUT -> SWAPPING_IN -> ALLOCATED (the cleanup after a timed swap-out)."""
    _set_status(reg, APP, name, Event.SWAPIN)
    _set_status(reg, APP, name, Event.ALLOCATED)


def _time_with_cleanup(fn: Callable[[], Any], cleanup: list[Callable[[], None]], reps: int) -> list[float]:
    """Seconds of each of ``reps`` calls of ``fn`` (after 2 untimed ones); what a call queued in ``cleanup`` runs
    untimed before the next call and at the end."""
    out = []
    for i in range(reps + 2):
        while cleanup:
            cleanup.pop()()
        t0 = time.perf_counter()
        fn()
        if i >= 2:
            out.append(time.perf_counter() - t0)
    while cleanup:
        cleanup.pop()()
    return out


def _registry_ops(reg: Registry, n: int, rng: random.Random,
                  cleanup: list[Callable[[], None]]) -> dict[str, Callable[[], Any]]:
    """The timed operations with ``n`` records of :data:`APP`; what one adds or changes it undoes by queueing
    an action in ``cleanup`` (run untimed by :func:`_time_with_cleanup`)."""
    names = [f"pool-{i}" for i in range(n)]
    spare = [_record(10**7 + i) for i in range(2100)]  # made untimed (a key pair each): records to insert

    def pick() -> str:
        return rng.choice(names)

    def forget(name: str) -> None:
        cleanup.append(lambda: reg.delete_process(APP, name))

    def update() -> None:
        rec = reg.get_process(APP, pick())
        assert rec is not None
        reg.put_process(rec)

    def insert() -> None:
        rec = spare.pop()
        forget(rec.name)
        reg.put_process(rec)

    def ev_create() -> None:  # Controller.create_process -> _launch -> _transition -> World.push
        rec = spare.pop()
        rec.status = Status.ALLOCATING
        forget(rec.name)
        reg.get_app(APP)                      # get_application
        reg.get_process(APP, rec.name)        # does it exist?
        reg.put_process(rec)                  # ALLOCATING
        reg.get_app(APP)                      # credentials (CurveZMQ)
        cur = reg.get_process(APP, rec.name)  # the backend's handle recorded
        assert cur is not None
        reg.put_process(cur)
        _set_status(reg, APP, rec.name, Event.ALLOCATED)
        reg.processes(APP)                    # World.push

    def ev_swap_out() -> None:  # Controller.swap
        name = pick()
        reg.get_app(APP)
        reg.get_process(APP, name)
        _set_status(reg, APP, name, Event.SWAP)
        reg.processes(APP)                    # World.push (SWAPPING_OUT)
        reg.add_snapshot(APP, name, "s-1", SWAP_STATE, 0.01)
        _set_status(reg, APP, name, Event.SWAP_DONE, address=None)
        reg.processes(APP)                    # World.push (SWAPPED_OUT)
        reg.snapshots(APP, name)
        reg.drop_snapshot(APP, name, "s-1")
        cleanup.append(lambda: _swap_back(reg, name))

    def inv_sticky() -> None:  # Invoker.submit -> _ready -> _claim
        name = pick()
        for _ in range(3):
            reg.get_app(APP)
        reg.get_process(APP, name)
        reg.get_process(APP, name)

    def inv_faas() -> None:  # Invoker.submit -> _pick_pooled -> _scan_pool
        pick()
        reg.get_app(APP)
        reg.processes(APP)

    return {
        "get_process": lambda: reg.get_process(APP, pick()), "update_process": update, "insert_process": insert,
        "list_app": lambda: (pick(), reg.processes(APP)), "list_app_small": lambda: (pick(), reg.processes(SMALL_APP)),
        "list_all": lambda: (pick(), reg.processes()), "ev_create": ev_create, "ev_swap_out": ev_swap_out,
        "inv_sticky": inv_sticky, "inv_faas": inv_faas,
    }


def registry_rows(tmp: Path, sizes: tuple[int, ...], quick: bool) -> list[Row]:
    """Time every :data:`REGISTRY_OPS` entry with each of ``sizes`` records in one registry (grown size by size)."""
    rows: list[Row] = []
    reg = _new_registry(tmp)
    rng = random.Random(12)
    try:
        for i in range(10):
            reg.put_process(_record(i, SMALL_APP))
        have = 0
        for n in tqdm(sizes, desc="registry", unit="size", leave=False):
            for i in range(have, n):
                reg.put_process(_record(i))
            have = n
            cleanup: list[Callable[[], None]] = []
            ops = _registry_ops(reg, n, rng, cleanup)
            for op in REGISTRY_OPS:
                reps = (max(3, min(200, 30_000 // n)) if quick else max(10, min(1000, 300_000 // n))) \
                    if op in LINEAR_OPS else (100 if quick else 500)
                values = _time_with_cleanup(ops[op], cleanup, reps)
                rows.append(Row("registry", op, n, "s", values, {"records": n + 10}))
            log.info("registry with %d records: get %.0f us, list_app %.2f ms", n,
                     rows[-10].median * 1e6, rows[-7].median * 1e3)
    finally:
        reg.close()
    return rows


# ====================================================================== (b) world updates
class CountingEndpoint:
    """Stands in for :class:`~praas_kit.control.endpoint.ProcessEndpoint`: counts what would be sent."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.last: list[bytes] = []

    def on(self, frame_type: str, handler: Any) -> None:
        """Handlers are never called: nothing arrives."""

    def send(self, session: Session, frames: list[Any]) -> None:
        self.frames += 1
        self.bytes += sum(len(f) for f in frames)
        self.last = frames

    def send_to(self, ident: bytes, frames: list[Any]) -> None:
        self.frames += 1
        self.bytes += sum(len(f) for f in frames)


class WorldBench:
    """The controller's :class:`~praas_kit.control.world.World` on a real registry, real sessions and held
    messages, and a :class:`CountingEndpoint`. :meth:`allocate` adds one running process."""

    def __init__(self, tmp: Path) -> None:
        self.registry = _new_registry(tmp)
        self.endpoint = CountingEndpoint()
        self.sessions = Sessions()  # no backend, store or sockets: only the world push is run
        endpoint = cast(ProcessEndpoint, self.endpoint)
        held = HeldMessages(self.registry, self.sessions, endpoint, lambda a, n: True, lambda a, n: True)
        self.world = World(self.registry, self.sessions, endpoint, held)
        self.running = 0

    def allocate(self) -> None:
        """Record process number ``running`` as ALLOCATED and connected (no push)."""
        rec = _record(self.running)
        self.registry.put_process(rec)
        session = Session(APP, rec.name, rec.incarnation, "secret")
        self.sessions.add(session)
        self.sessions.attach(session, rec.name.encode())
        self.running += 1

    def push(self) -> None:
        self.world.push(APP)

    def close(self) -> None:
        self.registry.close()


def _frames_bytes(frames: list[bytes]) -> int:
    return sum(len(f) for f in frames)


def entry_sizes(frames: list[bytes]) -> tuple[int, list[int]]:
    """``(bytes of a world frame with no process, [bytes each process adds])`` read from a real world frame, in
    its order: the frame with the first k processes has ``empty + sum(sizes[:k]) + (k - 1)`` bytes (commas)."""
    procs = wire.parse_world(frames[1])
    empty = _frames_bytes(wire.world_frames({}))
    return empty, [_frames_bytes(wire.world_frames({k: v})) - empty for k, v in procs.items()]


def frame_bytes(empty: int, sizes: list[int]) -> list[int]:
    """Bytes of the world frame with 1, 2, ... ``len(sizes)`` processes."""
    out, total = [], empty - 1
    for s in sizes:
        total += s + 1
        out.append(total)
    return out


def allocation_cost(empty: int, sizes: list[int], delta: list[int]) -> dict[str, int]:
    """Frames and bytes the control plane sends to allocate ``len(sizes)`` processes one after another: with full
    worlds (allocation k sends the k-process world to k peers), with deltas (``delta[k]``: the one-entry frame
    to the k - 1 others, the full world to the new one), and with lazy lookup (nothing is pushed)."""
    full = frame_bytes(empty, sizes)
    n = len(sizes)
    return {"full_frames": n * (n + 1) // 2, "full_bytes": sum((k + 1) * b for k, b in enumerate(full)),
            "delta_frames": n * (n + 1) // 2, "delta_bytes": sum(k * delta[k] + full[k] for k in range(n)),
            "lazy_frames": 0, "lazy_bytes": 0}


def world_rows(tmp: Path, sizes: tuple[int, ...], sim_sizes: tuple[int, ...], quick: bool) -> list[Row]:
    """Per-push time, frame size and receiver-side parse at each of ``sizes``; allocation totals simulated for
    ``sim_sizes`` and computed for all ``sizes``."""
    rows: list[Row] = []
    for n in tqdm(sim_sizes, desc="world: simulated allocations", leave=False):
        bench = WorldBench(tmp)
        try:
            seconds = 0.0
            for _ in range(n):
                bench.allocate()
                t0 = time.perf_counter()
                bench.push()
                seconds += time.perf_counter() - t0
            extra: dict[str, Any] = {"source": "simulated"}
            rows += [Row("world-alloc", "sim_frames", n, "frames", [float(bench.endpoint.frames)], extra),
                     Row("world-alloc", "sim_bytes", n, "bytes", [float(bench.endpoint.bytes)], extra),
                     Row("world-alloc", "sim_seconds", n, "s", [seconds], extra)]
        finally:
            bench.close()
    bench = WorldBench(tmp)
    pushes: dict[int, float] = {}
    try:
        for n in tqdm(sizes, desc="world: one push", leave=False):
            while bench.running < n:
                bench.allocate()
            before = bench.endpoint.frames
            values = time_calls(bench.push, 3 if n >= 10_000 or quick else 10, warmup=1)
            frames = bench.endpoint.last
            per_push = (bench.endpoint.frames - before) // (len(values) + 1)
            try:
                wire.parse_world(wire.decode(frames)[1])
                accepted = True
            except ProtocolError:
                accepted = False
            info: dict[str, Any] = {"frames_per_push": per_push, "frame_bytes": _frames_bytes(frames),
                                    "runtime_accepts": accepted}
            rows.append(Row("world-push", "full", n, "s", values, info))
            parse = time_calls(functools.partial(wire.parse_world, frames[1]), 5 if n >= 10_000 else 20, warmup=1)
            rows.append(Row("world-decode", "full", n, "s", parse, info))
            pushes[n] = statistics.median(values)
        empty, sizes_of = entry_sizes(bench.endpoint.last)  # the largest world: every entry, in push order
        delta = [empty + s for s in sizes_of]  # a world frame of one entry: what a delta would send
    finally:
        bench.close()
    decode = {r.size: r.median for r in rows if r.experiment == "world-decode"}
    lookup = wire.header("peer", id="0" * 16, dst=f"pool-{sizes[-1]}")  # a proposed request: "where is dst?"
    for n in sizes:
        cost = allocation_cost(empty, sizes_of[:n], delta[:n])
        cp_seconds = sum(interpolate(pushes, k) for k in range(1, n + 1))
        peer_seconds = sum(k * interpolate(decode, k) for k in range(1, n + 1))  # k receivers parse a k-world
        computed: dict[str, Any] = {"source": "computed"}
        rows += [Row("world-alloc", k, n, "frames" if k.endswith("frames") else "bytes", [float(v)], computed)
                 for k, v in cost.items()]
        rows += [Row("world-alloc", "full_seconds", n, "s", [cp_seconds], computed),
                 Row("world-alloc", "peer_parse_seconds", n, "s", [peer_seconds], computed),
                 Row("world-alloc", "lazy_lookup_bytes", n, "bytes", [float(delta[n - 1] + len(lookup))], computed)]
    log.info("world frame: %d bytes per process", sizes_of[-1])
    return rows


# ====================================================================== the run (the S3 part: scaling_s3.py)
def run_scaling(out: Path, quick: bool = True, s3: bool = True) -> BenchRun:
    """Measure the three scale costs (see the module docstring); ``s3=False`` leaves out the S3 part (it needs
    the Swift S3 server). Quick: under a minute; full: a few minutes (more repetitions, simulated allocations up
    to 1,000 processes, more S3 requests). Saves ``scaling.csv`` + ``scaling.meta.json`` under ``out`` and draws
    ``scaling.png``/``.pdf`` (:func:`plot`)."""
    params = {"quick": quick, "sizes": list(SIZES), "simulated": list(SIM_SIZES[quick]), "s3": s3,
              "s3_sizes": list(S3_SIZES) if s3 else [], "s3_clients": list(S3_CLIENTS) if s3 else [],
              "swap_state_bytes": SWAP_STATE, "nodes": NODES, "max_header": wire.MAX_HEADER,
              "registry": "SQLite (WAL, synchronous=NORMAL) in a temporary directory",
              "world": "World.push over a real registry and sessions; sockets replaced by a counter",
              "s3_server": "one local OpenStack Swift s3api endpoint (single-process proxy)"}
    started = start("scaling")  # the machine is shared: how busy it was
    rows: list[Row] = []
    parts = ["registry", "world"] + (["s3"] if s3 else [])
    with tempfile.TemporaryDirectory(prefix="praas-scaling-") as name:
        tmp = Path(name)
        for part in tqdm(parts, desc="praas bench scaling", unit="part"):
            if part == "registry":
                rows += registry_rows(tmp, SIZES, quick)
            elif part == "world":
                rows += world_rows(tmp, SIZES, SIM_SIZES[quick], quick)
            else:
                rows += s3_rows(tmp, quick)
    return finish(rows, out, "scaling", params, plot, started=started)


def expected(params: dict[str, Any]) -> set[tuple[str, str, int]]:
    """The cells (experiment, variant, size) a run with ``params`` must have measured (for
    :func:`praas_kit.bench.validate.validate`)."""
    sizes = [int(n) for n in params["sizes"]]
    cells = {("registry", op, n) for op in REGISTRY_OPS for n in sizes}
    cells |= {(e, "full", n) for e in ("world-push", "world-decode") for n in sizes}
    cells |= {("world-alloc", v, n) for v in ALLOC_VARIANTS for n in sizes}
    cells |= {("world-alloc", v, int(n)) for v in ("sim_frames", "sim_bytes", "sim_seconds")
              for n in params["simulated"]}
    cells |= {(f"s3-{op}", f"clients={c}", int(size)) for op in ("put", "get") for c in params["s3_clients"]
              for size in params["s3_sizes"]}
    if params.get("s3"):
        cells |= {("s3-swap", phase, int(params["swap_state_bytes"])) for phase in ("swap-out", "swap-in")}
    return cells


__all__ = ["run_scaling", "summarise", "growth", "plot", "expected", "fit_power", "interpolate", "allocation_cost",
           "frame_bytes", "entry_sizes", "WorldBench", "CountingEndpoint", "registry_rows", "world_rows", "s3_rows",
           "SIZES", "SIM_SIZES", "REGISTRY_OPS"]
