"""A throw-away ``redis-server`` for tests, benchmarks and notebooks.

::

    with RedisServer() as srv:
        client = redis.Redis.from_url(srv.url)

The server listens on 127.0.0.1 (a free port unless one is given), keeps nothing on disk
(``--save '' --appendonly no``) and runs in a temporary directory that is removed on exit.
``python -m praas_kit.tools.services.redis_server --port 6379`` runs one in the foreground until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import socket
import tempfile
import time
from pathlib import Path

from praas_kit._net import connect_host, free_port, port_open
from praas_kit.errors import BackendError
from praas_kit.tools.services._util import (
    Child,
    LocalServer,
    find_executable,
    register_live,
    run_foreground,
    stop_children,
)

log = logging.getLogger("praas_kit.tools.services.redis")

__all__ = ["RedisServer", "main"]


def _server_pid(host: str, port: int, timeout: float = 0.5) -> int | None:
    """The ``process_id`` of the Redis server answering on ``host:port`` (None if none answers).

    Speaks raw RESP, so no client library is needed; knowing the pid tells our server from another
    one that already listens on the port.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"INFO server\r\n")
            data = b""
            while b"\r\n" not in data or len(data) < _bulk_end(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode("latin-1").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    return None


def _bulk_end(data: bytes) -> int:
    """Length of a complete RESP bulk-string reply whose header is in ``data``."""
    header, _, _ = data.partition(b"\r\n")
    if not header.startswith(b"$"):
        return len(data)  # an error or another reply type: nothing more to read
    return len(header) + 2 + int(header[1:]) + 2


class RedisServer(LocalServer):
    """A ``redis-server`` child process without persistence, stopped and cleaned up on exit.

    Args:
        port: TCP port; a free one is chosen when ``None``.
        host: address to bind; ``0.0.0.0`` also disables Redis' protected mode so that other
            hosts (containers) can connect.
        startup_timeout: seconds to wait until the server answers.
        extra_args: more ``redis-server`` arguments, e.g. ``["--maxmemory", "1gb"]``.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", *, startup_timeout: float = 10.0,
                 extra_args: tuple[str, ...] | list[str] = ()) -> None:
        self._requested_port = port
        self.bind_host = host
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.port: int = port or 0
        self.tmpdir: Path | None = None
        self._child: Child | None = None

    # -- public properties -------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address clients on this machine use (127.0.0.1 when bound to all interfaces)."""
        return connect_host(self.bind_host)

    @property
    def url(self) -> str:
        """``redis://HOST:PORT/0`` for ``redis.Redis.from_url``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._child.pid if self._child is not None else None

    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._child is not None and self._child.alive()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> RedisServer:
        """Start the server and wait until it answers; cleans up if that fails."""
        if self._child is not None:
            raise BackendError("this RedisServer is already started")
        executable = find_executable("redis-server", "redis-server")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="praas-redis-"))
        register_live(self)
        try:
            attempts = 1 if self._requested_port else 3
            for attempt in range(1, attempts + 1):
                self.port = self._requested_port or free_port(self.bind_host)
                if self._launch(executable):
                    log.info("redis-server ready on %s:%d (pid %d)", self.host, self.port, self.pid)
                    return self
                if attempt < attempts:
                    log.info("redis-server could not start on port %d, trying another port", self.port)
            raise BackendError(f"redis-server lost the race for a free port {attempts} times")
        except BaseException:
            self.stop()
            raise

    def _launch(self, executable: str) -> bool:
        """Start one redis-server; True when it answers, False when the port was taken (retry)."""
        assert self.tmpdir is not None
        argv = [
            executable,
            "--port", str(self.port),
            "--bind", self.bind_host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.tmpdir),
            "--daemonize", "no",
            "--loglevel", "warning",
            *(["--protected-mode", "no"] if self.bind_host in ("0.0.0.0", "") else []),
            *self.extra_args,
        ]
        if self._requested_port and port_open(self.host, self.port):
            raise BackendError(f"port {self.port} on {self.host} is already in use")
        child = Child("redis-server", argv, self.tmpdir / "redis.log", cwd=self.tmpdir)
        self._child = child
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if _server_pid(self.host, self.port) == child.pid:
                return True
            if not child.alive():
                tail = child.log_tail()
                stop_children([child])
                self._child = None
                if "Address already in use" in tail and not self._requested_port:
                    return False
                code = child.popen.returncode
                raise BackendError(f"redis-server exited during startup (code {code}):\n{tail}")
            time.sleep(0.01)
        tail = child.log_tail()
        raise BackendError(
            f"redis-server did not answer on {self.host}:{self.port} "
            f"within {self.startup_timeout} s:\n{tail}"
        )

    def _stop_children(self) -> None:
        if self._child is not None:
            stop_children([self._child])
            log.debug("redis-server on port %d stopped", self.port)
            self._child = None

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"RedisServer({self.host}:{self.port}, {state})"


def main(argv: list[str] | None = None) -> int:
    """Run a Redis server in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m praas_kit.tools.services.redis_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=6379, help="TCP port (default 6379; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = RedisServer(port=args.port or None, host=args.host)
    return run_foreground(server.start, server.running, server.stop, lambda: f"redis {server.url}")


if __name__ == "__main__":
    raise SystemExit(main())
