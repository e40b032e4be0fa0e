"""The invocation gateway: the REST invoke route over ZeroMQ (praas_kit.control.gateway, praas_kit.sdk.gateway).

The behaviour tests run on every backend (the ``app`` fixture); the protocol tests talk to the gateway's
socket directly on the embedded local control plane. ``app.invoke`` goes through the gateway wherever it runs,
so the integration suite (a process killed mid-call, swap-in on invoke, FaaS routing) covers it on every
backend too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import zmq
from helpers import APP_CODE, unique

import praas_kit
from praas_kit import wire
from praas_kit.errors import NotFound
from praas_kit.keys import KeyPair, curve_client
from praas_kit.sdk.gateway import GatewayClient


@pytest.fixture
def rest(plane) -> Iterator[praas_kit.ControlPlaneClient]:
    """A second client of the same control plane that invokes through REST only."""
    with praas_kit.connect(plane.url, plane.token, gateway=False) as client:
        yield client


def test_the_sdk_uses_the_gateway_and_gets_what_rest_gives(plane, app, rest):
    assert plane.gateway() is not None
    assert rest.gateway() is None
    app.create_process("g1")
    via_gateway = app.invoke("echo", {"n": 1}, process="g1")
    via_rest = rest.application(app.name).invoke("echo", {"n": 1}, process="g1")
    assert via_gateway.json() == via_rest.json() == {"n": 1}
    assert via_gateway.content_type == via_rest.content_type
    assert via_gateway.process == via_rest.process == "g1"
    assert via_gateway.id and via_gateway.id != via_rest.id


def test_gateway_errors_are_the_rest_routes_typed_errors(plane, app):
    app.create_process("g2")
    with pytest.raises(praas_kit.FunctionNotFound):
        app.invoke("no_such_function", b"", process="g2")
    with pytest.raises(praas_kit.ProcessNotFound):
        app.invoke("echo", b"", process="nobody")
    with pytest.raises(praas_kit.InvocationError, match="boom"):
        app.invoke("boom", b"", process="g2")
    with pytest.raises(praas_kit.ApplicationNotFound):
        praas_kit.sdk.client.Application(plane, "no-such-app").invoke("echo", b"")
    assert app.invoke("echo", "still serving", process="g2").text == "still serving"


def test_gateway_timeout_releases_the_process(app):
    app.create_process("g3")
    started = time.monotonic()
    with pytest.raises(praas_kit.Timeout):
        app.invoke("sleep", "3", process="g3", timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert app.invoke("echo", "next", process="g3", timeout=30).text == "next"


def test_gateway_swaps_a_sticky_process_in_and_creates_pooled_ones(app):
    p = app.create_process("g4")
    p.invoke("put-state", {"key": "k", "value": "v"})
    p.swap()
    assert app.invoke("get-state", "k", process="g4").text == "v"  # swapped in on the gateway's slow path
    r = app.invoke("echo", "faas")  # no pooled process yet: one is created
    assert r.text == "faas" and r.process.startswith("pool-")


def test_gateway_concurrent_calls_each_get_their_own_result(app):
    app.create_process("g5")
    results: dict[int, str] = {}

    def call(i: int) -> None:
        results[i] = app.invoke("echo", f"call-{i}", process="g5").text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: f"call-{i}" for i in range(16)}


# ---------------------------------------------------------------- the protocol, on the local backend
@pytest.fixture(scope="module")
def gw_app(cp) -> praas_kit.sdk.client.Application:
    """The application ``gw`` with its process ``p`` on the module's local control plane (``cp``, conftest.py)."""
    app = cp.create_application("gw", code=str(APP_CODE))
    app.create_process("p")
    return app


@pytest.fixture
def raw(cp, gw_app) -> Iterator[zmq.Socket]:
    """A bare DEALER socket connected to the gateway (CurveZMQ with any client key)."""
    gateway = cp.gateway()
    assert gateway is not None
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    if gateway.server_key:
        curve_client(sock, gateway.server_key, KeyPair.new())
    sock.connect(gateway.address)
    yield sock
    sock.close()


def _ask(sock: zmq.Socket, **fields) -> dict:
    sock.send_multipart([wire.header("call", **fields), fields.pop("payload", b"")])
    hdr, _ = wire.decode(sock.recv_multipart())
    return hdr


def test_a_call_without_the_right_token_is_refused(cp, gw_app, raw):
    hdr = _ask(raw, id="1", app="gw", fn="echo", tok="wrong", proc="p")
    assert hdr["ok"] is False and hdr["err"]["type"] == "Unauthorized"


def test_bad_frames_get_typed_errors_and_the_gateway_serves_on(cp, gw_app, raw):
    raw.send_multipart([b"not json", b""])  # undecodable: dropped with a log line
    raw.send_multipart([wire.header("ping", id="x"), b""])
    hdr, _ = wire.decode(raw.recv_multipart())
    assert hdr["ok"] is False and hdr["err"]["type"] == "BadRequest"
    hdr = _ask(raw, id="2", app="gw", fn="echo", tok=cp.token, proc="p", timeout=-3)
    assert hdr["err"]["type"] == "BadRequest"
    hdr = _ask(raw, id="3", app="gw", fn="echo", tok=cp.token, proc=["p"])
    assert hdr["err"]["type"] == "BadRequest"
    hdr = _ask(raw, id="4", app="gw", fn="../x", tok=cp.token)
    assert hdr["ok"] is False
    assert cp.application("gw").invoke("echo", "ok", process="p").text == "ok"


def test_a_payload_over_the_limit_is_refused_before_sending(cp, gw_app):
    gateway = cp.gateway()
    assert gateway is not None
    with pytest.raises(praas_kit.PayloadTooLarge):
        gateway.invoke("gw", "echo", b"x" * (gateway.max_payload + 1), "p")


def test_an_unreachable_gateway_falls_back_to_rest(cp, gw_app):
    with praas_kit.connect(cp.url, cp.token) as client:
        info = client.request("GET", "/gateway").json()
        closed_port = praas_kit._net.free_port("127.0.0.1")
        client._gateway = GatewayClient(client.data_plane, client.url, client.token, {**info, "port": closed_port})
        r = client.application("gw").invoke("echo", "via rest", process="p")
        assert r.text == "via rest" and r.process == "p"
        assert client.gateway() is None  # later calls go straight to REST


def test_a_control_plane_without_a_gateway_serves_invocations_over_rest():
    with praas_kit.local(gateway_port=-1) as client:
        with pytest.raises(NotFound):
            client.request("GET", "/gateway")
        assert client.gateway() is None
        app = client.create_application(unique("nogw"), code=str(APP_CODE))
        app.create_process("p")
        assert app.invoke("echo", "rest", process="p").text == "rest"
