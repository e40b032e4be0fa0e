"""What every benchmark stands on: a deployment for a backend, where Redis and S3 are, and the end of a run.

* :func:`deployment`: a control plane on ``local``, ``docker`` or ``swarm`` (one check, one message naming the
  valid ones), as a context manager;
* :func:`storage`: where the processes reach S3 and Redis: a deployment's own storage services when it has them
  (docker, swarm), else a Swift S3 server and a ``redis-server`` on this machine, stopped with the stack;
  :func:`s3_settings` is the one place the S3 settings a function receives are built;
* :func:`start` and :func:`finish`, a run's first and last step: check the backend against the benchmark's record
  and note the load average; save the rows (CSV + metadata, with the machine's load average at the start and the
  end of the run), draw the figure when matplotlib is there (else a log line: the CSV is kept), and the
  :class:`~praas_kit.bench.common.BenchRun`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from praas_kit.bench import BENCHMARKS, check_backend, common
from praas_kit.bench.common import LOAD_AVERAGE, STARTED, BenchRun, Row, load_average, save
from praas_kit.errors import BackendError, InvalidArgument, StorageError

if TYPE_CHECKING:
    from praas_kit.deploy.local import EmbeddedClient
    from praas_kit.sdk.client import ControlPlaneClient
    from praas_kit.storage.s3_endpoint import S3Endpoint

#: the backends a benchmark can deploy
DEPLOYABLE = ("local", "docker", "swarm")
#: the functions the benchmarks run inside processes (echo, noop, fill, ping-pong ...)
BENCH_APP = Path(__file__).parent / "benchapp.py"
log = logging.getLogger("praas_kit.bench")


@contextmanager
def deployment(backend: str, *, swap: str = "dir", redis: bool = False, **options: Any) -> Iterator[EmbeddedClient]:
    """A control plane on ``backend``, owned by the block: embedded with the local backend (``swap`` and
    ``redis`` do not apply: its storage is :func:`storage`'s), or the docker/swarm deployment with its swap store
    (``"dir"`` or ``"s3"``) and, with ``redis``, a Redis. ``options`` are control-plane settings
    (``dataplane_auth``, ``function_workers``, ``create_timeout``, ``swap_store``, ``backend_options``...)."""
    import praas_kit

    check_backend(backend, DEPLOYABLE)
    if backend == "local":
        with praas_kit.local(**options) as cp:
            yield cp
    elif backend == "docker":
        with praas_kit.docker_deployment(swap=swap, redis=redis, **options) as docker:
            yield docker
    else:
        with praas_kit.swarm_deployment(swap=swap, redis=redis, **options) as swarm:
            yield swarm


def deployment_network(cp: ControlPlaneClient) -> str:
    """The network of a docker or swarm deployment (where a baseline's containers join its processes)."""
    network = getattr(cp, "network", None)
    if not isinstance(network, str):
        raise InvalidArgument(f"{type(cp).__name__} is not a docker or swarm deployment: it has no network")
    return network


class Storage(NamedTuple):
    """Where the processes reach S3 and Redis (None: not there, or not asked for)."""

    s3: S3Endpoint | None
    redis_url: str | None


def storage(cp: ControlPlaneClient | None, stack: ExitStack, *, s3: bool = True, redis: bool = True,
            optional: bool = False) -> Storage:
    """Where the processes of ``cp`` reach S3 and Redis (those of ``s3``/``redis`` asked for): the deployment's own
    storage services when it has them (``cp.storage`` of a docker or swarm deployment; one it did not start is
    None), else a Swift S3 server and a ``redis-server`` started on this machine in ``stack`` (stopped when it
    closes). ``optional``: a local server that cannot start is None, with a warning, instead of an error."""
    own = getattr(cp, "storage", None)
    if own is not None:
        return Storage(own.s3 if s3 else None, own.redis_url if redis else None)
    from praas_kit.tools.services import RedisServer, SwiftS3Server

    def start(server: Callable[[], Any], what: str) -> Any:
        try:
            return stack.enter_context(server())
        except (BackendError, StorageError) as exc:
            if not optional:
                raise
            log.warning("no %s server for the benchmark: %s", what, exc)
            return None

    swift = start(SwiftS3Server, "S3") if s3 else None
    server = start(RedisServer, "Redis") if redis else None
    return Storage(swift.s3 if swift is not None else None, server.url if server is not None else None)


def s3_settings(s3: S3Endpoint, bucket: str) -> dict[str, Any]:
    """The S3 settings a function running in a process receives: ``{"endpoint", "access_key", "secret_key",
    "region", "bucket"}`` (also, with ``"kind": "s3"``, a swap store's spec). The one place they are built."""
    return s3.settings(bucket=bucket)


def create_bucket(s3: S3Endpoint, bucket: str) -> None:
    """Create ``bucket`` on ``s3`` (one that is there already, say from an earlier run, is fine)."""
    client = s3.client()
    try:
        client.create_bucket(Bucket=bucket)
    except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
        pass
    finally:
        client.close()


def security(dataplane_auth: str | tuple[str, ...]) -> tuple[str, ...]:
    """The data-plane security settings a run measures in turn: the one given, or each of several."""
    return (dataplane_auth,) if isinstance(dataplane_auth, str) else tuple(dataplane_auth)


@dataclass(frozen=True)
class RunStart:
    """What a run is at its start: when, the commit and the tree's state it runs from (``diff``: the tracked
    files' changes, ``""`` for a clean tree, ``None`` outside git), and the machine's load average."""

    at: str
    git_commit: str
    git_dirty: bool | None
    diff: str | None
    load: list[float] | None


def start(name: str, backend: str | None = None) -> RunStart:
    """The start of a run of benchmark ``name``: ``backend`` checked against its record (:class:`InvalidArgument`
    naming the valid ones); the code it runs from and the load average now, for :func:`finish`."""
    if backend is not None:
        BENCHMARKS[name].check_backend(backend)
    import time

    return RunStart(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), common.git_commit(), common.git_dirty(),
                    common.git_diff(), load_average())


#: writes a run's files: ``(rows, out, name, params) -> (csv, meta)``
Writer = Callable[[list[Row], Path, str, dict[str, Any]], tuple[Path, Path]]


def finish(rows: list[Row], out: Path, name: str, params: dict[str, Any],
           plot: Callable[[Path], list[Path]] | None = None, *, started: RunStart | None = None,
           write: Writer = save) -> BenchRun:
    """The end of a run: record the load average (at its start, :func:`start`'s ``started``, and now) in
    ``params``, and the commit and tree the run started from (the metadata's ``git_commit``/``git_dirty``;
    ``git_at_save`` if they changed while it ran; a dirty tree's diff saved as ``<name>.diff`` beside the result,
    named with its SHA-256 in ``started``); write ``<name>.csv`` + ``<name>.meta.json`` under ``out``
    (``write``); draw the figure with ``plot`` (skipped with a warning without matplotlib: the CSV is kept)."""
    params[LOAD_AVERAGE] = {"start": started.load if started else None, "end": load_average()}
    out = Path(out)
    if started is not None:
        diff_file = None
        if started.diff:
            import hashlib

            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.diff").write_text(started.diff)
            diff_file = {"file": f"{name}.diff", "sha256": hashlib.sha256(started.diff.encode()).hexdigest()}
        params[STARTED] = {"at": started.at, "git_commit": started.git_commit, "git_dirty": started.git_dirty,
                           "diff": diff_file}
    csv_path, meta_path = write(rows, out, name, params)
    if plot is not None:
        try:
            log.info("figure %s", ", ".join(str(f) for f in plot(csv_path)))
        except ImportError:
            log.warning("matplotlib is not installed (pip install 'praas-kit[plots]'): no figure drawn")
    return BenchRun(rows, csv_path, meta_path)


__all__ = ["deployment", "deployment_network", "storage", "Storage", "s3_settings", "create_bucket", "security",
           "start", "finish", "RunStart", "BENCH_APP", "DEPLOYABLE"]
