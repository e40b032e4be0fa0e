"""The Jupyter lab container's entrypoint: run the lab as the owner of the mounted notebooks folder.

``python -m praas_kit.tools.lab_entrypoint COMMAND...``. The folder ``/home/praas/notebooks`` is bind-mounted
from the host and owned by the host user, whose uid is rarely the image user's (10001), so the lab could not
save a notebook. Started as root, this gives the image user ``praas`` the folder owner's uid and gid, hands
the user's own home (not the mounted folders) to it, and runs COMMAND as that user. When root owns the folder
(a clone made as root, the README's setup), the lab runs as root in its container instead (Jupyter with
``--allow-root``), so notebooks can be created and saved there without changing the host folder's owner.
The control plane's token file (``$PRAAS_HOME/token``) is readable by uid 10001 only, so, still as root, it
reads the token into ``PRAAS_TOKEN`` for Jupyter and its kernels (``praas_kit.connect()`` with no
arguments then works from any notebook). Started as any other user, it runs COMMAND unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HOME = Path("/home/praas")
NOTEBOOKS = HOME / "notebooks"
MOUNTED = (NOTEBOOKS, HOME / "examples")
DEFAULT_ID = 10001


def owner(path: Path) -> tuple[int, int]:
    """(uid, gid) the lab should run as for ``path``: its owner (root included), or the default user when there
    is no folder."""
    try:
        st = path.stat()
    except OSError:
        return DEFAULT_ID, DEFAULT_ID
    return st.st_uid, st.st_gid


def adopt(uid: int, gid: int, user: str = "praas") -> None:
    """Give ``user`` this uid and gid and its home's files (not the mounted folders)."""
    subprocess.run(["groupmod", "-o", "-g", str(gid), user], check=True)
    subprocess.run(["usermod", "-o", "-u", str(uid), "-g", str(gid), user], check=True)
    for root, dirs, files in os.walk(HOME):
        dirs[:] = [d for d in dirs if Path(root, d) not in MOUNTED]
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, gid)
    os.lchown(HOME, uid, gid)


def read_token(wait: float = 60.0) -> str | None:
    """The control plane's token from ``$PRAAS_HOME/token`` (waiting up to ``wait`` seconds for it to appear),
    or None without ``PRAAS_HOME``."""
    home = os.environ.get("PRAAS_HOME")
    if not home:
        return None
    path, deadline = Path(home) / "token", time.monotonic() + wait
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m praas_kit.tools.lab_entrypoint COMMAND...")
    if os.getuid() == 0:
        token = read_token()
        if token and not os.environ.get("PRAAS_TOKEN"):
            os.environ["PRAAS_TOKEN"] = token
        uid, gid = owner(NOTEBOOKS)
        if uid == 0:  # the folder's owner is root: so is the lab (in its container), or it could not save
            if Path(argv[0]).name == "jupyter":
                argv = [*argv, "--allow-root"]
        else:
            adopt(uid, gid)
            os.setgroups([gid])
            os.setgid(gid)
            os.setuid(uid)
        os.environ["HOME"] = str(HOME)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
