"""The control plane's logic: applications, process lifecycle, swap, invocation routing, world updates.

The REST API (:mod:`praas_kit.control.api`) is a thin layer over :class:`Controller`.
Concurrency rules: every lifecycle operation on one process holds that process's operation
lock (so swap, swap-in and stop never interleave); status changes go through
:meth:`Controller._transition`, which asks the pure state machine and commits to the registry
before anything else happens; waits (for a process to connect, swap or answer) hold no lock.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praas_kit import wire
from praas_kit.backends.base import Backend, ProcessSpec, open_backend
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.ctl import ControlServer
from praas_kit.control.registry import AppRecord, ProcRecord, Registry
from praas_kit.errors import (
    ApplicationExists,
    ApplicationNotFound,
    BackendError,
    InvalidArgument,
    InvalidState,
    PayloadTooLarge,
    PraasError,
    ProcessDied,
    ProcessExists,
    ProcessNotFound,
    Timeout,
    from_dict,
)
from praas_kit.lifecycle import LIVE, Event, Status, transition
from praas_kit.names import validate_name
from praas_kit.storage.base import SwapStore, new_snapshot_id, open_store

log = logging.getLogger("praas_kit.control")


@dataclass
class Live:
    """Run-time facts about one incarnation of a process (not persisted)."""

    incarnation: str
    secret: str
    ident: bytes | None = None
    connected: Future[str] = field(default_factory=Future)  # resolves to the address on hello
    pending: dict[str, Future[Any]] = field(default_factory=dict)  # invocation/request id -> future
    metrics: dict[str, Any] = field(default_factory=dict)
    cp_inflight: int = 0
    cp_last: float = field(default_factory=time.time)
    swap_confirmed: bool = False
    bounced: list[tuple[Any, Any, int]] = field(default_factory=list)  # held messages refused while swapping
    restored: tuple[Any, Any] = (None, None)  # (bytes, seconds) restored from a snapshot at start


@dataclass
class InvokeResult:
    """A function's result as the control plane relays it."""

    payload: bytes
    content_type: str
    process: str
    id: str


@dataclass
class PendingCall:
    """An invocation sent through the control plane, waiting for its result."""

    controller: Controller
    live: Live
    id: str
    process: str
    future: Future[tuple[str, bytes]]
    deadline: float
    timeout: float

    def done(self) -> None:
        """Release the call's bookkeeping (always call it, also after an error)."""
        with self.controller._lock:
            self.live.pending.pop(self.id, None)
            self.live.cp_inflight -= 1
            self.live.cp_last = time.time()


class Controller:
    """Owns the registry, the backend, the swap store and the process endpoint."""

    def __init__(self, cfg: ControlPlaneConfig, backend: Backend | None = None, store: SwapStore | None = None):
        self.cfg = cfg
        cfg.home.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(cfg.home / "registry.sqlite")
        self.backend = backend or open_backend(
            cfg.backend, **({"root": cfg.home / "processes"} if cfg.backend == "local" else {}),
            **cfg.backend_options)
        self.store = store or open_store(cfg.swap_store or {"kind": "dir", "root": str(cfg.home / "swaps")})
        self._lock = threading.RLock()  # guards status changes and self._live
        self._ops: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._pool_lock = threading.Lock()
        self._live: dict[tuple[str, str], Live] = {}
        self._by_ident: dict[bytes, tuple[str, str]] = {}
        self._ack_to: dict[int, tuple[bytes, str, int]] = {}  # held message id -> (sender, dst, seq)
        self._flush_locks: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self.ctl = ControlServer(self.backend.control_bind, self._on_frame, port=cfg.ctl_port,
                                 max_message=cfg.max_payload + (1 << 20))
        self._closing = threading.Event()
        self._recover()
        self._downscaler: threading.Thread | None = None
        if cfg.idle_seconds:
            self._downscaler = threading.Thread(target=self._downscale_loop, name="downscaler", daemon=True)
            self._downscaler.start()

    # ================================================================ applications
    def create_application(self, name: str, code: str | None = None, image: str | None = None,
                           vcpus: float | None = None, memory_mb: int | None = None,
                           function_workers: int | None = None) -> AppRecord:
        """Register an application; its code is a module/package path the processes can import."""
        validate_name(name, "application name")
        if code is not None:
            p = Path(code)
            if not p.exists():
                raise InvalidArgument(f"application code {code!r} does not exist")
            code = str(p.resolve())
        v, m = self._check_resources(vcpus, memory_mb)
        workers = function_workers or self.cfg.function_workers
        if not isinstance(workers, int) or not 1 <= workers <= 256:
            raise InvalidArgument(f"function_workers must be an integer in 1..256, got {workers!r}")
        rec = AppRecord(name, code, image, v, m, workers, time.time())
        with self._lock:
            if self.registry.get_app(name) is not None:
                raise ApplicationExists(f"application {name!r} already exists")
            self.registry.add_app(rec)
        return rec

    def get_application(self, name: str) -> AppRecord:
        validate_name(name, "application name")
        rec = self.registry.get_app(name)
        if rec is None:
            raise ApplicationNotFound(f"application {name!r} does not exist")
        return rec

    def applications(self) -> list[AppRecord]:
        return self.registry.apps()

    def delete_application(self, name: str) -> None:
        """Delete an application; refused while it has processes that are not closed."""
        self.get_application(name)
        with self._lock:
            recs = self.registry.processes(name)
            procs = [p.name for p in recs if p.status != Status.CLOSED]
            if procs:
                raise InvalidState(f"application {name!r} still has processes: {', '.join(procs)}")
            self.registry.delete_app(name)
        for rec in recs:  # closed processes: nothing of theirs stays in the store
            self.store.delete(name, rec.name)

    # ================================================================ processes
    def _check_resources(self, vcpus: Any, memory_mb: Any) -> tuple[float, int]:
        v = self.cfg.default_vcpus if vcpus is None else vcpus
        m = self.cfg.default_memory_mb if memory_mb is None else memory_mb
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= self.cfg.max_vcpus:
            raise InvalidArgument(f"vcpus must be a number in (0, {self.cfg.max_vcpus}], got {v!r}")
        if isinstance(m, bool) or not isinstance(m, int) or not 32 <= m <= self.cfg.max_memory_mb:
            raise InvalidArgument(f"memory_mb must be an integer in [32, {self.cfg.max_memory_mb}], got {m!r}")
        return float(v), m

    def get_process(self, app: str, name: str) -> ProcRecord:
        self.get_application(app)
        validate_name(name, "process name")
        rec = self.registry.get_process(app, name)
        if rec is None:
            raise ProcessNotFound(f"process {name!r} does not exist in application {app!r}")
        return rec

    def processes(self, app: str) -> list[ProcRecord]:
        self.get_application(app)
        return self.registry.processes(app)

    def describe(self, rec: ProcRecord) -> dict[str, Any]:
        """JSON view of a process, with metrics when it runs."""
        live = self._live.get((rec.app, rec.name))
        out: dict[str, Any] = {
            "app": rec.app, "name": rec.name, "status": rec.status.value, "vcpus": rec.vcpus,
            "memory_mb": rec.memory_mb, "pooled": rec.pooled, "created": rec.created, "updated": rec.updated,
            "address": rec.address if rec.status == Status.ALLOCATED else None,
            "snapshots": self.registry.snapshots(rec.app, rec.name),
        }
        if rec.error:
            out["error"] = rec.error
        if live is not None and live.restored[0] is not None and rec.status in LIVE:
            out["restored_bytes"], out["restore_seconds"] = live.restored
        if live is not None and live.metrics and rec.status in LIVE:
            m = live.metrics
            out["metrics"] = {"invocations": m.get("inv", 0), "busy_seconds": m.get("busy", 0.0),
                              "last_activity": max(m.get("last", 0.0), live.cp_last),
                              "inflight": m.get("inflight", 0)}
        return out

    def create_process(self, app: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                       pooled: bool = False) -> ProcRecord:
        """Start a process and wait until it is ``ALLOCATED``."""
        arec = self.get_application(app)
        validate_name(name, "process name")
        v, m = self._check_resources(arec.vcpus if vcpus is None else vcpus,
                                     arec.memory_mb if memory_mb is None else memory_mb)
        with self._ops[(app, name)]:
            with self._lock:
                old = self.registry.get_process(app, name)
                if old is not None and old.status != Status.CLOSED:
                    raise ProcessExists(f"process {name!r} already exists in application {app!r} "
                                        f"({old.status.value})")
                rec = ProcRecord(app, name, Status.ALLOCATING, v, m, pooled, created=time.time())
                self.registry.put_process(rec)
            return self._launch(arec, rec, snapshot=None)

    def _launch(self, arec: AppRecord, rec: ProcRecord, snapshot: str | None) -> ProcRecord:
        """Start a runtime for ``rec`` (ALLOCATING or SWAPPING_IN) and wait for it to connect."""
        live = Live(incarnation=uuid.uuid4().hex[:12], secret=secrets.token_hex(16))
        env = {
            "PRAAS_APP": rec.app, "PRAAS_PROCESS": rec.name, "PRAAS_SECRET": live.secret,
            "PRAAS_CONTROL": f"tcp://{self.backend.control_host()}:{self.ctl.port}",
            "PRAAS_WORKERS": str(arec.workers), "PRAAS_MAX_PAYLOAD": str(self.cfg.max_payload),
            "PRAAS_SWAP_STORE": _json(self.store.spec()), "PRAAS_METRICS_INTERVAL": str(self.cfg.metrics_interval),
            "PRAAS_DRAIN_TIMEOUT": str(self.cfg.drain_timeout),
            "PRAAS_INVOKE_TIMEOUT": str(self.cfg.invoke_timeout),
        }
        if snapshot:
            env["PRAAS_SWAPIN"] = snapshot
        with self._lock:
            self._live[(rec.app, rec.name)] = live
        spec = ProcessSpec(rec.app, rec.name, live.incarnation, rec.vcpus, rec.memory_mb, arec.code, arec.image, env)
        try:
            handle = self.backend.start(spec, lambda code: self._on_exit(rec.app, rec.name, live.incarnation, code))
        except PraasError as exc:
            self._transition(rec.app, rec.name, Event.DIED, error=str(exc))
            raise
        with self._lock:
            cur = self.registry.get_process(rec.app, rec.name)
            if cur is not None:
                cur.handle, cur.incarnation = handle, live.incarnation
                self.registry.put_process(cur)
        try:
            address = live.connected.result(timeout=self.cfg.create_timeout)
        except FutureTimeout:
            logs = self.backend.logs(handle)
            self.backend.kill(handle)
            self._transition(rec.app, rec.name, Event.DIED, error="did not connect in time")
            raise Timeout(f"process {rec.name!r} did not start within {self.cfg.create_timeout} s; its log:\n"
                          + logs) from None
        except PraasError as exc:
            logs = self.backend.logs(handle)
            self.backend.stop(handle, grace=0)
            raise BackendError(f"process {rec.name!r} exited during start-up ({exc.message}); its log:\n"
                               + logs) from None
        self._flush_held(rec.app, rec.name, live)
        cur = self._transition(rec.app, rec.name, Event.ALLOCATED, address=address, error=None)
        self._push_world(rec.app)
        return cur

    def _transition(self, app: str, name: str, event: Event, **updates: Any) -> ProcRecord:
        with self._lock:
            rec = self.registry.get_process(app, name)
            if rec is None:
                raise ProcessNotFound(f"process {name!r} does not exist in application {app!r}")
            rec.status = transition(rec.status, event)
            for k, v in updates.items():
                setattr(rec, k, v)
            self.registry.put_process(rec)
            return rec

    def swap(self, app: str, name: str, idle: float | None = None) -> dict[str, Any]:
        """Swap a process out: drain, snapshot (manifest last), exit. Returns ``{bytes, seconds, snapshot}``.

        With ``idle`` (used by the downscaler) the process refuses unless it has been idle that long.
        """
        self.get_process(app, name)
        with self._ops[(app, name)]:
            t0 = time.perf_counter()
            rec = self._transition(app, name, Event.SWAP)
            live = self._live.get((app, name))
            self._push_world(app)
            if live is None or live.ident is None:  # cannot happen for ALLOCATED; be safe
                self._transition(app, name, Event.SWAP_ABORTED)
                raise InvalidState(f"process {name!r} is not connected")
            snapshot = new_snapshot_id()
            fields: dict[str, Any] = {"snapshot": snapshot} | ({"idle": idle} if idle is not None else {})
            fut = self._ask(live, "swap", "rid", **fields)
            try:
                reply = fut.result(timeout=self.cfg.swap_timeout)
            except FutureTimeout:
                self.backend.kill(rec.handle)
                raise Timeout(f"swap-out of {name!r} timed out after {self.cfg.swap_timeout} s; "
                              "the process was killed and its previous snapshot kept") from None
            except ProcessDied as exc:
                raise ProcessDied(f"process {name!r} died during swap-out ({exc.message}); "
                                  "its previous snapshot is kept") from None
            if not reply.get("ok"):
                self._transition(app, name, Event.SWAP_ABORTED)
                self._push_world(app)
                raise from_dict(reply.get("err"))
            live.swap_confirmed = True
            self.registry.add_snapshot(app, name, snapshot, int(reply.get("bytes", 0)), float(reply.get("seconds", 0)))
            self.backend.stop(rec.handle)
            with self._lock:
                self._drop_live(app, name)
            self._transition(app, name, Event.SWAP_DONE, address=None)
            self._push_world(app)
            for old in self.registry.snapshots(app, name):
                if old["snapshot"] != snapshot:
                    self.store.delete(app, name, old["snapshot"])
                    self.registry.drop_snapshot(app, name, old["snapshot"])
            return {"bytes": int(reply.get("bytes", 0)), "seconds": float(reply.get("seconds", 0.0)),
                    "total_seconds": time.perf_counter() - t0, "snapshot": snapshot}

    def swapin(self, app: str, name: str) -> ProcRecord:
        """Start a swapped-out (or failed) process from its newest complete snapshot."""
        arec = self.get_application(app)
        self.get_process(app, name)
        with self._ops[(app, name)]:
            rec = self._transition(app, name, Event.SWAPIN)
            try:
                snapshot = self.store.latest(app, name)
            except PraasError as exc:
                self._transition(app, name, Event.DIED, error=f"swap-in failed: {exc.message}")
                raise
            if snapshot is None:
                log.warning("process %s/%s has no snapshot; it starts empty", app, name)
            return self._launch(arec, rec, snapshot)

    def stop(self, app: str, name: str) -> ProcRecord:
        """Stop a running process; its state is discarded."""
        self.get_process(app, name)
        with self._ops[(app, name)]:
            rec = self._transition(app, name, Event.STOP)
            self._push_world(app)
            live = self._live.get((app, name))
            if live is not None and live.ident is not None:
                try:
                    self._ask(live, "stop", "rid").result(timeout=5)
                except (FutureTimeout, PraasError):
                    pass
            self.backend.stop(rec.handle, grace=5)
            with self._lock:
                self._drop_live(app, name)
                cur = self.registry.get_process(app, name)
                if cur is not None and cur.status == Status.CLOSING:
                    cur = self._transition(app, name, Event.CLOSED, address=None)
            for snap in self.registry.snapshots(app, name):  # stopping discards the state, swapped copies too
                self.registry.drop_snapshot(app, name, snap["snapshot"])
            self.store.delete(app, name)
            self._push_world(app)
            return cur or rec

    def delete_process(self, app: str, name: str) -> None:
        """Delete a process and its snapshots; a running one is stopped first."""
        rec = self.get_process(app, name)
        if rec.status == Status.ALLOCATED:
            self.stop(app, name)
        with self._ops[(app, name)]:
            with self._lock:
                rec = self.get_process(app, name)
                if rec.status not in (Status.CLOSED, Status.SWAPPED_OUT, Status.FAILED):
                    raise InvalidState(f"cannot delete process {name!r} while it is {rec.status.value}")
                self.registry.delete_process(app, name)
                self._drop_live(app, name)
            self.store.delete(app, name)
        self._push_world(app)

    def kill(self, app: str, name: str) -> None:
        """SIGKILL a process's runtime (fault injection for tests and teaching)."""
        rec = self.get_process(app, name)
        self.backend.kill(rec.handle)

    # ================================================================ invocation
    def invoke(self, app: str, fn: str, payload: bytes, process: str | None = None,
               timeout: float | None = None) -> InvokeResult:
        """Run ``fn`` through the control plane: sticky with ``process`` (swapping it in if needed),
        otherwise on an idle pooled process (created when all are busy). Blocks until the result."""
        call = self.submit(app, fn, payload, process, timeout, wait_ready=True)
        assert call is not None
        try:
            ct, out = call.future.result(timeout=max(0.0, call.deadline - time.monotonic()))
        except FutureTimeout:
            raise Timeout(f"invocation of {fn!r} in {call.process!r} timed out after {call.timeout} s") from None
        finally:
            call.done()
        return InvokeResult(out, ct, call.process, call.id)

    def submit(self, app: str, fn: str, payload: bytes, process: str | None = None, timeout: float | None = None,
               wait_ready: bool = True) -> PendingCall | None:
        """Send an invocation and return at once with its :class:`PendingCall` (call ``done()`` after).

        With ``wait_ready=False`` this never blocks: it returns ``None`` when the target would first
        have to be swapped in or created (the caller then uses a thread and ``wait_ready=True``).
        """
        self.get_application(app)
        if not isinstance(fn, str) or not fn or len(fn) > 128:
            raise InvalidArgument(f"invalid function name {fn!r}")
        if len(payload) > self.cfg.max_payload:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the limit of {self.cfg.max_payload}")
        timeout = self.cfg.invoke_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not wait_ready:
            if process is None or not self._claim(app, process):
                return None
            name = process
        elif process is not None:
            name = self._ready(app, process, deadline)
        else:
            name = self._pick_pooled(app, deadline)
        with self._lock:
            live = self._live.get((app, name))
            if live is None or live.ident is None:
                raise InvalidState(f"process {name!r} is not running")
            inv_id = uuid.uuid4().hex[:16]
            fut: Future[tuple[str, bytes]] = Future()
            live.pending[inv_id] = fut
            live.cp_last = time.time()
        self.ctl.send(live.ident, [wire.header("inv", id=inv_id, fn=fn), payload])
        return PendingCall(self, live, inv_id, name, fut, deadline, timeout)

    def _claim(self, app: str, name: str) -> bool:
        """Count an invocation against ``name`` if it is ALLOCATED and connected."""
        validate_name(name, "process name")
        rec = self.registry.get_process(app, name)
        if rec is None:
            raise ProcessNotFound(f"process {name!r} does not exist in application {app!r}")
        with self._lock:
            live = self._live.get((app, name))
            if rec.status == Status.ALLOCATED and live is not None and live.ident is not None:
                live.cp_inflight += 1
                return True
        return False

    def _ready(self, app: str, name: str, deadline: float) -> str:
        """Wait until ``name`` is ALLOCATED, swapping it in if it is swapped out or failed."""
        while True:
            rec = self.get_process(app, name)
            if rec.status == Status.ALLOCATED:
                if self._claim(app, name):
                    return name
            elif rec.status in (Status.SWAPPED_OUT, Status.FAILED):
                try:
                    self.swapin(app, name)
                except InvalidState:
                    pass  # someone else swapped it in meanwhile
                continue
            elif rec.status == Status.CLOSED:
                raise InvalidState(f"process {name!r} is stopped")
            if time.monotonic() > deadline:
                raise Timeout(f"process {name!r} did not become ready (it is {rec.status.value})")
            time.sleep(0.01)

    def _pick_pooled(self, app: str, deadline: float) -> str:
        with self._pool_lock:
            swapped = None
            for rec in self.registry.processes(app):
                if not rec.pooled:
                    continue
                if rec.status == Status.ALLOCATED:
                    with self._lock:
                        live = self._live.get((app, rec.name))
                        if live is not None and live.ident is not None and live.cp_inflight == 0 \
                                and not live.metrics.get("inflight"):
                            live.cp_inflight += 1
                            return rec.name
                elif rec.status == Status.SWAPPED_OUT and swapped is None:
                    swapped = rec.name
            if swapped is not None:
                return self._ready(app, swapped, deadline)
            n = 0
            names = {r.name for r in self.registry.processes(app)}
            while f"{self.cfg.pool_prefix}{n}" in names:
                n += 1
            name = f"{self.cfg.pool_prefix}{n}"
            self.create_process(app, name, pooled=True)
            return self._ready(app, name, deadline)

    # ================================================================ process endpoint
    def _on_frame(self, ident: bytes, hdr: dict[str, Any], payload: Any) -> None:
        t = hdr["t"]
        if t == "hello":
            return self._on_hello(ident, hdr)
        key = self._by_ident.get(ident)
        if key is None:
            return
        live = self._live.get(key)
        if live is None:
            return
        if t == "metrics":
            live.metrics = hdr
        elif t == "res":
            fut = live.pending.pop(hdr["id"], None)
            if fut is not None and not fut.done():
                if hdr["ok"]:
                    fut.set_result((hdr.get("ct", "b"), payload.bytes))
                else:
                    fut.set_exception(from_dict(hdr.get("err")))
        elif t == "swapped":
            if hdr["ok"]:
                live.swap_confirmed = True  # before the process exits: its exit is then expected
            fut = live.pending.pop(hdr["rid"], None)
            if fut is not None and not fut.done():
                fut.set_result(hdr)
        elif t == "pong":
            fut = live.pending.pop(hdr["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(True)
        elif t == "ack" and not hdr["ok"]:  # a held message bounced: the process is swapping out
            live.bounced.append((hdr.get("src"), hdr.get("ep"), hdr["seq"]))
        elif t == "fwd":
            self._on_fwd(key[0], ident, hdr, payload.bytes)
        elif t == "cinv":
            threading.Thread(target=self._relay_cinv, args=(key[0], ident, hdr, payload.bytes), daemon=True).start()

    def _ask(self, live: Live, kind: str, id_field: str, **fields: Any) -> Future[Any]:
        """Send a ``kind`` request to a process; the future resolves with its reply (or fails if it dies)."""
        rid = uuid.uuid4().hex
        fut: Future[Any] = Future()
        live.pending[rid] = fut
        self.ctl.send(live.ident, [wire.header(kind, **{id_field: rid}, **fields), b""])  # type: ignore[arg-type]
        return fut

    def _on_hello(self, ident: bytes, hdr: dict[str, Any]) -> None:
        key = (hdr["app"], hdr["proc"])
        with self._lock:
            live = self._live.get(key)
            if live is None or not secrets.compare_digest(live.secret, hdr["secret"]) or live.ident is not None:
                log.warning("ignoring hello from %s/%s (unknown or stale)", *key)
                return
            live.ident = ident
            live.restored = (hdr.get("restored"), hdr.get("restore_seconds"))
            self._by_ident[ident] = key
        if not live.connected.done():
            live.connected.set_result(hdr["addr"])

    def _on_exit(self, app: str, name: str, incarnation: str, code: int) -> None:
        live = self._live.get((app, name))
        if code == 0 and live is not None:  # a clean exit follows a confirmation that may still be in flight
            deadline = time.monotonic() + 3.0
            while not live.swap_confirmed and time.monotonic() < deadline:
                rec = self.registry.get_process(app, name)
                if rec is None or rec.status not in (Status.SWAPPING_OUT, Status.CLOSING):
                    break
                time.sleep(0.01)
        with self._lock:
            live = self._live.get((app, name))
            rec = self.registry.get_process(app, name)
            if rec is None or rec.incarnation != incarnation or live is None or live.incarnation != incarnation:
                return
            if live.swap_confirmed or rec.status in (Status.CLOSING, Status.CLOSED, Status.SWAPPED_OUT):
                return
            died = ProcessDied(f"process {name!r} exited unexpectedly (exit code {code})")
            if not live.connected.done():
                live.connected.set_exception(died)
            for fut in live.pending.values():
                if not fut.done():
                    fut.set_exception(died)
            live.pending.clear()
            if rec.status in LIVE:
                self._transition(app, name, Event.DIED, error=died.message, address=None)
            self._drop_live(app, name)
        log.warning("%s/%s died with exit code %s", app, name, code)
        if rec.status not in (Status.ALLOCATING, Status.SWAPPING_IN):
            self.backend.stop(rec.handle, grace=0)
        self._push_world(app)

    def _drop_live(self, app: str, name: str) -> None:
        live = self._live.pop((app, name), None)
        if live is not None and live.ident is not None:
            self._by_ident.pop(live.ident, None)

    def _push_world(self, app: str) -> None:
        recs = self.registry.processes(app)
        procs = {r.name: {"status": r.status.value, "address": r.address if r.status == Status.ALLOCATED else None}
                 for r in recs}
        hdr = wire.header("world", procs=procs)
        with self._lock:
            idents = [lv.ident for (a, _), lv in self._live.items() if a == app and lv.ident is not None]
        for ident in idents:
            self.ctl.send(ident, [hdr, b""])
        # a newly ALLOCATED process may have messages held for it
        for r in recs:
            if r.status == Status.ALLOCATED:
                live = self._live.get((app, r.name))
                if live is not None and live.ident is not None and self.registry.held_messages(app, r.name):
                    threading.Thread(target=self._flush_held, args=(app, r.name, live), daemon=True).start()

    # ================================================================ channels through the control plane
    def _on_fwd(self, app: str, sender: bytes, hdr: dict[str, Any], payload: bytes) -> None:
        """Hold a message for ``dst`` (durably) and deliver it when ``dst`` runs; ack the sender after delivery."""
        dst = hdr["dst"]
        msg_id = self.registry.hold_message(app, dst, hdr["src"], hdr["ep"], hdr["key"], hdr["seq"], payload)
        with self._lock:
            self._ack_to.setdefault(msg_id, (sender, dst, hdr["seq"]))
            rec = self.registry.get_process(app, dst)
            live = self._live.get((app, dst))
            running = rec is not None and rec.status == Status.ALLOCATED and live is not None and live.ident
        if running:
            threading.Thread(target=self._flush_held, args=(app, dst, live), daemon=True).start()

    def _flush_held(self, app: str, dst: str, live: Live) -> None:
        """Deliver every held message for ``dst`` in order, then drop the delivered ones and ack senders."""
        with self._flush_locks[(app, dst)]:
            msgs = self.registry.held_messages(app, dst)
            if not msgs or live.ident is None:
                return
            for m in msgs:
                self.ctl.send(live.ident, [wire.header("msg", src=m.src, ep=m.ep, key=m.key, seq=m.seq), m.payload])
            try:  # the process handles frames in order: its pong means every message above is in its mailbox
                self._ask(live, "ping", "id").result(timeout=30)
            except (FutureTimeout, PraasError):
                return  # not delivered; stays held
            bounced, live.bounced = set(live.bounced), []
            done = [m.id for m in msgs if (m.src, m.ep, m.seq) not in bounced]
            self.registry.drop_messages(done)
            for mid in done:
                to = self._ack_to.pop(mid, None)
                if to is not None:
                    self.ctl.send(to[0], [wire.header("ack", dst=to[1], seq=to[2], ok=True), b""])

    def _relay_cinv(self, app: str, sender: bytes, hdr: dict[str, Any], payload: bytes) -> None:
        """A process invokes a peer that is not running: swap it in and relay the call."""
        try:
            res = self.invoke(app, hdr["fn"], payload, process=hdr["dst"])
            reply = [wire.header("res", id=hdr["id"], ok=True, ct=res.content_type), res.payload]
        except PraasError as exc:
            reply = [wire.header("res", id=hdr["id"], ok=False, err=exc.to_dict()), b""]
        self.ctl.send(sender, reply)

    # ================================================================ downscaler
    def _downscale_loop(self) -> None:
        idle = float(self.cfg.idle_seconds or 0)
        interval = self.cfg.downscaler_interval or min(30.0, max(0.2, idle / 4))
        while not self._closing.wait(interval):
            now = time.time()
            for rec in self.registry.processes():
                if rec.status != Status.ALLOCATED:
                    continue
                live = self._live.get((rec.app, rec.name))
                if live is None or not live.metrics:
                    continue
                last = max(float(live.metrics.get("last", 0.0)), live.cp_last)
                if live.metrics.get("inflight", 0) or live.cp_inflight or now - last <= idle:
                    continue
                log.info("downscaler: swapping %s/%s (idle %.1f s)", rec.app, rec.name, now - last)
                try:
                    self.swap(rec.app, rec.name, idle=idle)
                except PraasError as exc:
                    log.info("downscaler: %s/%s not swapped: %s", rec.app, rec.name, exc.message)

    # ================================================================ restart and shutdown
    def _recover(self) -> None:
        """After a restart: runtimes from before are gone or orphaned; mark them FAILED (swap-in restores)."""
        for rec in self.registry.processes():
            if rec.status in LIVE:
                self.backend.recover(rec.handle)
                self._transition(rec.app, rec.name, Event.DIED,
                                 error="the control plane restarted while the process ran", address=None)

    def close(self, stop_processes: bool = True) -> None:
        """Stop the downscaler, every running process (state discarded), and the endpoint."""
        self._closing.set()
        if stop_processes:
            for rec in self.registry.processes():
                if rec.status in LIVE:
                    try:
                        if rec.status == Status.ALLOCATED:
                            self.stop(rec.app, rec.name)
                        else:
                            self.backend.kill(rec.handle)
                    except PraasError as exc:
                        log.warning("stopping %s/%s: %s", rec.app, rec.name, exc)
        self.backend.close()
        self.ctl.close()
        self.registry.close()


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj)


__all__ = ["Controller", "InvokeResult"]
