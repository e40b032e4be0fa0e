"""Discovery files: where a control plane records its URL and token, and where clients find them.

A control plane writes ``<home>/endpoint.json`` (``{"url", "pid"}``) and ``<home>/token`` (0600);
the SDK and the CLI read them when no URL or token is given. ``<home>`` is ``$PRAAS_HOME`` or
``~/.praas``. This module is the only reader and writer of those two files.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument, Unauthorized

ENDPOINT_FILE = "endpoint.json"
TOKEN_FILE = "token"


def default_home() -> Path:
    """``$PRAAS_HOME``, or ``~/.praas``: where a control plane keeps its registry, token and swaps."""
    return Path(os.environ.get("PRAAS_HOME") or Path.home() / ".praas")


def write_endpoint(home: Path, url: str) -> None:
    """Record where the control plane of ``home`` listens."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ENDPOINT_FILE).write_text(json.dumps({"url": url, "pid": os.getpid()}))


def read_endpoint(home: Path) -> str:
    """The URL recorded in ``home``; :class:`InvalidArgument` (naming the file) if there is none."""
    path = home / ENDPOINT_FILE
    try:
        data: Any = json.loads(path.read_text())
        return str(data["url"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidArgument(f"no control-plane URL given and none recorded in {path}: start one with "
                              "`praas serve`, or pass url= / set PRAAS_URL") from None


def read_token(home: Path) -> str:
    """The token stored in ``home``; :class:`Unauthorized` (naming the file) if there is none."""
    path = home / TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        raise Unauthorized(f"no token given and none found in {path}: pass token= or set PRAAS_TOKEN") from None


def load_or_create_token(home: Path, token: str | None = None, owner: str | None = None) -> str:
    """The control plane's token: ``token`` if given, else ``home/token`` (created 0600 if absent).

    ``owner`` (``"uid[:gid]"``) makes a newly created file belong to that user, e.g. the lab user
    of a compose deployment who reads it from a shared volume.
    """
    if token:
        return token
    path = home / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    tok = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(tok)
    if owner:
        uid, _, gid = owner.partition(":")
        os.chown(path, int(uid), int(gid or uid))
    return tok


__all__ = ["default_home", "write_endpoint", "read_endpoint", "read_token", "load_or_create_token"]
