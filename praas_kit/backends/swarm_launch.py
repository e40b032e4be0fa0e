"""The entry point of a ``swarm`` task: hand the runtime its secrets privately, then become the runtime.

A Swarm secret is mounted read-only and cannot be removed from inside the task, so the ``swarm``
backend mounts it readable by root only and starts this module as root with no capabilities but
``SETUID``/``SETGID``. It reads the secret, sets ``no_new_privs`` (no set-uid binary can regain
root), drops to the runtime's user (which clears every capability), writes the secrets to
the config's ``secrets_file`` (0600, on a tmpfs, with
:func:`~praas_kit.process.config.write_secrets_file`) for the runtime to read and remove, and runs
``praas_kit.process`` in this interpreter. Code run by the process can read neither the mounted
secret nor, once the runtime started, the file.

Variables: ``PRAAS_SWARM_SECRET`` (the mounted secret's path) and ``PRAAS_SWARM_USER`` (``uid:gid``).
"""

from __future__ import annotations

import ctypes
import os
import runpy
import sys

from praas_kit.engines.images import RUN_AS
from praas_kit.process.config import ProcessConfig, write_secrets_file

PR_SET_NO_NEW_PRIVS = 38


def drop_privileges(uid: int, gid: int) -> None:
    """Set ``no_new_privs`` and become ``uid:gid`` with no supplementary groups (and so no capabilities)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)


def main() -> None:
    secret_path = os.environ.pop("PRAAS_SWARM_SECRET")
    uid, _, gid = os.environ.pop("PRAAS_SWARM_USER", RUN_AS).partition(":")
    with open(secret_path, "rb") as f:
        secrets = f.read()
    drop_privileges(int(uid), int(gid or uid))
    target = ProcessConfig.from_env().secrets_file
    if target is None:
        raise SystemExit("swarm_launch: the process config names no secrets file")
    write_secrets_file(target, secrets)
    del secrets
    sys.argv = ["praas_kit.process"]
    runpy.run_module("praas_kit.process", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
