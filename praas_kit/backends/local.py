"""The ``local`` backend: each process is a host subprocess with its own working directory.

The embedded default: no Docker, nothing to install. ``memory_mb`` is enforced with
``RLIMIT_AS`` (plus a fixed allowance for the interpreter's own address space); ``vcpus`` is
recorded but not enforced.

What it isolates, and what it does not. A process starts with a scrubbed environment (a few
variables it needs, nothing of the control plane's: no token, no cloud credentials), receives its
secrets in a file it reads once and removes, and its children die with it (the whole process group is
killed). But it runs as the control plane's user: it can read whatever that user can read (say the
token file of a ``praas serve`` in ``~/.praas``, or another process's working directory), and it shares
the host's network and CPUs. Use the ``docker`` backend for isolation (its own user, no capabilities,
resource limits, no host files but its code).

After a process ends, the last 64 KiB of its log stay in ``<root>/<app>/<proc>.log``.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from praas_kit.backends.base import Backend, ExitCallback, Handle, ProcessSpec
from praas_kit.errors import BackendError
from praas_kit.process.config import write_secrets_file

log = logging.getLogger("praas_kit.backends.local")

ADDRESS_SPACE_ALLOWANCE_MB = 768  # virtual memory of Python, libzmq and thread stacks that is not data
#: the only variables of the control plane's environment a process gets (besides its PRAAS_* config)
ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
LOG_KEPT = 64 << 10  #: bytes of a finished process's log that are kept


class _SameHost:
    """The local backend's :class:`~praas_kit.storage.base.ProcessHost`: processes see the control
    plane's files and network as they are."""

    def share_directory(self, path: Path) -> str:
        Path(path).mkdir(parents=True, exist_ok=True)
        return str(Path(path).resolve())

    def reach(self, url: str) -> str:
        return url


class LocalBackend(Backend):
    """Runs processes as children of the control plane, in ``<root>/<app>/<proc>-<incarnation>``."""

    name = "local"

    def __init__(self, root: str | Path, enforce_memory: bool = True) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.enforce_memory = enforce_memory
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._watchers: list[threading.Thread] = []
        self._lock = threading.Lock()

    @classmethod
    def create(cls, home: Path, options: Mapping[str, Any]) -> LocalBackend:
        """Work directories under ``options["root"]``, by default ``<home>/processes``."""
        opts = dict(options)
        root = opts.pop("root", None) or home / "processes"
        try:
            return cls(root, **opts)
        except TypeError as exc:
            raise BackendError(f"bad option for the local backend: {exc}") from None

    @property
    def control_bind(self) -> str:
        return "127.0.0.1"

    @property
    def control_host(self) -> str:
        return "127.0.0.1"

    def start(self, spec: ProcessSpec, on_exit: ExitCallback) -> Handle:
        workdir = self.root / spec.app / f"{spec.proc}-{spec.incarnation}"
        workdir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        workdir.mkdir(mode=0o700, exist_ok=True)
        (workdir / "state").mkdir(mode=0o700, exist_ok=True)
        (workdir / "private").mkdir(mode=0o700, exist_ok=True)
        store_view = spec.store.process_view(_SameHost(), spec.app, spec.proc) if spec.store is not None else None
        secrets_file = write_secrets_file(workdir / "private" / "secrets.json", spec.secrets_for(store_view))
        cfg = spec.config.replace(bind="tcp://127.0.0.1:0", state_dir=workdir / "state", parent_pid=os.getpid(),
                                  code=spec.code, secrets_file=secrets_file)
        env = {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}
        env.update(cfg.to_env())
        env.update({"HOME": str(workdir), "MALLOC_ARENA_MAX": "2", "PYTHONUNBUFFERED": "1"})
        limit = (spec.memory_mb + ADDRESS_SPACE_ALLOWANCE_MB) << 20 if self.enforce_memory else None

        def preexec() -> None:  # runs in the child before exec
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        logf = os.fdopen(os.open(workdir / "process.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "praas_kit.process"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT, preexec_fn=preexec, start_new_session=True,
                umask=0o077)  # what the process writes (state files, snapshots of the dir store) is its user's
        except OSError as exc:
            raise BackendError(f"cannot start process {spec.app}/{spec.proc}: {exc}") from None
        finally:
            logf.close()
        with self._lock:
            self._procs[popen.pid] = popen

        def watch() -> None:
            code = popen.wait()
            with self._lock:
                self._procs.pop(popen.pid, None)
            on_exit(code)

        watcher = threading.Thread(target=watch, name=f"watch-{spec.proc}", daemon=True)
        with self._lock:
            self._watchers = [t for t in self._watchers if t.is_alive()] + [watcher]
        watcher.start()
        return {"pid": popen.pid, "workdir": str(workdir), "rlimit_as": limit}

    def _popen(self, handle: Handle) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self._procs.get(int(handle.get("pid", -1)))

    def stop(self, handle: Handle, grace: float = 5.0) -> None:
        popen = self._popen(handle)
        if popen is not None:
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                popen.terminate()
                try:
                    popen.wait(2)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait(5)
        _kill_group(handle)  # what the functions started (a fork, a server) goes with the process
        self._keep_log(handle)
        workdir = handle.get("workdir")
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def _keep_log(self, handle: Handle) -> None:
        """Keep the end of a finished process's log next to its working directory."""
        workdir = handle.get("workdir")
        if not workdir:
            return
        path = Path(workdir) / "process.log"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - LOG_KEPT))
                tail = f.read()
            _kept_log(Path(workdir)).write_bytes(tail)
        except OSError:
            pass

    def kill(self, handle: Handle) -> None:
        popen = self._popen(handle)
        if popen is not None:
            popen.kill()
            _kill_group(handle)
            return
        pid = int(handle.get("pid", -1))
        if pid > 0 and _is_runtime(pid):  # left over from an earlier control plane
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _kill_group(handle)

    def alive(self, handle: Handle) -> bool:
        popen = self._popen(handle)
        if popen is not None:
            return popen.poll() is None
        pid = int(handle.get("pid", -1))
        return pid > 0 and _is_runtime(pid)

    def recover(self, handle: Handle) -> None:
        self.kill(handle)
        workdir = handle.get("workdir")
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def logs(self, handle: Handle, tail: int = 40) -> str:
        """The last lines of the process's log (of its kept log once it has finished)."""
        workdir = handle.get("workdir")
        if not workdir:
            return ""
        for path in (Path(workdir) / "process.log", _kept_log(Path(workdir))):
            try:
                return "\n".join(path.read_text(errors="replace").splitlines()[-tail:])
            except OSError:
                continue
        return ""

    def close(self) -> None:
        """Kill every runtime this backend started and wait until each exit has been reported."""
        with self._lock:
            procs = list(self._procs.values())
            watchers = list(self._watchers)
        for p in procs:
            p.kill()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                log.warning("process %s did not exit after SIGKILL", p.pid)
            _kill_group({"pid": p.pid})
        for t in watchers:
            t.join(10)


def _kept_log(workdir: Path) -> Path:
    """Where the end of the log of the process that ran in ``workdir`` (``<proc>-<incarnation>``) is kept."""
    return workdir.parent / f"{workdir.name.rsplit('-', 1)[0]}.log"


def _kill_group(handle: Handle) -> None:
    """SIGKILL what is left of the process's group (each process leads a session of its own)."""
    pid = int(handle.get("pid", -1))
    if pid > 0:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _is_runtime(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"praas_kit.process" in cmdline
