"""The ``local`` backend: each process is a host subprocess with its own working directory.

The embedded default: no Docker, nothing to install. ``memory_mb`` is enforced with
``RLIMIT_AS`` (plus a fixed allowance for the interpreter's own address space); ``vcpus`` is
recorded but not enforced.
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
from praas_kit.process.config import write_store_file

log = logging.getLogger("praas_kit.backends.local")

ADDRESS_SPACE_ALLOWANCE_MB = 768  # virtual memory of Python, libzmq and thread stacks that is not data


class LocalBackend(Backend):
    """Runs processes as children of the control plane, in ``<root>/<app>/<proc>-<incarnation>``."""

    name = "local"

    def __init__(self, root: str | Path, enforce_memory: bool = True) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
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
        (workdir / "state").mkdir(parents=True, exist_ok=True)
        store_file = None
        if spec.store is not None:
            store_file = write_store_file(workdir / "private" / "store.json", spec.store.spec())
        cfg = spec.config.replace(bind="tcp://127.0.0.1:0", state_dir=workdir / "state", parent_pid=os.getpid(),
                                  code=spec.code, store_file=store_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRAAS_")}
        env.update(cfg.to_env())
        env.update({"MALLOC_ARENA_MAX": "2", "PYTHONUNBUFFERED": "1"})
        limit = (spec.memory_mb + ADDRESS_SPACE_ALLOWANCE_MB) << 20 if self.enforce_memory else None

        def preexec() -> None:  # runs in the child before exec
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        logf = open(workdir / "process.log", "ab")
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "praas_kit.process"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT, preexec_fn=preexec, start_new_session=True)
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
        workdir = handle.get("workdir")
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def kill(self, handle: Handle) -> None:
        popen = self._popen(handle)
        if popen is not None:
            popen.kill()
            return
        pid = int(handle.get("pid", -1))
        if pid > 0 and _is_runtime(pid):  # left over from an earlier control plane
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

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
        try:
            lines = (Path(handle["workdir"]) / "process.log").read_text(errors="replace").splitlines()
        except (OSError, KeyError):
            return ""
        return "\n".join(lines[-tail:])

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
        for t in watchers:
            t.join(10)


def _is_runtime(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"praas_kit.process" in cmdline
