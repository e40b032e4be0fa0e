"""Invocations through the control plane: sticky (``?process=``) and FaaS-style (pooled processes).

Sticky routing waits until the named process is ALLOCATED, swapping it in first if it is swapped out
or failed. FaaS routing takes an idle pooled process of the application, else swaps a pooled one in,
else creates ``pool-<n>``. Each call is counted against its process (``cp_inflight``) until
:meth:`PendingCall.done`, so the downscaler never swaps a process with a call in flight and pooled
processes run one call at a time. A process invoking a peer that is not running (``cinv``) is relayed
here too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from praas_kit import wire
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.endpoint import ProcessEndpoint
from praas_kit.control.registry import ProcRecord, Registry
from praas_kit.control.sessions import Session, Sessions
from praas_kit.errors import (
    BadRequest,
    InvalidState,
    Overloaded,
    PraasError,
    ProcessFailed,
    Timeout,
)
from praas_kit.lifecycle import RESUMABLE, Status
from praas_kit.limits import check_payload, check_timeout
from praas_kit.names import validate_function_name, validate_name

log = logging.getLogger("praas_kit.control")

MAX_RELAYED = 64  #: calls one process may have relayed through the control plane at once


class Lifecycle(Protocol):
    """The controller operations routing needs."""

    def get_application(self, name: str) -> Any: ...
    def get_process(self, app: str, name: str) -> ProcRecord: ...
    def swapin(self, app: str, name: str) -> ProcRecord: ...
    def restorable_snapshot(self, app: str, name: str) -> str | None: ...
    def create_process(self, app: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                       pooled: bool = False) -> ProcRecord: ...


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

    sessions: Sessions
    session: Session
    id: str
    function: str
    process: str
    future: Future[tuple[str, bytes]]
    deadline: float
    timeout: float

    def done(self) -> None:
        """Release the call's bookkeeping (always call it, also after an error)."""
        with self.sessions.lock:
            self.session.pending.pop(self.id, None)
            self.session.cp_inflight -= 1
            self.session.cp_last = time.time()

    def timed_out(self) -> Timeout:
        """The error for a call whose deadline passed."""
        return Timeout(f"invocation of {self.function!r} in {self.process!r} timed out after {self.timeout} s")


class Invoker:
    """Routes invocations through the control plane; relays ``cinv`` frames from processes."""

    def __init__(self, cfg: ControlPlaneConfig, registry: Registry, sessions: Sessions, endpoint: ProcessEndpoint,
                 lifecycle: Lifecycle) -> None:
        self.cfg, self.registry, self.sessions, self.endpoint = cfg, registry, sessions, endpoint
        self.lifecycle = lifecycle
        self._pool_lock = threading.Lock()
        self._relaying: dict[bytes, int] = defaultdict(int)  # relayed calls in flight, per calling process
        self._relay_lock = threading.Lock()
        endpoint.on("cinv", self._on_cinv)

    def invoke(self, app: str, fn: str, payload: bytes, process: str | None = None,
               timeout: float | None = None) -> InvokeResult:
        """Run ``fn`` through the control plane: sticky with ``process`` (swapping it in if needed),
        otherwise on an idle pooled process (created when all are busy). Blocks until the result."""
        call = self.submit(app, fn, payload, process, timeout, wait_ready=True)
        assert call is not None
        try:
            ct, out = call.future.result(timeout=max(0.0, call.deadline - time.monotonic()))
        except FutureTimeout:
            raise call.timed_out() from None
        finally:
            call.done()
        return InvokeResult(out, ct, call.process, call.id)

    def submit(self, app: str, fn: str, payload: bytes, process: str | None = None, timeout: float | None = None,
               wait_ready: bool = True) -> PendingCall | None:
        """Send an invocation and return at once with its :class:`PendingCall` (call ``done()`` after).

        With ``wait_ready=False`` this never blocks: it returns ``None`` when the target would first
        have to be swapped in or created, or when no pooled process is idle (the caller then uses a thread
        and ``wait_ready=True``).
        """
        self.lifecycle.get_application(app)
        validate_function_name(fn)
        timeout = check_timeout(timeout, "invocation", error=BadRequest, detail="nothing was run")
        check_payload(len(payload), self.cfg.max_payload)
        timeout = self.cfg.invoke_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not wait_ready:
            found = self._claim_idle(app) if process is None else process if self._claim(app, process) else None
            if found is None:
                return None
            name = found
        elif process is not None:
            name = self._ready(app, process, deadline)
        else:
            name = self._pick_pooled(app, deadline)
        with self.sessions.lock:
            session = self.sessions.get(app, name)
            if session is None or session.ident is None:
                raise InvalidState(f"process {name!r} is not running")
            inv_id = uuid.uuid4().hex[:16]
            fut: Future[tuple[str, bytes]] = Future()
            session.pending[inv_id] = fut
            session.cp_last = time.time()
        self.endpoint.send(session, [wire.invoke_header(inv_id, fn), payload])
        return PendingCall(self.sessions, session, inv_id, fn, name, fut, deadline, timeout)

    def _claim(self, app: str, name: str) -> bool:
        """Count an invocation against ``name`` if it is ALLOCATED and connected."""
        validate_name(name, "process name")
        rec = self.lifecycle.get_process(app, name)
        with self.sessions.lock:
            session = self.sessions.get(app, name)
            if rec.status == Status.ALLOCATED and session is not None and session.ident is not None:
                session.cp_inflight += 1
                return True
        return False

    def _ready(self, app: str, name: str, deadline: float) -> str:
        """Wait until ``name`` is ALLOCATED, swapping it in if it is swapped out or failed."""
        while True:
            rec = self.lifecycle.get_process(app, name)
            if rec.status == Status.ALLOCATED:
                if self._claim(app, name):
                    return name
            elif rec.status == Status.FAILED and not (self.cfg.resume_failed or self._resumes(app)):
                raise self._failed(app, name, rec.error)
            elif rec.status in RESUMABLE:
                try:
                    self.lifecycle.swapin(app, name)
                except InvalidState:
                    pass  # someone else swapped it in meanwhile
                continue
            elif rec.status == Status.CLOSED:
                raise InvalidState(f"process {name!r} is stopped (CLOSED: its state was discarded); create it "
                                   f"again, or delete it")
            if time.monotonic() > deadline:
                raise Timeout(f"process {name!r} did not become ready (it is {rec.status.value})")
            time.sleep(0.01)

    def _resumes(self, app: str) -> bool:
        """Whether ``app`` opted into resuming its FAILED processes on a call."""
        return bool(self.lifecycle.get_application(app).resume_failed)

    def _failed(self, app: str, name: str, error: str | None) -> ProcessFailed:
        """The error a sticky call to a FAILED process gets: what failed, and what a swap-in would restore (what
        it acknowledged after that snapshot is gone with the runtime)."""
        try:
            snapshot = self.lifecycle.restorable_snapshot(app, name)
            restores = (f"a swap-in would restore its last snapshot, {snapshot}, without what it did after it"
                        if snapshot else "a swap-in would start it empty: it has no snapshot")
        except PraasError as exc:
            restores = f"a swap-in would fail: {exc.message}"
        return ProcessFailed(f"process {name!r} of {app!r} FAILED ({error or 'its runtime ended unexpectedly'}); "
                             f"calls do not resume it: {restores}. Swap it in to go on from there.")

    def _claim_idle(self, app: str) -> str | None:
        """Count an invocation against an idle, connected pooled process of ``app`` (``None``: there is none,
        or another thread is choosing one right now); never blocks."""
        if not self._pool_lock.acquire(blocking=False):
            return None
        try:
            return self._scan_pool(app)[0]
        finally:
            self._pool_lock.release()

    def _scan_pool(self, app: str) -> tuple[str | None, str | None]:
        """With the pool lock held: an idle pooled process, claimed (or ``None``), and a swapped-out one."""
        swapped = None
        for rec in self.registry.processes(app):
            if not rec.pooled:
                continue
            if rec.status == Status.ALLOCATED:
                with self.sessions.lock:
                    session = self.sessions.get(app, rec.name)
                    if session is not None and session.ident is not None and not session.busy():
                        session.cp_inflight += 1
                        return rec.name, swapped
            elif rec.status == Status.SWAPPED_OUT and swapped is None:
                swapped = rec.name
        return None, swapped

    def _pick_pooled(self, app: str, deadline: float) -> str:
        with self._pool_lock:
            idle, swapped = self._scan_pool(app)
            if idle is not None:
                return idle
            if swapped is not None:
                return self._ready(app, swapped, deadline)
            n = 0
            recs = self.registry.processes(app)
            pooled = sum(1 for r in recs if r.pooled and r.status != Status.CLOSED)
            if pooled >= self.cfg.max_pooled:
                raise Overloaded(f"application {app!r} has {pooled} pooled processes, all busy, and may have no "
                                 f"more (max_pooled): retry later")
            names = {r.name for r in recs}
            while f"{self.cfg.pool_prefix}{n}" in names:
                n += 1
            name = f"{self.cfg.pool_prefix}{n}"
            self.lifecycle.create_process(app, name, pooled=True)
            return self._ready(app, name, deadline)

    def _on_cinv(self, sender: Session, hdr: dict[str, Any], payload: Any) -> None:
        """A relayed call runs in a thread of its own (it waits for a swap-in and the result); a process has at
        most :data:`MAX_RELAYED` of them at once, beyond that a call is refused (it cannot exhaust the control
        plane's threads)."""
        assert sender.ident is not None
        with self._relay_lock:
            busy = self._relaying[sender.ident] >= MAX_RELAYED
            if not busy:
                self._relaying[sender.ident] += 1
        if busy:
            err = Overloaded(f"process {sender.name!r} has {MAX_RELAYED} calls relayed through the control plane "
                             "in flight: this one did not run")
            self.endpoint.send_to(sender.ident, [wire.header("res", id=hdr["id"], ok=False, err=err.to_dict()), b""])
            return
        threading.Thread(target=self._relay_cinv, args=(sender.app, sender.ident, hdr, payload.bytes),
                         daemon=True).start()

    def _relay_cinv(self, app: str, sender: bytes, hdr: dict[str, Any], payload: bytes) -> None:
        """A process invokes a peer that is not running: swap it in and relay the call."""
        try:
            res = self.invoke(app, hdr["fn"], payload, process=hdr["dst"])
            reply = [wire.header("res", id=hdr["id"], ok=True, ct=res.content_type), res.payload]
        except PraasError as exc:
            reply = [wire.header("res", id=hdr["id"], ok=False, err=exc.to_dict()), b""]
        finally:
            with self._relay_lock:
                self._relaying[sender] -= 1
                if not self._relaying[sender]:
                    del self._relaying[sender]
        self.endpoint.send_to(sender, reply)


__all__ = ["Invoker", "InvokeResult", "PendingCall", "Lifecycle"]
