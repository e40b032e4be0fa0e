"""The ``context`` object a function receives: state, channels, invocations and the world."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praas_kit.errors import InvalidState, ProcessNotFound, RecvTimeout, Timeout
from praas_kit.function import Invocation
from praas_kit.limits import check_timeout
from praas_kit.names import ANY, SELF
from praas_kit.payload import encode_payload

if TYPE_CHECKING:
    from praas_kit.process.runtime import ProcessRuntime

_ids = itertools.count(1)


class Context:
    """What a function can do inside its process. One context per process, shared by all workers."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self._rt = runtime

    @property
    def process_id(self) -> str:
        """This process's name."""
        return self._rt.proc

    @property
    def app(self) -> str:
        """The application's name."""
        return self._rt.app

    @property
    def state_dir(self) -> Path:
        """Files here are persisted by swap, like state objects."""
        return self._rt.state_dir

    def state(self, key: str, data: Any = None) -> bytes | None:
        """``state(key, data)`` writes (overwrites); ``state(key)`` reads (``None`` if absent)."""
        if data is None:
            return self._rt.state.get(key)
        self._rt.state.put(key, encode_payload(data))
        return None

    def state_keys(self) -> list[tuple[str, float]]:
        """``[(key, modified_unix_seconds)]``."""
        return self._rt.state.keys()

    def state_delete(self, key: str) -> bool:
        """Remove a state object; whether it existed."""
        return self._rt.state.delete(key)

    def _resolve(self, pid: str, allow_any: bool = False) -> str:
        if pid == SELF or pid == self._rt.proc:
            return self._rt.proc
        if allow_any and pid == ANY:
            return ANY
        if pid not in self._rt.world and not self._rt.wait_for_peer(pid, 2.0):
            raise ProcessNotFound(f"process {pid!r} is not in application {self._rt.app!r}")
        return pid

    def send(self, pid: str, key: str, data: Any) -> None:
        """Send a message to ``pid`` (or ``SELF``). Non-blocking; FIFO per (source, destination, key).

        A message to a swapped-out process is kept by the control plane and delivered after swap-in.
        """
        dst = self._resolve(pid)
        self._rt.send(dst, str(key), encode_payload(data))

    def recv(self, pid: str, key: str, timeout: float | None = None) -> bytes:
        """Consume one message from ``pid``, ``SELF`` or ``ANY`` with ``key``; raises ``RecvTimeout``
        (and :class:`~praas_kit.errors.InvalidState` if the process stops while waiting)."""
        wait = check_timeout(timeout, "recv", zero_ok=True, clamp=True)
        src = self._resolve(pid, allow_any=True) if pid != ANY else ANY
        key = str(key)
        take = self._rt.mailbox.take
        got = self._rt.pool.wait_for(lambda: take(src, key), None if wait is None else time.monotonic() + wait)
        if got is None:
            if self._rt.pool.stopped:
                raise InvalidState(f"process {self._rt.proc!r} is stopping")
            raise RecvTimeout(f"recv from {pid!r} with key {key!r} timed out after {timeout} s")
        return bytes(got)

    def invoke(self, pid: str, function: str, data: Any = b"", timeout: float | None = None) -> bytes:
        """Run ``function`` in ``pid`` or ``SELF`` and return its result bytes.

        ``SELF`` runs in the calling worker, so nested invocation never deadlocks, even with one
        worker. Raises :class:`~praas_kit.errors.InvocationError` if the function fails and
        :class:`~praas_kit.errors.Timeout` if no result arrives in time.
        """
        dst = self._resolve(pid)
        payload = encode_payload(data)
        inv_id = f"{os.getpid()}-{next(_ids)}"
        if dst == self._rt.proc:
            return bytes(self._rt.run_inline(Invocation(function, inv_id, payload)))
        t = check_timeout(timeout if timeout is not None else self._rt.invoke_timeout, "invoke", clamp=True)
        fut = self._rt.invoke_peer(dst, function, inv_id, payload)
        deadline = None if t is None else time.monotonic() + t
        if self._rt.pool.wait_for(lambda: True if fut.done() else None, deadline) is None:
            self._rt.cancel_peer_invocation(inv_id)
            if self._rt.pool.stopped:
                raise InvalidState(f"process {self._rt.proc!r} is stopping")
            raise Timeout(f"invoke of {function!r} in {dst!r} timed out after {t} s")
        return fut.result()

    def processes(self) -> list[dict[str, Any]]:
        """The application's world: ``[{"name", "status", "address"}]`` (this process included)."""
        return [{"name": n, **info} for n, info in sorted(self._rt.world.items())]

    def now(self) -> float:
        """Wall-clock time (seconds), for functions that time themselves."""
        return time.time()
