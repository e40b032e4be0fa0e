"""Helpers shared by the service wrappers: executables, child processes, foreground mode.

Ports: :mod:`praas_kit._net`."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.tools.services")

#: Directories searched after ``PATH``: Debian puts some server binaries in sbin directories,
#: which a non-login ``PATH`` may lack.
_EXTRA_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def find_executable(name: str, package_hint: str) -> str:
    """The full path of ``name``; :class:`BackendError` naming ``package_hint`` if it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BackendError(
        f"{name} is not installed: install the Debian package(s) {package_hint} "
        "(scripts/install-system.sh does it)"
    )


class Child:
    """A child process started in its own session, with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log_file: IO[bytes] = open(log_path, "ab")  # closed in wait()
        try:
            # A session of its own: a Ctrl-C in the terminal reaches only the parent, which then
            # stops the children in order.
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
                env=env, cwd=cwd, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            self._log_file.close()
            raise BackendError(f"cannot start {name} ({self.argv[0]}): {exc}") from exc
        log.debug("started %s (pid %d): %s", name, self.popen.pid, " ".join(self.argv))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the child's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """Send SIGTERM (to the whole session, so helpers the child forked go too)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds, then SIGKILL the session; always reaps the child."""
        try:
            self.popen.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored SIGTERM, killing it", self.name, self.popen.pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        # Reap-and-kill anything left in the child's session (a forked worker, for instance).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if not self._log_file.closed:
            self._log_file.close()


def stop_children(children: Sequence[Child], timeout: float = 10.0) -> None:
    """Terminate all ``children`` at once, then wait for each (SIGKILL after ``timeout`` in total)."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        child.wait(deadline - time.monotonic())


class _Stoppable(Protocol):
    def stop(self) -> None: ...


#: Servers started and not yet stopped (strong references: a server nobody holds any more is still
#: stopped at interpreter exit).
_live: set[_Stoppable] = set()
_live_lock = threading.Lock()


def register_live(server: _Stoppable) -> None:
    """Remember a started server so that interpreter exit stops it if nobody else did."""
    with _live_lock:
        _live.add(server)


def unregister_live(server: _Stoppable) -> None:
    with _live_lock:
        _live.discard(server)


@atexit.register
def _stop_all_live() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


def remove_tree(path: Path | None) -> None:
    """Remove a temporary directory, ignoring one that is already gone."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def run_foreground(start: Callable[[], object], alive: Callable[[], bool], stop: Callable[[], None],
                   describe: Callable[[], str]) -> int:
    """Run a server until SIGTERM/SIGINT (exit 0) or until it dies (exit 1)."""
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        start()
        log.info("ready: %s", describe())
        while not stop_requested.wait(0.5):
            if not alive():
                log.error("%s stopped unexpectedly", describe())
                return 1
        return 0
    except BackendError as exc:
        log.error("%s", exc)
        return 1
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class LocalServer:
    """Base of the server wrappers: a context manager whose ``stop`` ends the children (``_stop_children``),
    removes the temporary directory and forgets the server (no leftovers at interpreter exit either)."""

    tmpdir: Path | None = None

    def _stop_children(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server's processes (SIGTERM, SIGKILL after 10 s) and remove its temporary directory."""
        self._stop_children()
        remove_tree(self.tmpdir)
        self.tmpdir = None
        unregister_live(self)

    def start(self) -> LocalServer:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
