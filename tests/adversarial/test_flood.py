"""A client that floods the invocation gateway with wrong-token calls and reads no reply is slowed down by TCP
(the gateway queues at most ``CLIENT_HWM`` messages per client and direction) instead of growing the control
plane's memory without bound, and legitimate calls keep being answered. Before the fix the queues were
unbounded: 1.57 M such calls in 20 s took a control plane from 56 to 1,068 MiB (never released) and legitimate
calls from 0.9 to 51 ms. The flood here is bounded in time (4 s) and the control plane runs in a process of its
own, so its memory is its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import zmq
from helpers import APP_CODE

import praas_kit
from praas_kit import wire
from praas_kit.keys import KeyPair, curve_client


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_wrong_token_flood_is_bounded_and_calls_still_answer(tmp_path) -> None:
    from praas_kit._net import free_port

    port = free_port()
    env = dict(os.environ, PRAAS_HOME=str(tmp_path))
    server = subprocess.Popen([sys.executable, "-m", "praas_kit.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    flooder = None
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "token").exists() or not (tmp_path / "endpoint.json").exists():
            assert time.monotonic() < deadline and server.poll() is None, "praas serve did not come up"
            time.sleep(0.2)
        cp = praas_kit.connect(f"http://127.0.0.1:{port}", token=(tmp_path / "token").read_text().strip())
        with cp:
            while True:
                try:
                    cp.healthz()
                    break
                except praas_kit.PraasError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            app = cp.create_application("flood", code=APP_CODE)
            app.create_process("p")
            assert app.invoke("echo", b"warm", process="p").payload == b"warm"
            gateway = cp.gateway()
            assert gateway is not None
            before = _rss_mib(server.pid)
            flooder = zmq.Context.instance().socket(zmq.DEALER)
            flooder.setsockopt(zmq.LINGER, 0)
            flooder.setsockopt(zmq.SNDHWM, 0)  # the attacker queues as much as it likes on its side
            curve_client(flooder, gateway.server_key, KeyPair.new())
            flooder.connect(gateway.address)
            frame = [wire.header("call", id="x", app="flood", fn="echo", tok="wrong"), b"x" * 1024]
            sent, slowest, t_end = 0, 0.0, time.monotonic() + 4.0
            while time.monotonic() < t_end:
                for _ in range(2000):
                    flooder.send_multipart(frame, copy=False)
                sent += 2000
                if sent % 20_000 == 0:  # a legitimate call, through the same gateway, during the flood
                    t0 = time.perf_counter()
                    assert app.invoke("echo", b"still here", process="p").payload == b"still here"
                    slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(1.0)  # let the control plane take what reached it
            grown = _rss_mib(server.pid) - before
            t0 = time.perf_counter()
            assert app.invoke("echo", b"after", process="p").payload == b"after"
            after = time.perf_counter() - t0
    finally:
        if flooder is not None:
            flooder.close(linger=0)
        server.terminate()
        server.wait(30)
    assert sent >= 20_000
    assert grown < 150, f"the control plane grew by {grown:.0f} MiB under {sent} flooded calls"
    assert slowest < 2.0 and after < 1.0, (slowest, after)
