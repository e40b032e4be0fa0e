"""Docker deployment benchmarks (``praas bench --backend docker``): container cold start, host -> container
invocation against a raw pyzmq round trip to a container, swap bandwidth to S3 (Swift) and to the
directory store, and image sizes. Results: ``<out>/docker.csv`` + ``docker.meta.json``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import zmq
from tqdm.auto import tqdm

from praas_kit import wire
from praas_kit.bench.common import BenchRun, Row, save
from praas_kit.bench.core import BENCH_APP, RawEcho, cold_start_row, invoke_rows, swap_rows
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names
from praas_kit.keys import KeyPair, curve_client

log = logging.getLogger("praas_kit.bench.docker")


class RawEchoContainer:
    """The raw pyzmq echo server in a container of the process image (same network path as a process)."""

    def __init__(self, client: Any, network: str, image: str = image_names.PROCESS, curve: bool = True) -> None:
        server = KeyPair.new() if curve else None
        cmd = [image_names.RUNTIME_PYTHON, "-m", "praas_kit.bench.raw_echo", "--bind", "tcp://*:9100"]
        if server is not None:
            cmd += ["--curve-secret", server.secret]
        self.container = client.containers.run(image, entrypoint=cmd, detach=True, network=network,
                                               labels={image_names.LABEL: "1"}, user=image_names.RUN_AS)
        self.container.reload()
        ip = self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        self.sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if server is not None:
            curve_client(self.sock, server.public, KeyPair.new())
        self.sock.connect(f"tcp://{ip}:9100")
        deadline = time.monotonic() + 30
        while True:  # wait until the server answers
            self.sock.send_multipart([wire.header("inv", id="w", fn="echo"), b""])
            if int(self.sock.poll(500)):
                self.sock.recv_multipart()
                break
            if time.monotonic() > deadline:
                raise TimeoutError("raw echo container did not answer")

    def call(self, payload: bytes) -> None:
        self.sock.send_multipart([RawEcho.HEADER, payload], copy=len(payload) < 65536)
        self.sock.recv_multipart(copy=False)

    def close(self) -> None:
        self.sock.close()
        self.container.remove(force=True)


def image_rows(client: Any) -> list[Row]:
    """Sizes of the project's images (bytes)."""
    rows = []
    for name in image_names.ALL:
        try:
            img = client.images.get(name)
        except Exception:  # noqa: BLE001 - an image that is not built is simply not reported
            continue
        rows.append(Row("image-size", name, 0, "bytes", [float(img.attrs["Size"])]))
    return rows


def run_docker_benchmarks(out: Path, quick: bool = True) -> BenchRun:
    """Run the docker figures and save ``docker.csv`` + ``docker.meta.json`` under ``out``."""
    import praas_kit

    reps = {10: 300, 1024: 200, 100 * 1024: 60, 1 << 20: 30, 5 << 20: 10} if quick else \
        {10: 2000, 1024: 2000, 100 * 1024: 500, 1 << 20: 100, 5 << 20: 100}
    rounds, cold_reps, swap_reps = (3, 5, 2) if quick else (5, 20, 5)
    swap_sizes = [1, 10, 100]
    params = {"quick": quick, "backend": "docker", "reps": reps, "rounds": rounds, "cold_reps": cold_reps,
              "swap_sizes_mib": swap_sizes, "swap_reps": swap_reps}
    rows: list[Row] = []
    steps = tqdm(total=4, desc="praas bench docker", unit="step")
    client = docker_engine.connect()
    with praas_kit.docker_deployment(swap="s3") as cp:
        rows += image_rows(client)
        app = cp.create_application("bench", code=BENCH_APP)
        p = app.create_process("echo", vcpus=1.0, memory_mb=1024)
        raw = RawEchoContainer(client, cp.network)
        try:
            rows += invoke_rows(p, raw, reps, rounds)
        finally:
            raw.close()
        steps.update()
        rows.append(cold_start_row(app, "docker", cold_reps))
        steps.update()
        rows += swap_rows(app, "s3", swap_sizes, swap_reps)
        steps.update()
    with praas_kit.docker_deployment(swap="dir") as cp:
        app = cp.create_application("bench", code=BENCH_APP)
        rows += swap_rows(app, "dir", swap_sizes, swap_reps)
        steps.update()
    steps.close()
    client.close()
    csv_path, meta_path = save(rows, out, "docker", params)
    return BenchRun(rows, csv_path, meta_path)
