"""The invocation gateway: ``POST /apps/{app}/invoke/{function}`` over ZeroMQ instead of HTTP.

The REST route costs a client an HTTP request through uvicorn and FastAPI, and the control plane a hop
from its event loop to the socket thread that talks to processes and back. The gateway is a ROUTER
socket served by that same socket thread (:meth:`~praas_kit.control.transport.RouterThread.listen`): a
call that arrives is routed (:meth:`~praas_kit.control.pool.Invoker.submit`) and forwarded to its
process on the spot, and the process's result goes back to the client from the same thread; the payload
is never re-encoded. Semantics are the REST route's: sticky with ``proc``, else an idle pooled process
(FaaS style); a process that must first be swapped in or created is handled on a small thread pool, so
the socket thread never blocks.

Frames (see :mod:`praas_kit.wire`): a client sends ``[call header, payload]`` with the header fields

==========  ==============================================================================
``id``      the client's id for the call (echoed in the reply)
``app``     application name
``fn``      function name
``tok``     the control plane's token (the same as the REST API's bearer token)
``proc``    optional: the process (sticky routing)
``timeout`` optional: seconds (the REST route's ``?timeout=``)
==========  ==============================================================================

and receives ``[res header, result]``: ``{"t": "res", "id", "ok", "ct", "proc", "inv"}`` (``proc`` ran
it, ``inv`` is the control plane's invocation id), or ``ok=false`` with ``err``, a typed error.

With CurveZMQ on the data plane the gateway is a CurveZMQ server with the control plane's keys (clients
learn the public key from ``GET /gateway``); any client key may connect, and every call must carry the
token.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from praas_kit import wire
from praas_kit.control.endpoint import ProcessEndpoint
from praas_kit.control.pool import Invoker, PendingCall
from praas_kit.errors import BadRequest, PraasError, Unauthorized

log = logging.getLogger("praas_kit.control.gateway")

SWEEP_INTERVAL = 0.1  #: how often deadlines of calls in flight are checked (seconds)
SLOW_PATH_THREADS = 16  #: calls waiting for a swap-in or a new pooled process at once
CLIENT_HWM = 10_000  #: messages queued per client and direction (a flood is slowed by TCP, not buffered)


class Gateway:
    """The ZeroMQ twin of the REST invoke route (see the module docstring)."""

    def __init__(self, invoker: Invoker, endpoint: ProcessEndpoint, token: str, bind: str, port: int = 0,
                 max_payload: int = 1 << 30, curve_secret: bytes | None = None,
                 public_key: str | None = None) -> None:
        if not token.strip():
            raise Unauthorized("refusing to serve the gateway with an empty token: authentication would be off")
        self.invoker, self._token = invoker, token.encode()
        self.public_key, self.max_payload = public_key, max_payload
        self._calls: dict[tuple[bytes, str], tuple[str, PendingCall]] = {}
        self._lock = threading.Lock()
        self._slow = ThreadPoolExecutor(SLOW_PATH_THREADS, thread_name_prefix="praas-gateway")
        self.listener = endpoint.transport.listen(bind, self._on_frame, port, max_payload + (1 << 20), curve_secret,
                                                  "invocation gateway", hwm=CLIENT_HWM)
        self.port = self.listener.port
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="praas-gateway-deadlines", daemon=True)
        self._sweeper.start()

    def describe(self) -> dict[str, Any]:
        """What ``GET /gateway`` tells clients: the port, the CurveZMQ server key, the payload limit."""
        return {"port": self.port, "public_key": self.public_key, "max_payload": self.max_payload}

    # ---------------------------------------------------------------- socket thread
    def _on_frame(self, ident: bytes, hdr: dict[str, Any], payload: Any) -> None:
        cid = str(hdr.get("id", ""))
        if hdr["t"] != "call":
            return self._reply_error(ident, cid, BadRequest(f"the gateway takes 'call' frames, not {hdr['t']!r}"))
        tok = hdr.get("tok")
        if not isinstance(tok, str) or not tok or not secrets.compare_digest(tok.encode(), self._token):
            return self._reply_error(ident, cid, Unauthorized("wrong token"))
        proc, timeout = hdr.get("proc"), hdr.get("timeout")
        try:
            if proc is not None and not isinstance(proc, str):
                raise BadRequest("'proc' must be a process name")
            call = self.invoker.submit(hdr["app"], hdr["fn"], payload.bytes, proc, timeout, wait_ready=False)
        except PraasError as exc:
            return self._reply_error(ident, cid, exc)
        if call is None:  # a swap-in or a new pooled process first: not on this thread
            self._slow.submit(self._submit_slow, ident, cid, hdr["app"], hdr["fn"], payload.bytes, proc, timeout)
        else:
            self._track(ident, cid, call)

    # ---------------------------------------------------------------- any thread
    def _submit_slow(self, ident: bytes, cid: str, app: str, fn: str, body: bytes, proc: str | None,
                     timeout: Any) -> None:
        try:
            call = self.invoker.submit(app, fn, body, proc, timeout, wait_ready=True)
        except PraasError as exc:
            return self._reply_error(ident, cid, exc)
        except Exception as exc:  # never leave a client waiting without an answer
            log.exception("routing a gateway call")
            return self._reply_error(ident, cid, PraasError(f"internal error: {exc}"))
        assert call is not None
        self._track(ident, cid, call)

    def _track(self, ident: bytes, cid: str, call: PendingCall) -> None:
        key = (ident, call.id)
        with self._lock:
            self._calls[key] = (cid, call)
        call.future.add_done_callback(lambda _f: self._finish(key))

    def _finish(self, key: tuple[bytes, str], timed_out: bool = False) -> None:
        """Answer the client once (whoever comes first: the result or the deadline) and release the call."""
        with self._lock:
            entry = self._calls.pop(key, None)
        if entry is None:
            return
        cid, call = entry
        call.done()
        fut: Future[tuple[str, bytes]] = call.future
        if timed_out and not fut.done():
            return self._reply_error(key[0], cid, call.timed_out())
        exc = fut.exception()
        if exc is not None:
            err = exc if isinstance(exc, PraasError) else PraasError(str(exc))
            return self._reply_error(key[0], cid, err)
        ct, out = fut.result()
        self.listener.send(key[0], [wire.header("res", id=cid, ok=True, ct=ct, proc=call.process, inv=call.id), out])

    def _reply_error(self, ident: bytes, cid: str, exc: PraasError) -> None:
        self.listener.send(ident, [wire.header("res", id=cid, ok=False, err=exc.to_dict()), b""])

    def _sweep(self) -> None:
        while not self._closed.wait(SWEEP_INTERVAL):
            now = time.monotonic()
            with self._lock:
                late = [k for k, (_, call) in self._calls.items() if call.deadline <= now]
            for key in late:
                self._finish(key, timed_out=True)

    def close(self) -> None:
        """Stop the deadline sweeper and the slow-path pool (the socket closes with its thread)."""
        self._closed.set()
        self._slow.shutdown(wait=False, cancel_futures=True)
        self._sweeper.join(2)


__all__ = ["Gateway"]
