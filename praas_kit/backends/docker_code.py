"""Getting application code into containers: a read-only bind mount, or a copy put into the container.

* :func:`mount` bind-mounts the host path read-only under ``/code`` (a ``.py`` file's directory at
  ``/code``, a package directory at ``/code/<name>``). When the container user could not read it in
  place (say a 0700 temporary directory), a world-readable copy is staged and mounted instead.
* :func:`archive` makes a root-owned, read-only tar of the code for ``put_archive`` (a control plane
  that runs in a container itself, whose paths the engine cannot see).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.backends.docker")

CODE_DIR = "/code"
Volumes = dict[str, dict[str, str]]


def parse_user(run_as: str) -> tuple[int, int] | None:
    """``(uid, gid)`` of ``"uid[:gid]"``, or ``None`` for a user name (resolved in the image only)."""
    try:
        uid, _, gid = run_as.partition(":")
        return int(uid), int(gid or uid)
    except ValueError:
        return None


def readable_by(path: Path, ids: tuple[int, int] | None) -> bool:
    """Whether user ``ids`` can read ``path`` (a file or a whole package tree) through a bind mount.

    Only what is mounted counts (a file's directory, or the package directory): the host directories
    above a mount are not visible in the container.
    """
    if ids is not None and ids[0] == 0:
        return True

    def ok(p: Path, need: int) -> bool:
        st = p.stat()
        if ids is not None and st.st_uid == ids[0]:
            return bool(st.st_mode & (need << 6))
        if ids is not None and st.st_gid == ids[1]:
            return bool(st.st_mode & (need << 3))
        return bool(st.st_mode & need)

    try:
        if path.is_file():
            return ok(path.parent, 5) and ok(path, 4)  # import lists the directory: r and x
        for root, dirs, files in os.walk(path):
            r = Path(root)
            if not ok(r, 5):
                return False
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            if not all(ok(r / f, 4) for f in files):
                return False
        return True
    except OSError:
        return False


def code_files(src: Path) -> list[tuple[str, Path]]:
    """The files of the code at ``src`` (a module file or a package directory) as ``(path under the code
    directory, host path)``, ``<name>/...`` for a package, without caches; sorted."""
    if src.is_file():
        return [(src.name, src)]
    out = []
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            path = Path(root) / f
            out.append((f"{src.name}/{path.relative_to(src).as_posix()}", path))
    return out


def archive(src: Path) -> bytes:
    """A tar of ``src`` (a file or a package directory) as ``<name>``: root-owned, read-only, no caches."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in info.name.split("/"):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o555 if info.isdir() else (0o555 if info.mode & 0o111 else 0o444)
        return info

    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(src, arcname=src.name, filter=clean)
    except OSError as exc:
        raise BackendError(f"cannot read the application code {src}: {exc}") from None
    if buf.tell() > 256 << 20:
        log.warning("application code %s is %d MiB; every process start copies it", src, buf.tell() >> 20)
    return buf.getvalue()


def private_file_archive(name: str, data: bytes, owner: tuple[int, int] | None) -> bytes:
    """A tar holding the directory ``praas/`` (0700) with the file ``praas/<name>`` (0600), both owned by
    ``owner``: how a secret reaches a container without entering its environment."""
    uid, gid = owner or (0, 0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo("praas")
        d.type, d.mode, d.uid, d.gid = tarfile.DIRTYPE, 0o700, uid, gid
        tar.addfile(d)
        f = tarfile.TarInfo(f"praas/{name}")
        f.size, f.mode, f.uid, f.gid = len(data), 0o600, uid, gid
        tar.addfile(f, io.BytesIO(data))
    return buf.getvalue()


def _outside_links(src: Path) -> Callable[[str, list[str]], set[str]]:
    """A :func:`shutil.copytree` filter: ``__pycache__``, and every symbolic link that leads out of ``src`` (a
    link to the token file or ``/etc/shadow`` is not copied, with a warning; links inside the tree are)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        out = {n for n in names if n == "__pycache__"}
        for n in names:
            p = Path(directory) / n
            if p.is_symlink() and not p.resolve().is_relative_to(src):
                log.warning("application code %s: not copying the link %s, which leads out of it", src, p)
                out.add(n)
        return out

    return ignore


def mount(code: str, incarnation: str, ids: tuple[int, int] | None) -> tuple[Volumes, str, str | None]:
    """Volumes, the in-container code path and a staged copy to remove later (or ``None``)."""
    src = Path(code).resolve()
    if not src.exists():
        raise BackendError(f"application code {code!r} does not exist")
    staged = None
    if not readable_by(src, ids):
        # the copy is readable for the container user, inside a directory (mkdtemp: 0700) only this user and
        # root enter: the container reaches it through its bind mount, other users of the host do not
        staged = tempfile.mkdtemp(prefix=f"praas-code-{incarnation}-")
        target = Path(staged) / "code" / src.name
        target.parent.mkdir(mode=0o755)
        if src.is_dir():
            shutil.copytree(src, target, ignore=_outside_links(src))
        else:
            shutil.copy2(src, target)
        for root, dirs, files in os.walk(target.parent):
            for d in dirs:
                os.chmod(Path(root) / d, 0o755)
            for f in files:
                os.chmod(Path(root) / f, 0o644)
        log.info("application code %s is not readable by the container user; mounting a copy", src)
        src = target
    if src.is_dir():
        return {str(src): {"bind": f"{CODE_DIR}/{src.name}", "mode": "ro"}}, f"{CODE_DIR}/{src.name}", staged
    return {str(src.parent): {"bind": CODE_DIR, "mode": "ro"}}, f"{CODE_DIR}/{src.name}", staged


def remove_staged(staged: str | None) -> None:
    """Remove a copy made by :func:`mount`."""
    if staged:
        shutil.rmtree(staged, ignore_errors=True)


__all__ = ["CODE_DIR", "Volumes", "parse_user", "readable_by", "code_files", "archive", "private_file_archive", "mount",
           "remove_staged"]
