"""The control plane's token file never turns authentication off: an empty, blank, unreadable or
group/world-readable file is refused at start-up with a typed error naming the file; a new one is written
whole (0600) or not at all; an empty credential is never accepted, on REST or the gateway."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path

import httpx
import pytest

import praas_kit
from praas_kit.control.api import COOKIE
from praas_kit.control.config import ControlPlaneConfig
from praas_kit.control.server import ControlPlane
from praas_kit.errors import Unauthorized
from praas_kit.home import TOKEN_FILE, load_or_create_token, read_token


def test_a_new_token_file_is_whole_private_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    path = tmp_path / TOKEN_FILE
    assert len(token) >= 24 and path.read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [TOKEN_FILE]
    assert load_or_create_token(tmp_path) == token  # read back, not replaced


@pytest.mark.parametrize("content", ["", "\n", "   \n\t"])
def test_an_empty_token_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(Unauthorized, match="empty"):
        load_or_create_token(tmp_path)
    with pytest.raises(Unauthorized, match="empty"):
        read_token(tmp_path)
    assert path.read_text() == content  # changes nothing


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666])
def test_a_token_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("a-perfectly-good-token-value")
    path.chmod(mode)
    with pytest.raises(Unauthorized, match="readable by other users"):
        load_or_create_token(tmp_path)


def test_an_unreadable_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).mkdir(mode=0o700)  # unreadable as a file, whoever runs the test (also root)
    with pytest.raises(Unauthorized, match="cannot read"):
        load_or_create_token(tmp_path)


def test_a_blank_configured_token_falls_back_to_the_file(tmp_path: Path) -> None:
    assert load_or_create_token(tmp_path, "   ") == (tmp_path / TOKEN_FILE).read_text()
    assert load_or_create_token(tmp_path, "given") == "given"


def test_praas_serve_does_not_start_on_an_empty_token_file(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("")
    os.chmod(path, 0o600)
    with pytest.raises(Unauthorized, match="empty"):
        ControlPlane(ControlPlaneConfig(home=tmp_path, port=0, backend="local"))


def test_an_empty_credential_is_never_accepted() -> None:
    with praas_kit.local() as cp:
        for headers, cookies in (({}, {COOKIE: ""}), ({"Authorization": "Bearer x"}, {COOKIE: ""}), ({}, {})):
            r = httpx.put(f"{cp.url}/apps/intruder", json={}, headers=headers, cookies=cookies, timeout=10)
            assert r.status_code == 401, (headers, cookies, r.status_code)
        assert [a.name for a in cp.applications()] == []
        gateway = cp.gateway()
        assert gateway is not None  # an embedded control plane runs the invoke route over ZeroMQ
        cp.create_application("app", code=Path(__file__).parent.parent / "apps" / "testapp.py")
        intruder = copy.copy(gateway)
        intruder.token = ""
        with pytest.raises(Unauthorized):
            intruder.invoke("app", "echo", b"x", None, 5.0)
