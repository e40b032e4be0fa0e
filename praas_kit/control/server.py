"""Running a control plane: uvicorn in the foreground or in a background thread, plus the discovery
files (:mod:`praas_kit.home`) that tell clients where it is."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading
import time

import uvicorn

from praas_kit._net import free_port
from praas_kit.control.api import create_app
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.controller import Controller
from praas_kit.control.gateway import Gateway
from praas_kit.errors import BackendError
from praas_kit.home import TOKEN_FILE, load_or_create_token, write_endpoint

log = logging.getLogger("praas_kit.control.server")


class ControlPlane:
    """A controller plus its HTTP server. Use :meth:`serve_forever` or :meth:`start` / :meth:`close`."""

    def __init__(self, cfg: ControlPlaneConfig) -> None:
        self.cfg = cfg
        # without a token file (embedded deployments), the token lives in memory only: nothing on disk that a
        # process running as the same user could read
        self.token = load_or_create_token(cfg.home, cfg.token, cfg.token_owner) if cfg.token_file \
            else cfg.token or secrets.token_urlsafe(24)
        self.controller = Controller(cfg)
        try:
            self.gateway = self._open_gateway()
        except BaseException:
            self.controller.close()
            raise
        self.app = create_app(self.controller, self.token, self.gateway)
        port = cfg.port or free_port(cfg.host)
        self.url = f"http://{'127.0.0.1' if cfg.host in ('0.0.0.0', '') else cfg.host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.host, port=port, log_level="warning",
                                                     access_log=False, lifespan="off"))
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

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted; then stop every process."""
        write_endpoint(self.cfg.home, self.url)
        log.info("control plane at %s (token in %s)", self.url, self.cfg.home / TOKEN_FILE)
        try:
            self._server.run()
        finally:
            self._close_gateway()
            self.controller.close()

    def start(self, timeout: float = 20.0) -> ControlPlane:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name="praas-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._close_gateway()
                self.controller.close()
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
