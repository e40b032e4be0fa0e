"""Discovery files: where a control plane records its URL and token, and where clients find them.

A control plane writes ``<home>/endpoint.json`` (``{"url", "pid"}``) and ``<home>/token`` (0600);
the SDK and the CLI read them when no URL or token is given. ``<home>`` is ``$PRAAS_HOME`` or
``~/.praas``. A control plane holds ``<home>/lock`` (:func:`lock_home`) for its whole life, so a second
one on the same home stops before it touches the registry. This module is the only reader and writer of
those files.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any

from praas_kit.errors import ControlPlaneUnreachable, InvalidArgument, InvalidState, Unauthorized

ENDPOINT_FILE = "endpoint.json"
TOKEN_FILE = "token"
LOCK_FILE = "lock"


class HomeLock:
    """The exclusive lock of a home (``flock`` on ``<home>/lock``); :meth:`release` (idempotent) or process
    exit frees it, a SIGKILL included."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def lock_home(home: Path) -> HomeLock:
    """Take ``home`` for one control plane; :class:`InvalidState` naming the one that holds it (its URL and
    pid from ``endpoint.json``) if another does."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            data: Any = json.loads((home / ENDPOINT_FILE).read_text())
            running = f" at {data['url']} (pid {data['pid']})"
        except (OSError, ValueError, KeyError, TypeError):
            running = " (starting, or it records no URL)"
        raise InvalidState(f"another control plane serves {home}{running}: stop it first, or give this one "
                           "another home (--home or PRAAS_HOME)") from None
    return HomeLock(fd)


def default_home() -> Path:
    """``$PRAAS_HOME``, or ``~/.praas``: where a control plane keeps its registry, token and swaps."""
    return Path(os.environ.get("PRAAS_HOME") or Path.home() / ".praas")


def write_endpoint(home: Path, url: str) -> None:
    """Record where the control plane of ``home`` listens."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / ENDPOINT_FILE).write_text(json.dumps({"url": url, "pid": os.getpid()}))


def read_endpoint(home: Path) -> str:
    """The URL recorded in ``home``; :class:`InvalidArgument` (naming the file) if there is none,
    :class:`ControlPlaneUnreachable` if the server that recorded it (its pid, on this machine) is gone."""
    path = home / ENDPOINT_FILE
    try:
        data: Any = json.loads(path.read_text())
        url = str(data["url"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidArgument(f"no control-plane URL given and none recorded in {path}: start one with "
                              "`praas serve`, or pass url= / set PRAAS_URL") from None
    pid = data.get("pid")
    if isinstance(pid, int) and pid > 0 and not _alive(pid):
        raise ControlPlaneUnreachable(f"the control plane recorded in {path} ({url}, pid {pid}) is not running: "
                                      "start one with `praas serve`, or pass url= / set PRAAS_URL")
    return url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_token(home: Path) -> str:
    """The token stored in ``home``; :class:`Unauthorized` (naming the file) if there is none or it is empty."""
    path = home / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        raise Unauthorized(f"no token given and none found in {path}: pass token= or set PRAAS_TOKEN") from None
    if not token:
        raise Unauthorized(f"the token file {path} is empty: pass token= or set PRAAS_TOKEN") from None
    return token


def _token_file(path: Path) -> str:
    """The token of an existing token file, checked as a control plane may use it: readable by its owner only,
    not empty. :class:`Unauthorized` naming the file and what to do otherwise (authentication is never off)."""
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except OSError as exc:
        raise Unauthorized(f"cannot read the token file {path} ({exc.strerror}): fix its permissions or "
                           "delete it to make a new token") from None
    if mode & 0o077:
        raise Unauthorized(f"the token file {path} is readable by other users (mode {mode & 0o777:o}): "
                           f"chmod 600 {path}, or delete it to make a new token")
    if not token:
        raise Unauthorized(f"the token file {path} is empty (a crash while it was written?): delete it to make a "
                           "new token")
    return token


def load_or_create_token(home: Path, token: str | None = None, owner: str | None = None) -> str:
    """The control plane's token: ``token`` if given (not blank), else ``home/token``, created if absent.

    The file is written whole or not at all (a temporary file, flushed, then linked into place: a crash
    leaves no empty token file), mode 0600. An existing file must be readable by its owner only and not empty,
    else :class:`Unauthorized` (a control plane never runs without authentication). ``owner``
    (``"uid[:gid]"``) makes a newly created file belong to that user, e.g. the lab user of a compose deployment
    who reads it from a shared volume."""
    if token is not None and token.strip():
        return token
    path = home / TOKEN_FILE
    if path.exists() or path.is_symlink():
        return _token_file(path)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # the first to make it: no one else lists it
    tok = secrets.token_urlsafe(24)
    tmp = home / f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(tok)
            f.flush()
            os.fsync(f.fileno())
        if owner:
            uid, _, gid = owner.partition(":")
            os.chown(tmp, int(uid), int(gid or uid))
        try:
            os.link(tmp, path)  # atomic, and never over a file another control plane just wrote
        except FileExistsError:
            return _token_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    return tok


__all__ = ["default_home", "write_endpoint", "read_endpoint", "read_token", "load_or_create_token", "lock_home",
           "HomeLock"]
