"""Authentication and isolation: the data plane (CurveZMQ), the REST surface, files on disk, the environment."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx
import zmq
from helpers import APP_CODE, BACKENDS, make_plane

from praas_kit import wire
from praas_kit.keys import KeyPair, curve_client
from praas_kit.storage.directory import DirectoryStore

APPS = Path(__file__).parent.parent / "apps"
CP_BACKENDS = BACKENDS  # the ``cp`` fixture (conftest.py): a control plane of this module's own on every backend


def _raw_call(address: str, server_key: str | None = None, client: KeyPair | None = None) -> list[bytes] | None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key and client:
        curve_client(sock, server_key, client)
    sock.connect(address)
    sock.send_multipart([wire.invoke_header("x", "echo"), b"let me in"])
    try:
        return sock.recv_multipart() if sock.poll(1500) else None
    finally:
        sock.close()


def test_only_the_applications_clients_and_peers_get_in(cp):
    app = cp.create_application("vault", code=APP_CODE)
    p = app.create_process("p")
    assert p.info.public_key and p.invoke("echo", b"the SDK").payload == b"the SDK"  # with the app's client key
    assert _raw_call(p.address) is None  # no CURVE: no handshake, nothing runs
    assert _raw_call(p.address, p.info.public_key, KeyPair.new()) is None  # an unknown key is refused
    creds = cp.credentials("vault")
    assert creds is not None
    assert _raw_call(p.address, p.info.public_key, creds)[1] == b"let me in"


def test_a_message_source_cannot_be_forged(cp):
    # mallory and alice in one application: mallory claims to be bob
    both = cp.create_application("both", code=APPS / "attacker")
    a, m = both.create_process("alice"), both.create_process("mallory")
    both.create_process("bob")
    reply = m.invoke("forge", {"to": "alice", "claim": "bob"}).json()
    assert reply["t"] == "err" and "someone else" in reply["err"]["message"]
    assert a.invoke("pending", {"src": "bob", "timeout": 0.5}).json() == 0


def test_a_relayed_message_cannot_claim_another_sender(cp):
    # mallory asks the control plane to relay bob's seq 1 (with bob's epoch) before bob sends it; before the fix
    # the relay stored the claimed source, alice took the forgery, and bob's genuine seq 1 was dropped as a duplicate
    app = cp.create_application("relay", code=APPS / "attacker")
    a, m, b = (app.create_process(n) for n in ("alice", "mallory", "bob"))
    m.invoke("forge_relay", {"to": "alice", "claim": "bob", "ep": b.invoke("epoch").text})
    time.sleep(0.5)  # the relay delivers at once to a running process
    b.invoke("send", {"to": "alice", "value": "genuine"})
    assert a.invoke("recv", {"src": "bob"}).text == "genuine"
    assert a.invoke("pending", {"src": "bob", "timeout": 0.5}).json() == 0
    assert a.invoke("pending", {"src": "mallory", "timeout": 0.5}).json() == 0  # refused, not re-labelled


def test_another_applications_process_cannot_call_in(cp):
    target = cp.create_application("target", code=APP_CODE).create_process("t")
    intruder = cp.create_application("intruder", code=APPS / "attacker").create_process("i")
    out = intruder.invoke("call_other", {"address": target.address, "key": target.info.public_key, "fn": "echo"})
    assert out.text == "no answer"


def test_processes_get_a_scrubbed_environment_and_no_token(cp, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    monkeypatch.setenv("PRAAS_TOKEN", "must-not-leak-either")
    p = cp.create_application("env", code=APPS / "spam.py").create_process("p")
    seen = p.invoke("environment", {"token_file": str(cp.controller.cfg.home / "token")}).json()
    assert not [k for k, v in seen["env"].items() if "must-not-leak" in v]
    assert not [k for k in seen["env"] if k.startswith("AWS_") or k in ("PRAAS_TOKEN", "PRAAS_SECRET")]
    assert seen["token"].startswith("unreadable")  # an embedded control plane keeps its token in memory


def test_rest_documents_need_the_token(cp):
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert httpx.get(cp.url + path).status_code == 401, path
    assert httpx.get(cp.url + "/openapi.json", headers={"Authorization": f"Bearer {cp.token}"}).status_code == 200
    with httpx.Client(base_url=cp.url) as browser:  # a browser: the token once in the URL, then a cookie
        assert browser.get(f"/docs?token={cp.token}").status_code == 200
        assert browser.get("/openapi.json").status_code == 200
        # the cookie opens the document only: before the fix a page of another port of this host (JupyterLab's)
        # could make the browser POST /invoke or /kill with it
        assert browser.put("/apps/csrf").status_code == 401
        assert browser.get("/apps").status_code == 401
        # the docs work offline: their scripts come from the control plane, not a CDN
        for page in ("/docs", "/redoc"):
            html = browser.get(page).text
            assert "/docs-assets/" in html and "cdn." not in html and "fonts.googleapis" not in html, page
        js = browser.get("/docs-assets/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert browser.get("/docs-assets/redoc.standalone.js").status_code == 200
        assert browser.get("/docs-assets/../token").status_code in (401, 404)
    assert httpx.get(cp.url + "/docs-assets/swagger-ui-bundle.js").status_code == 401  # no cookie, no token
    assert "csrf" not in [a.name for a in cp.applications()]
    assert httpx.get(cp.url + "/healthz").status_code == 200


def test_deeply_nested_body_is_a_bad_request(cp):
    body = "[" * 100_000 + "]" * 100_000
    r = httpx.put(cp.url + "/apps/nested", content=body, headers={"Authorization": f"Bearer {cp.token}",
                                                                    "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequest"


def test_a_new_home_and_the_local_processes_files_are_private(tmp_path):
    # before the fix: the home 0755 (made by the token file's writer first), work dirs, state files and logs 0644
    home = tmp_path / "new" / "home"
    with make_plane("local", home) as plane:
        p = plane.create_application("files", code=APP_CODE).create_process("p")
        p.invoke("write_file", {"path": "sub/live.txt", "text": "state a function keeps"})
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        workdirs = [d for d in home.rglob("p-*") if d.is_dir()]
        assert workdirs and (workdirs[0] / "state" / "sub" / "live.txt").is_file()
        for f in [workdirs[0], *workdirs[0].rglob("*")]:
            assert not stat.S_IMODE(f.stat().st_mode) & 0o077, (f, oct(f.stat().st_mode))


def test_registry_and_snapshots_are_private(cp):
    home = cp.controller.cfg.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for f in home.glob("registry.sqlite*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    p = cp.create_application("private", code=APPS / "spam.py").create_process("p")
    p.invoke("put", b"secret state")
    p.swap()
    store = cp.controller.store
    assert store.latest("private", "p") is not None
    if not isinstance(store, DirectoryStore):  # S3 (the swarm deployment): the bucket's credentials guard it
        return
    snaps = [f for f in (store.root / "private" / "p").rglob("*")]
    assert snaps
    for f in snaps:
        assert stat.S_IMODE(f.stat().st_mode) == (0o700 if f.is_dir() else 0o600), f
