"""The S3 part of the scaling measurement (:mod:`praas_kit.bench.scaling`): PutObject/GetObject of small and
large objects by 1, 4 and 16 concurrent clients against one Swift S3 endpoint, and the S3 requests one swap-out
and one swap-in of a process make."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit.bench.common import Row, run_together

if TYPE_CHECKING:
    from praas_kit.tools.services import SwiftS3Server

log = logging.getLogger("praas_kit.bench.scaling")

#: S3 object sizes (bytes) and concurrent clients
S3_SIZES = (1 << 10, 100 << 10, 10 << 20)
S3_CLIENTS = (1, 4, 16)
#: the state (bytes) of the process whose swap-out and swap-in S3 requests are counted
SWAP_STATE = 1 << 20
BUCKET, SWAP_APP = "praas-bench-scaling", "scale"


def _s3_cell(s3: list[Any], size: int, clients: int, requests: int) -> list[Row]:
    """PUT, GET (timed) and DELETE (untimed) ``requests`` objects of ``size`` bytes, split over ``clients`` threads,
    each with its own boto3 client from ``s3``; a ``s3-put`` and a ``s3-get`` row of per-request seconds, with the
    aggregate rate in ``extra``."""
    body = os.urandom(size)
    per = max(1, requests // clients)
    keys = [[f"{size}/{clients}/{c}/{i}" for i in range(per)] for c in range(clients)]
    rows = []
    for op in ("put", "get", "delete"):  # one by one: Swift wants Content-MD5 on a batch delete

        def one_client(c: int, op: str = op) -> list[float]:
            latencies = []
            for key in keys[c]:
                t0 = time.perf_counter()
                if op == "put":
                    s3[c].put_object(Bucket=BUCKET, Key=key, Body=body)
                elif op == "get":
                    got = s3[c].get_object(Bucket=BUCKET, Key=key)["Body"].read()
                    assert len(got) == size
                else:
                    s3[c].delete_object(Bucket=BUCKET, Key=key)
                latencies.append(time.perf_counter() - t0)
            return latencies

        wall, latencies = run_together(clients, one_client)
        done = per * clients
        if op != "delete":
            rows.append(Row(f"s3-{op}", f"clients={clients}", size, "s", [v for lat in latencies for v in lat],
                            {"clients": clients, "requests": done, "wall_s": wall, "ops_per_s": done / wall,
                             "mib_per_s": done * size / wall / (1 << 20)}))
    return rows


def _swap_requests(server: SwiftS3Server, tmp: Path) -> list[Row]:
    """S3 requests (HTTP, counted in botocore) of one swap-out and one swap-in of a process holding
    :data:`SWAP_STATE` bytes in one state object, through the real snapshot code and :class:`S3Store`."""
    from praas_kit.process.mailbox import Mailbox
    from praas_kit.process.snapshot import restore_snapshot, write_snapshot
    from praas_kit.process.state import StateStore
    from praas_kit.storage.base import new_snapshot_id
    from praas_kit.storage.s3 import S3Store

    store = S3Store(server.endpoint, BUCKET, server.access_key, server.secret_key, server.region)
    count = [0]

    def counted(**_: Any) -> None:
        count[0] += 1

    store._client.meta.events.register("before-send.s3", counted)
    state = StateStore()
    state.put("state", os.urandom(SWAP_STATE))
    key = os.urandom(32)  # the process's snapshot key (a control plane derives it from the application's)
    (tmp / "sd").mkdir(exist_ok=True)
    out = []
    try:
        for phase in ("swap-out", "swap-in"):
            count[0] = 0
            t0 = time.perf_counter()
            if phase == "swap-out":
                write_snapshot(store, SWAP_APP, "pool-0", new_snapshot_id(), state, Mailbox(), tmp / "sd", key)
            else:
                latest = store.latest(SWAP_APP, "pool-0")
                assert latest is not None
                restore_snapshot(store, SWAP_APP, "pool-0", latest, StateStore(), Mailbox(), tmp / "sd", key)
            out.append(Row("s3-swap", phase, SWAP_STATE, "requests", [float(count[0])],
                           {"seconds": time.perf_counter() - t0}))
        store.delete(SWAP_APP, "pool-0")
    finally:
        store.close()
    return out


def s3_rows(tmp: Path, quick: bool) -> list[Row]:
    """Every (size, clients) cell of :data:`S3_SIZES` x :data:`S3_CLIENTS`, then the requests of one swap."""
    from praas_kit.tools.services import SwiftS3Server

    rows: list[Row] = []
    with SwiftS3Server() as server:
        server.client().create_bucket(Bucket=BUCKET)
        s3 = [server.client(max_pool_connections=4) for _ in range(max(S3_CLIENTS))]
        for client in s3:  # connected and signed once before any clock starts
            client.head_bucket(Bucket=BUCKET)
        cells = [(size, c) for size in S3_SIZES for c in S3_CLIENTS]
        for size, clients in tqdm(cells, desc="S3", leave=False):
            requests = (8 if quick else 48) if size >= 1 << 20 else (32 if quick else 320)
            got = _s3_cell(s3, size, clients, max(requests, clients))
            rows += got
            log.info("S3 %d B x %d clients: PUT %.0f/s, GET %.0f/s", size, clients, got[0].extra["ops_per_s"],
                     got[1].extra["ops_per_s"])
        rows += _swap_requests(server, tmp)
    return rows


__all__ = ["s3_rows", "S3_SIZES", "S3_CLIENTS", "SWAP_STATE", "BUCKET"]
