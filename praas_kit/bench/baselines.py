"""The baselines the benchmarks share: the raw pyzmq echo (the transport's limit, as a host subprocess or as a
container on a deployment's network), the no-op throughput from client processes, and a CPU hog beside a run.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import zmq

from praas_kit import wire
from praas_kit.bench.common import Target
from praas_kit.bench.harness import deployment_network
from praas_kit.keys import KeyPair, curve_client

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    from praas_kit.sdk.client import ControlPlaneClient

#: no-op invocations per second on one process from 8 client processes (``praas bench``, ``invocations``)
THROUGHPUT = Target(">=", 12000, " /s", ",.0f")


class _RawSocket:
    """A client of the raw echo server: a DEALER socket (CurveZMQ with the server's ``public`` key, if any)."""

    HEADER = wire.invoke_header("1", "echo")

    def _connect(self, endpoint: str, public: str | None) -> None:
        self.sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if public is not None:
            curve_client(self.sock, public, KeyPair.new())
        self.sock.connect(endpoint)

    def call(self, payload: bytes) -> None:
        self.sock.send_multipart([self.HEADER, payload], copy=len(payload) < 65536)
        self.sock.recv_multipart(copy=False)


def _server_argv(python: str, bind: str) -> list[str]:
    return [python, "-m", "praas_kit.bench.raw_echo", "--bind", bind]


def _secret(server: KeyPair | None) -> list[str]:
    """The echo server's arguments for CurveZMQ with ``server``'s secret key (none without)."""
    return ["--curve-secret", server.secret] if server is not None else []


class RawEcho(_RawSocket):
    """A raw pyzmq echo server in a subprocess (the transport baseline): the same two frames, no runtime."""

    def __init__(self, bind: str = "tcp://127.0.0.1:0", argv: list[str] | None = None, curve: bool = False) -> None:
        server = KeyPair.new() if curve else None
        cmd = list(argv or _server_argv(sys.executable, bind)) + _secret(server)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()
        self._connect(self.endpoint, server.public if server is not None else None)

    def close(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait(10)


class RawEchoContainer(_RawSocket):
    """The raw pyzmq echo server in a container of the process image (same network path as a process)."""

    def __init__(self, client: Any, network: str, image: str | None = None, curve: bool = True) -> None:
        from praas_kit.engines import images as image_names

        server = KeyPair.new() if curve else None
        cmd = _server_argv(image_names.RUNTIME_PYTHON, "tcp://*:9100") + _secret(server)
        self.container = client.containers.run(image or image_names.PROCESS, entrypoint=cmd, detach=True,
                                               network=network, labels={image_names.LABEL: "1"},
                                               user=image_names.RUN_AS)
        self.container.reload()
        ip = self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        self._connect(f"tcp://{ip}:9100", server.public if server is not None else None)
        deadline = time.monotonic() + 30
        while True:  # wait until the server answers
            self.sock.send_multipart([wire.header("inv", id="w", fn="echo"), b""])
            if int(self.sock.poll(500)):
                self.sock.recv_multipart()
                break
            if time.monotonic() > deadline:
                raise TimeoutError("raw echo container did not answer")

    def close(self) -> None:
        self.sock.close()
        self.container.remove(force=True)


def raw_echo(backend: str, cp: ControlPlaneClient, curve: bool, stack: ExitStack) -> RawEcho | RawEchoContainer:
    """The raw echo server reached the way a process of ``cp`` is (a host subprocess, or a container on the
    docker deployment's network), closed with ``stack``."""
    raw: RawEcho | RawEchoContainer
    if backend == "docker":
        from praas_kit.engines import docker as docker_engine

        client = docker_engine.connect()
        stack.callback(client.close)
        raw = RawEchoContainer(client, deployment_network(cp), curve=curve)
    else:
        raw = RawEcho(curve=curve)
    stack.callback(raw.close)
    return raw


def _throughput_client(address: str, seconds: float, start: Event, out: Queue[tuple[int, float]],
                       server_key: str | None, client: KeyPair | None) -> None:
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key and client is not None:
        curve_client(sock, server_key, client)
    sock.connect(address)
    hdr = wire.header("inv", id="t", fn="noop")
    for _ in range(20):
        sock.send_multipart([hdr, b""])
        sock.recv_multipart()
    start.wait()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sock.send_multipart([hdr, b""])
        sock.recv_multipart()
        n += 1
    out.put((n, time.perf_counter() - t0))
    sock.close()


def throughput(address: str, clients: int = 8, seconds: float = 3.0, server_key: str | None = None,
               client: KeyPair | None = None) -> float:
    """No-op invocations per second on one process from ``clients`` concurrent client processes."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_throughput_client, args=(address, seconds, start, out, server_key, client))
             for _ in range(clients)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    results: list[tuple[int, float]] = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(30)
    return sum(n for n, _ in results) / max(t for _, t in results)


def _hog(stop: Event) -> None:  # pragma: no cover - runs in a child process
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


class Contention:
    """A CPU-bound process beside the benchmark, for as long as the ``with`` block lasts."""

    def __enter__(self) -> Contention:
        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self.proc = ctx.Process(target=_hog, args=(self.stop,), daemon=True)
        self.proc.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


__all__ = ["RawEcho", "RawEchoContainer", "raw_echo", "throughput", "Contention", "THROUGHPUT"]
