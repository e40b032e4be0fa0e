"""Docker deployment benchmarks (``praas bench --backend docker``): container cold start, host -> container
invocation against a raw pyzmq round trip to a container, swap bandwidth to S3 (Swift) and to the
directory store, and image sizes. Results: ``<out>/docker.csv`` + ``docker.meta.json``; the figures are those of
:func:`praas_kit.bench.core.summarise`.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from praas_kit.bench.baselines import RawEchoContainer
from praas_kit.bench.common import BenchRun, Row
from praas_kit.bench.harness import BENCH_APP, deployment, deployment_network, finish, start
from praas_kit.bench.series import cold_start_row, invoke_rows, swap_rows
from praas_kit.engines import docker as docker_engine
from praas_kit.engines import images as image_names

log = logging.getLogger("praas_kit.bench.docker")


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
    started = start("docker")
    reps = {10: 300, 1024: 200, 100 * 1024: 60, 1 << 20: 30, 5 << 20: 10} if quick else \
        {10: 2000, 1024: 2000, 100 * 1024: 500, 1 << 20: 100, 5 << 20: 100}
    rounds, cold_reps, swap_reps = (3, 5, 2) if quick else (5, 20, 5)
    swap_sizes = [1, 10, 100]
    params = {"quick": quick, "backend": "docker", "reps": reps, "rounds": rounds, "cold_reps": cold_reps,
              "swap_sizes_mib": swap_sizes, "swap_reps": swap_reps}
    rows: list[Row] = []
    with ExitStack() as stack:
        steps = stack.enter_context(tqdm(total=4, desc="praas bench docker", unit="step"))
        client = docker_engine.connect()
        stack.callback(client.close)
        with deployment("docker", swap="s3") as cp:
            rows += image_rows(client)
            app = cp.create_application("bench", code=BENCH_APP)
            p = app.create_process("echo", vcpus=1.0, memory_mb=1024)
            raw = RawEchoContainer(client, deployment_network(cp))
            try:
                rows += invoke_rows(p, raw, reps, rounds)
            finally:
                raw.close()
            steps.update()
            rows.append(cold_start_row(app, "docker", cold_reps))
            steps.update()
            rows += swap_rows(app, "s3", swap_sizes, swap_reps)
            steps.update()
        with deployment("docker", swap="dir") as cp:
            app = cp.create_application("bench", code=BENCH_APP)
            rows += swap_rows(app, "dir", swap_sizes, swap_reps)
            steps.update()
    return finish(rows, out, "docker", params, started=started)
