"""Running a control plane: token handling, uvicorn in the foreground or in a background thread."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

import uvicorn

from praas_kit.control.api import create_app
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.controller import Controller
from praas_kit.errors import BackendError
from praas_kit.services._util import free_port

log = logging.getLogger("praas_kit.control.server")


def load_or_create_token(home: Path, token: str | None = None) -> str:
    """The control plane's token: ``token`` if given, else ``home/token`` (created 0600 if absent)."""
    path = home / "token"
    if token:
        return token
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    tok = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(tok)
    owner = os.environ.get("PRAAS_TOKEN_OWNER")  # e.g. the lab user of a compose deployment: "10001[:gid]"
    if owner:
        uid, _, gid = owner.partition(":")
        os.chown(path, int(uid), int(gid or uid))
    return tok


def write_endpoint(home: Path, url: str) -> None:
    """Record where this control plane listens (``home/endpoint.json``), for the SDK and CLI."""
    (home / "endpoint.json").write_text(json.dumps({"url": url, "pid": os.getpid()}))


class ControlPlane:
    """A controller plus its HTTP server. Use :meth:`serve_forever` or :meth:`start` / :meth:`close`."""

    def __init__(self, cfg: ControlPlaneConfig) -> None:
        self.cfg = cfg
        self.token = load_or_create_token(cfg.home, cfg.token)
        self.controller = Controller(cfg)
        self.app = create_app(self.controller, self.token)
        port = cfg.port or free_port(cfg.host)
        self.url = f"http://{'127.0.0.1' if cfg.host in ('0.0.0.0', '') else cfg.host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.host, port=port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted; then stop every process."""
        write_endpoint(self.cfg.home, self.url)
        log.info("control plane at %s (token in %s)", self.url, self.cfg.home / "token")
        try:
            self._server.run()
        finally:
            self.controller.close()

    def start(self, timeout: float = 20.0) -> ControlPlane:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name="praas-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
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
        self.controller.close()
