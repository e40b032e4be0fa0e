"""The control plane's lifecycle operations: applications, processes, swap, and the wiring of the rest.

:class:`Controller` owns the registry, the backend and the swap store, and wires the pieces that own
their own state: the process endpoint (:mod:`~praas_kit.control.endpoint`), held messages
(:mod:`~praas_kit.control.channels`), invocation routing (:mod:`~praas_kit.control.pool`) and the
downscaler (:mod:`~praas_kit.control.downscaler`). The REST API (:mod:`praas_kit.control.api`) is a
thin layer over it.

Concurrency rules: every lifecycle operation on one process holds that process's operation lock (so
swap, swap-in and stop never interleave); status changes go through :meth:`Controller._transition`,
which asks the pure state machine and commits to the registry before anything else happens; waits
(for a process to connect, swap or answer) hold no lock.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from praas_kit.backends.base import Backend, ProcessSpec
from praas_kit.backends.registry import open_backend
from praas_kit.control.apps import Applications
from praas_kit.control.channels import HeldMessages
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.downscaler import Candidate, Downscaler
from praas_kit.control.endpoint import ProcessEndpoint
from praas_kit.control.exits import Exits
from praas_kit.control.pool import Invoker, InvokeResult, PendingCall
from praas_kit.control.registry import AppRecord, ProcRecord, Registry
from praas_kit.control.sessions import Session, Sessions
from praas_kit.control.snapshots import collect_leftovers, restorable
from praas_kit.control.world import World
from praas_kit.errors import (
    BackendError,
    InvalidArgument,
    InvalidState,
    PraasError,
    ProcessDied,
    ProcessExists,
    ProcessNotFound,
    Timeout,
    from_dict,
)
from praas_kit.home import HomeLock, lock_home
from praas_kit.keys import KeyPair
from praas_kit.lifecycle import DELETABLE, LIVE, Event, Status, transition
from praas_kit.names import validate_name
from praas_kit.process.config import ProcessConfig
from praas_kit.storage.base import SwapStore, new_snapshot_id
from praas_kit.storage.registry import open_store

log = logging.getLogger("praas_kit.control")


class Controller:
    """Owns the registry, the backend and the swap store; runs the lifecycle operations."""

    def __init__(self, cfg: ControlPlaneConfig, backend: Backend | None = None, store: SwapStore | None = None,
                 home_lock: HomeLock | None = None):
        """``home_lock``: the home, already taken (:func:`praas_kit.home.lock_home`); else it is taken first."""
        self.cfg = cfg
        self._home_lock = home_lock or lock_home(cfg.home)  # a second control plane on this home stops here
        try:
            self._open(cfg, backend, store)
        except BaseException:
            self._home_lock.release()
            raise

    def _open(self, cfg: ControlPlaneConfig, backend: Backend | None, store: SwapStore | None) -> None:
        self.registry = Registry(cfg.home / "registry.sqlite")
        self.backend = backend or open_backend(cfg.backend, cfg.home, cfg.backend_options)
        self.store = store or open_store(cfg.swap_store or {"kind": "dir", "root": str(cfg.home / "swaps")})
        if cfg.dataplane_auth not in ("curve", "none"):
            raise InvalidArgument(f"dataplane_auth must be 'curve' or 'none', not {cfg.dataplane_auth!r}")
        #: the control plane's own CurveZMQ keys (None: the data plane is not authenticated)
        self.keys = KeyPair.new() if cfg.dataplane_auth == "curve" else None
        self.sessions = Sessions()
        self._ops: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self.endpoint = ProcessEndpoint(self.sessions, self.backend.control_bind, port=cfg.ctl_port,
                                        max_message=cfg.max_payload + (1 << 20),
                                        curve_secret=self.keys.secret.encode() if self.keys else None)
        self.held = HeldMessages(self.registry, self.sessions, self.endpoint, self._accepts_messages,
                                 self._is_running)
        self.world = World(self.registry, self.sessions, self.endpoint, self.held)
        self.exits = Exits(self.registry, self.sessions, self.backend, self._transition, self.world.push)
        self.invoker = Invoker(cfg, self.registry, self.sessions, self.endpoint, self)
        self.apps = Applications(cfg, self.registry, self.sessions.lock, self.backend, self.keys is not None)
        self._recover()
        self.downscaler = Downscaler(cfg.idle_seconds, cfg.downscaler_interval, self._idle_candidates,
                                     lambda a, n, idle: self.swap(a, n, idle=idle), time.time) \
            if cfg.idle_seconds else None

    @property
    def backend_name(self) -> str:
        """The compute backend's registered name."""
        return self.backend.name

    @property
    def max_payload(self) -> int:
        """The payload limit in bytes."""
        return self.cfg.max_payload

    # ================================================================ applications (see apps.py)
    def create_application(self, name: str, code: str | None = None, image: str | None = None,
                           vcpus: float | None = None, memory_mb: int | None = None,
                           function_workers: int | None = None, resume_failed: bool = False) -> AppRecord:
        """Register an application (its code checked first); see :meth:`Applications.create`."""
        return self.apps.create(name, code, image, vcpus, memory_mb, function_workers, resume_failed)

    def get_application(self, name: str) -> AppRecord:
        return self.apps.get(name)

    def applications(self) -> list[AppRecord]:
        return self.registry.apps()

    def credentials(self, name: str) -> dict[str, Any]:
        """How the application's clients authenticate on the data plane; see :meth:`Applications.credentials`."""
        return self.apps.credentials(name)

    def delete_application(self, name: str) -> None:
        """Delete an application; refused while it has processes that are not closed."""
        self.get_application(name)
        with self.sessions.lock:
            recs = self.registry.processes(name)
            procs = [p.name for p in recs if p.status != Status.CLOSED]
            if procs:
                raise InvalidState(f"application {name!r} still has processes: {', '.join(procs)}")
            self.registry.delete_app(name)
        for rec in recs:  # closed processes: nothing of theirs stays in the store
            self.store.delete(name, rec.name)

    # ================================================================ processes
    def get_process(self, app: str, name: str) -> ProcRecord:
        self.get_application(app)
        validate_name(name, "process name")
        rec = self.registry.get_process(app, name)
        if rec is None:
            raise ProcessNotFound(f"process {name!r} does not exist in application {app!r}")
        return rec

    def processes(self, app: str | None = None) -> list[ProcRecord]:
        """The processes of ``app`` (of every application when ``None``)."""
        if app is not None:
            self.get_application(app)
        return self.registry.processes(app)

    def describe(self, rec: ProcRecord) -> dict[str, Any]:
        """JSON view of a process (the ``ProcessModel`` of the REST API), with metrics when it runs."""
        session = self.sessions.get(rec.app, rec.name)
        out: dict[str, Any] = {
            "app": rec.app, "name": rec.name, "status": rec.status.value, "vcpus": rec.vcpus,
            "memory_mb": rec.memory_mb, "pooled": rec.pooled, "created": rec.created, "updated": rec.updated,
            "address": rec.address if rec.status == Status.ALLOCATED else None,
            "public_key": rec.public_key if rec.status == Status.ALLOCATED else None,
            "max_payload": self.cfg.max_payload, "snapshots": self.registry.snapshots(rec.app, rec.name),
            "error": rec.error, "log_tail": rec.log,
        }
        if session is not None and rec.status in LIVE:
            if session.restored[0] is not None:
                out["restored_bytes"], out["restore_seconds"] = session.restored
            if session.metrics:
                m = session.metrics
                out["metrics"] = {"invocations": m.get("inv", 0), "busy_seconds": m.get("busy", 0.0),
                                  "last_activity": session.last_activity(), "inflight": m.get("inflight", 0),
                                  "rss_bytes": m.get("rss", 0)}
        return out

    def create_process(self, app: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                       pooled: bool = False) -> ProcRecord:
        """Start a process and wait until it is ``ALLOCATED``."""
        arec = self.get_application(app)
        validate_name(name, "process name")
        v, m = self.apps.check_resources(arec.vcpus if vcpus is None else vcpus,
                                         arec.memory_mb if memory_mb is None else memory_mb)
        with self._ops[(app, name)]:
            with self.sessions.lock:
                old = self.registry.get_process(app, name)
                if old is not None and old.status != Status.CLOSED:
                    raise ProcessExists(f"process {name!r} already exists in application {app!r} "
                                        f"({old.status.value})")
                rec = ProcRecord(app, name, Status.ALLOCATING, v, m, pooled, created=time.time())
                self.registry.put_process(rec)
            return self._launch(arec, rec, snapshot=None)

    def _launch(self, arec: AppRecord, rec: ProcRecord, snapshot: str | None) -> ProcRecord:
        """Start a runtime for ``rec`` (ALLOCATING or SWAPPING_IN) and wait for it to connect."""
        session = Session(rec.app, rec.name, incarnation=uuid.uuid4().hex[:12], secret=secrets.token_hex(16))
        keys = KeyPair.new() if self.keys is not None else None
        private: dict[str, Any] = {"secret": session.secret,
                                   "snapshot_key": self.apps.snapshot_key(rec.app, rec.name).hex()}
        if keys is not None and self.keys is not None:
            private.update(keys=keys.to_json(), control_key=self.keys.public,
                           client_key=self.credentials(rec.app)["public_key"])
        config = ProcessConfig(
            app=rec.app, proc=rec.name,
            control=f"tcp://{self.backend.control_host}:{self.endpoint.port}", workers=arec.workers,
            max_payload=self.cfg.max_payload, swapin=snapshot, metrics_interval=self.cfg.metrics_interval,
            drain_timeout=self.cfg.drain_timeout, invoke_timeout=self.cfg.invoke_timeout,
            mailbox_messages=self.cfg.mailbox_messages,
            mailbox_bytes=self.cfg.mailbox_bytes or (rec.memory_mb << 20) // 4,
            queue_bytes=(rec.memory_mb << 20) // 4)
        self.sessions.add(session)
        spec = ProcessSpec(rec.app, rec.name, session.incarnation, rec.vcpus, rec.memory_mb, config,
                           code=arec.code, image=arec.image, store=self.store, secrets=private)
        try:
            incarnation = session.incarnation
            handle = self.backend.start(spec, lambda code: self.exits.on_exit(rec.app, rec.name, incarnation, code))
        except PraasError as exc:
            self._transition(rec.app, rec.name, Event.DIED, error=str(exc))
            raise
        with self.sessions.lock:
            cur = self.registry.get_process(rec.app, rec.name)
            if cur is not None:
                cur.handle, cur.incarnation = handle, session.incarnation
                cur.public_key = keys.public if keys is not None else None
                self.registry.put_process(cur)
        try:
            address = session.connected.result(timeout=self.cfg.create_timeout)
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
        try:
            address = self.backend.public_address(handle, address)
            self.held.flush(session)
            cur = self._transition(rec.app, rec.name, Event.ALLOCATED, address=address, error=None, log=None)
        except BaseException as exc:  # a way out of ALLOCATING/SWAPPING_IN whatever went wrong
            self.backend.kill(handle)
            with self.sessions.lock:
                self.sessions.drop(rec.app, rec.name)
                self._transition(rec.app, rec.name, Event.DIED, error=f"start failed: {exc}", address=None)
            raise
        self.world.push(rec.app)
        return cur

    def _transition(self, app: str, name: str, event: Event, **updates: Any) -> ProcRecord:
        with self.sessions.lock:
            rec = self.registry.get_process(app, name)
            if rec is None:
                raise ProcessNotFound(f"process {name!r} does not exist in application {app!r}")
            rec.status = transition(rec.status, event)
            for k, v in updates.items():
                setattr(rec, k, v)
            self.registry.put_process(rec)
            return rec

    def _accepts_messages(self, app: str, name: str) -> bool:
        rec = self.registry.get_process(app, name)
        return rec is not None and rec.status != Status.CLOSED

    def _is_running(self, app: str, name: str) -> bool:
        rec = self.registry.get_process(app, name)
        return rec is not None and rec.status == Status.ALLOCATED

    def swap(self, app: str, name: str, idle: float | None = None) -> dict[str, Any]:
        """Swap a process out: drain, snapshot (manifest last), exit. Returns ``{bytes, seconds, snapshot}``.

        With ``idle`` (used by the downscaler) the process refuses unless it has been idle that long.
        """
        self.get_process(app, name)
        with self._ops[(app, name)]:
            t0 = time.perf_counter()
            rec = self._transition(app, name, Event.SWAP)
            session = self.sessions.get(app, name)
            self.world.push(app)
            if session is None or session.ident is None:  # cannot happen for ALLOCATED; be safe
                self._transition(app, name, Event.SWAP_ABORTED)
                raise InvalidState(f"process {name!r} is not connected")
            snapshot = new_snapshot_id()
            fields: dict[str, Any] = {"snapshot": snapshot} | ({"idle": idle} if idle is not None else {})
            fut = self.endpoint.ask(session, "swap", "rid", **fields)
            try:
                reply = fut.result(timeout=self.cfg.swap_timeout)
            except FutureTimeout:
                self.backend.kill(rec.handle)
                collect_leftovers(self.store, self.registry, app, name)
                raise Timeout(f"swap-out of {name!r} timed out after {self.cfg.swap_timeout} s; "
                              "the process was killed and its previous snapshot kept") from None
            except ProcessDied as exc:
                collect_leftovers(self.store, self.registry, app, name)
                raise ProcessDied(f"process {name!r} died during swap-out ({exc.message}); "
                                  "its previous snapshot is kept") from None
            if not reply.get("ok"):
                self._transition(app, name, Event.SWAP_ABORTED)
                self.world.push(app)
                collect_leftovers(self.store, self.registry, app, name)
                raise from_dict(reply.get("err"))
            session.swap_confirmed = True
            self.registry.add_snapshot(app, name, snapshot, int(reply.get("bytes", 0)), float(reply.get("seconds", 0)))
            self.backend.stop(rec.handle)
            self.sessions.drop(app, name)
            self._transition(app, name, Event.SWAP_DONE, address=None)
            self.world.push(app)
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
                collect_leftovers(self.store, self.registry, app, name)  # what an interrupted swap-out left behind
                snapshot = self.restorable_snapshot(app, name)
            except PraasError as exc:
                self._transition(app, name, Event.DIED, error=f"swap-in failed: {exc.message}")
                raise
            if snapshot is None:
                log.warning("process %s/%s has no snapshot; it starts empty", app, name)
            return self._launch(arec, rec, snapshot)

    def restorable_snapshot(self, app: str, name: str) -> str | None:
        """The snapshot a swap-in of ``name`` restores (:func:`praas_kit.control.snapshots.restorable`)."""
        return restorable(self.store, self.registry, self.apps.snapshot_key(app, name), app, name)

    def stop(self, app: str, name: str) -> ProcRecord:
        """Stop a running process; its state is discarded."""
        self.get_process(app, name)
        with self._ops[(app, name)]:
            rec = self._transition(app, name, Event.STOP)
            self.world.push(app)
            session = self.sessions.get(app, name)
            if session is not None and session.ident is not None:
                try:
                    self.endpoint.ask(session, "stop", "rid").result(timeout=5)
                except (FutureTimeout, PraasError):
                    pass
            self.backend.stop(rec.handle, grace=5)
            with self.sessions.lock:
                self.sessions.drop(app, name)
                cur = self.registry.get_process(app, name)
                if cur is not None and cur.status == Status.CLOSING:
                    cur = self._transition(app, name, Event.CLOSED, address=None)
            for snap in self.registry.snapshots(app, name):  # stopping discards the state, swapped copies too
                self.registry.drop_snapshot(app, name, snap["snapshot"])
            self.held.forget(app, name)  # and what was sent to it: nothing reaches a later namesake
            self.store.delete(app, name)
            self.world.push(app)
            return cur or rec

    def delete_process(self, app: str, name: str) -> None:
        """Delete a process and its snapshots; a running one is stopped first."""
        rec = self.get_process(app, name)
        if rec.status == Status.ALLOCATED:
            self.stop(app, name)
        with self._ops[(app, name)]:
            with self.sessions.lock:
                rec = self.get_process(app, name)
                if rec.status not in DELETABLE:
                    raise InvalidState(f"cannot delete process {name!r} while it is {rec.status.value}")
                self.registry.delete_process(app, name)
                self.held.forget(app, name)
                self.sessions.drop(app, name)
            self.store.delete(app, name)
        self.world.push(app)

    def kill(self, app: str, name: str) -> None:
        """SIGKILL a process's runtime (fault injection for tests and teaching)."""
        rec = self.get_process(app, name)
        self.backend.kill(rec.handle)

    # ================================================================ invocation (see pool.py)
    def invoke(self, app: str, fn: str, payload: bytes, process: str | None = None,
               timeout: float | None = None) -> InvokeResult:
        """Run ``fn`` through the control plane (blocking); see :meth:`Invoker.invoke`."""
        return self.invoker.invoke(app, fn, payload, process, timeout)

    def submit(self, app: str, fn: str, payload: bytes, process: str | None = None, timeout: float | None = None,
               wait_ready: bool = True) -> PendingCall | None:
        """Send an invocation without waiting for its result; see :meth:`Invoker.submit`."""
        return self.invoker.submit(app, fn, payload, process, timeout, wait_ready)

    # ================================================================ exits and the world
    def _idle_candidates(self) -> Iterator[Candidate]:
        for rec in self.registry.processes():
            session = self.sessions.get(rec.app, rec.name)
            if rec.status == Status.ALLOCATED and session is not None and session.metrics:
                yield rec.app, rec.name, session.last_activity(), session.busy()

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
        if self.downscaler is not None:
            self.downscaler.close()
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
        self.exits.close()  # no exit handler may touch the registry once it is closed
        self.endpoint.close()
        self.store.close()
        self.registry.close()
        self._home_lock.release()


__all__ = ["Controller", "InvokeResult"]
