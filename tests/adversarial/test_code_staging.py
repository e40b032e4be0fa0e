"""The copy of application code the docker backend stages for a container user who cannot read the original:
no link that leads out of the code is followed (before the fix a link to a secret was copied and published
0644), and the copy sits in a directory other users of the host cannot enter. Runs without Docker."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from praas_kit.backends import docker_code


def test_staging_copies_no_link_out_of_the_code_and_is_private(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("the control plane's token")
    secret.chmod(0o600)
    code = tmp_path / "app"
    (code / "pkg").mkdir(parents=True)
    (code / "__init__.py").write_text("from praas_kit import function\n")
    (code / "pkg" / "data.txt").write_text("data")
    (code / "leak.txt").symlink_to(secret)  # what a careless (or hostile) code tree may hold
    (code / "inside.txt").symlink_to(code / "pkg" / "data.txt")
    code.chmod(0o700)  # the container user (10001) cannot read it: it is staged
    volumes, there, staged = docker_code.mount(str(code), "inc0", (10001, 10001))
    try:
        assert staged is not None
        (copy,) = [Path(host) for host in volumes]
        assert not (copy / "leak.txt").exists()
        assert (copy / "inside.txt").read_text() == "data"
        assert not any("the control plane's token" in p.read_text() for p in copy.rglob("*") if p.is_file())
        assert stat.S_IMODE(Path(staged).stat().st_mode) == 0o700  # other host users cannot enter
        assert stat.S_IMODE((copy / "pkg" / "data.txt").stat().st_mode) == 0o644  # the container user reads it
        assert there.endswith("/app")
    finally:
        docker_code.remove_staged(staged)
    assert not os.path.exists(staged)
