"""Malformed, truncated and random ZeroMQ frames sent straight to a running process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import zmq
from helpers import APP_CODE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from praas_kit import wire


@pytest.fixture(scope="module")
def process_address(tmp_path_factory):
    d = tmp_path_factory.mktemp("proc")
    env = dict(os.environ, PRAAS_APP="fuzz", PRAAS_PROCESS="p", PRAAS_CODE=str(APP_CODE),
               PRAAS_STATE_DIR=str(d / "state"), PRAAS_MAX_PAYLOAD=str(1 << 20), PRAAS_LOG_LEVEL="ERROR")
    from praas_kit._net import free_port

    port = free_port()
    env["PRAAS_BIND"] = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "praas_kit.process"], env=env)
    addr = f"tcp://127.0.0.1:{port}"
    yield addr
    proc.terminate()
    proc.wait(10)
    assert proc.returncode == 0


def rpc(addr, frames, timeout=5000):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(addr)
    try:
        s.send_multipart(frames)
        if s.poll(timeout):
            return s.recv_multipart()
        return None
    finally:
        s.close()


def alive(addr):
    reply = rpc(addr, [wire.header("inv", id="x", fn="echo"), b"ping"])
    return reply is not None and reply[1] == b"ping"


def test_malformed_frames_get_typed_errors(process_address):
    for frames in ([b"garbage", b""], [b'{"t":"inv"}', b""], [b'{"t":"res","id":"1","ok":true}', b""],
                   [b"only-one-frame"], [b"a", b"b", b"c"], [b'{"t":"inv","id":"1","fn":7}', b""]):
        reply = rpc(process_address, frames)
        hdr = __import__("json").loads(reply[0])
        assert hdr["t"] == "err" and hdr["err"]["type"] == "ProtocolError"
    assert alive(process_address)


def test_oversize_payload_is_refused(process_address):
    reply = rpc(process_address, [wire.header("inv", id="big", fn="echo"), b"x" * ((1 << 20) + 1)])
    hdr = __import__("json").loads(reply[0])
    assert hdr["ok"] is False and hdr["err"]["type"] == "PayloadTooLarge"
    assert alive(process_address)


def test_truncated_tcp_stream_does_not_hurt(process_address):
    import socket

    host, port = process_address[6:].rsplit(":", 1)
    for blob in (b"\xff\x00\x00", b"\xff" + b"\x00" * 8 + b"\x7f\x03", os.urandom(300)):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(blob)
            time.sleep(0.05)
    assert alive(process_address)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_random_frames(process_address, frames):
    """Whatever frames arrive, the process answers with a frame of the protocol (or not at all: a result or an
    acknowledgement nobody asked for is dropped) and goes on serving invocations."""
    reply = rpc(process_address, frames, timeout=2000)
    if reply is not None:
        hdr, _ = wire.decode(reply)  # ProtocolError: the process broke the protocol itself
        assert hdr["t"] in wire.SCHEMA, hdr
    assert alive(process_address), frames
