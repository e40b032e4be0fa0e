"""Running a control plane: uvicorn in the foreground or in a background thread, plus the discovery
files (:mod:`praas_kit.home`) that tell clients where it is.

Start-up order: the HTTP port is bound first, then the controller takes the home (its lock) and opens the
registry, and only then does the control plane announce itself in ``endpoint.json``. So a second server
on a busy port or on a home another one serves stops with one error and changes nothing: it neither marks
the running server's processes failed nor overwrites its discovery file.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from praas_kit._net import free_port
from praas_kit.control.api import create_app
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.controller import Controller
from praas_kit.control.gateway import Gateway
from praas_kit.control.shutdown import swap_out_all
from praas_kit.errors import BackendError
from praas_kit.home import TOKEN_FILE, load_or_create_token, lock_home, write_endpoint

log = logging.getLogger("praas_kit.control.server")


def _bind(host: str, port: int) -> socket.socket:
    """The HTTP listening socket, bound now (before anything else starts); :class:`BackendError` if the port
    is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
        sock.listen(2048)  # listening: no other socket may take the port now (SO_REUSEADDR allows that until then)
    except OSError as exc:
        sock.close()
        raise BackendError(f"cannot listen on {host}:{port}: {exc.strerror} (another server on this port? choose "
                           "another with --port)") from None
    return sock


class ControlPlane:
    """A controller plus its HTTP server. Use :meth:`serve_forever` or :meth:`start` / :meth:`close`."""

    def __init__(self, cfg: ControlPlaneConfig, console: bool = False) -> None:
        """``console``: log every request (uvicorn's access log) and every error reply, for ``praas serve``."""
        self.cfg = cfg
        home_lock = lock_home(cfg.home)  # first: a second server on this home says which one holds it
        try:
            port = cfg.port or free_port(cfg.host)
            self._sock = _bind(cfg.host, port)
        except BaseException:
            home_lock.release()
            raise
        try:
            # without a token file (embedded deployments), the token lives in memory only: nothing on disk that
            # a process running as the same user could read
            self.token = load_or_create_token(cfg.home, cfg.token, cfg.token_owner) if cfg.token_file \
                else cfg.token or secrets.token_urlsafe(24)
            self.controller = Controller(cfg, home_lock=home_lock)
        except BaseException:
            home_lock.release()
            self._sock.close()
            raise
        try:
            self.gateway = self._open_gateway()
        except BaseException:
            self.controller.close()
            self._sock.close()
            raise
        self.app = create_app(self.controller, self.token, self.gateway)
        self.url = f"http://{'127.0.0.1' if cfg.host in ('0.0.0.0', '') else cfg.host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.host, port=port, lifespan="off",
                                                     log_level="info" if console else "warning", access_log=console))
        self._thread: threading.Thread | None = None

    def _open_gateway(self) -> Gateway | None:
        """The invocation gateway on the REST API's interface (``gateway_port=-1``: none)."""
        if self.cfg.gateway_port < 0:
            return None
        c = self.controller
        host = self.cfg.host or "0.0.0.0"
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:  # a host name: ZeroMQ binds to addresses
            host = socket.gethostbyname(host)
        return Gateway(c.invoker, c.endpoint, self.token, host, self.cfg.gateway_port,
                       c.max_payload, curve_secret=c.keys.secret.encode() if c.keys else None,
                       public_key=c.keys.public if c.keys else None)

    def _close_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.close()

    def serve_forever(self, swap_out: bool = True, report: Callable[[str], None] = log.info) -> None:
        """Serve in this thread until SIGINT or SIGTERM. Then, with ``swap_out``, swap out every running process
        first (:func:`~praas_kit.control.shutdown.swap_out_all`, ``report`` gets its progress), so that a restart
        brings them back with their state; without it, stop them (their state is discarded)."""
        write_endpoint(self.cfg.home, self.url)  # the port is bound and the home is ours
        log.info("control plane at %s (token in %s)", self.url, self.cfg.home / TOKEN_FILE)
        stops: list[int] = []

        def on_signal(sig: int, frame: Any) -> None:  # uvicorn hands the signal on here once it has stopped
            if stops:
                raise KeyboardInterrupt  # a second one while processes are swapped out: stop at once
            stops.append(sig)

        main = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            self._server.run(sockets=[self._sock])
            if swap_out:
                swap_out_all(self.controller, report)
        finally:
            self._close_gateway()
            self.controller.close(stop_processes=not swap_out)
            self._sock.close()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def start(self, timeout: float = 20.0) -> ControlPlane:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="praas-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._close_gateway()
                self.controller.close()
                self._sock.close()
                raise BackendError(f"the control plane's HTTP server did not start on {self.url}")
            time.sleep(0.01)
        write_endpoint(self.cfg.home, self.url)
        return self

    def close(self) -> None:
        """Stop the HTTP server, every process and the process endpoint."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._close_gateway()
        self.controller.close()
        self._sock.close()
