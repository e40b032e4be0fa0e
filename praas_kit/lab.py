"""What the notebooks share: their parameters, a deployment per backend, and an environment check.

* :func:`default_quick` / :func:`default_backend`: the defaults of a notebook's ``parameters`` cell, from
  ``PRAAS_QUICK`` (``0`` for full mode) and ``PRAAS_BACKEND`` (``local`` | ``docker``; unset: docker when
  the engine and images are there), so ``PRAAS_BACKEND=local pytest --nbval-lax notebooks/`` runs the
  series without Docker.
* :func:`deployment`: a control plane for a backend, as a context manager that tears everything down.
* :func:`environment`: what this machine offers the series (Docker engine, images, TeX, Redis, Swift S3),
  as rows of (component, available, detail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument

BACKENDS = ("local", "docker")
#: the shipped example applications: ``PRAAS_EXAMPLES`` (the Docker lab sets it), else the source checkout's
EXAMPLES = Path(os.environ.get("PRAAS_EXAMPLES") or Path(__file__).resolve().parents[1] / "examples")


def default_quick() -> bool:
    """Quick mode unless ``PRAAS_QUICK`` is ``0``/``false``/``no``."""
    return os.environ.get("PRAAS_QUICK", "1").strip().lower() not in ("0", "false", "no")


def default_backend() -> str:
    """``PRAAS_BACKEND`` if set (checked); else ``docker`` when a Docker engine with the process image is
    reachable, ``local`` otherwise."""
    backend = os.environ.get("PRAAS_BACKEND", "").strip().lower()
    if not backend:
        return "docker" if docker_ready() else "local"
    if backend not in BACKENDS:
        raise InvalidArgument(f"PRAAS_BACKEND={backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


def docker_ready() -> bool:
    """Whether a Docker engine answers and has the process image (``praas images build``)."""
    try:
        from praas_kit import docker_engine, image_names

        client = docker_engine.connect()
        try:
            client.images.get(image_names.PROCESS)
            return True
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no SDK, no engine, no image: not ready
        return False


@contextmanager
def deployment(backend: str, **options: Any) -> Iterator[Any]:
    """A connected client owning a control plane on ``backend``: ``local`` (embedded, no Docker) or ``docker``
    (control plane plus S3 and Redis containers on a network of its own). Everything it started is removed
    when the block ends, also after an error."""
    import praas_kit

    if backend not in BACKENDS:
        raise InvalidArgument(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "docker":
        with praas_kit.docker_deployment(swap=options.pop("swap", "s3"), redis=options.pop("redis", True),
                                         **options) as cp:
            yield cp
    else:
        with praas_kit.local(**options) as cp:
            yield cp


def results_dir(benchmark: str, backend: str, quick: bool) -> Path:
    """Where a notebook writes a benchmark's results: ``results/quick/<benchmark>/<backend>`` in quick mode
    (not committed), ``results/<benchmark>/<backend>`` in full mode (the committed full runs)."""
    root = Path(__file__).resolve().parents[1] / "results"
    return (root / "quick" if quick else root) / benchmark / backend


def containers() -> list[dict[str, str]]:
    """The running containers praas-kit started (label ``praas-kit``): name, image, status."""
    from praas_kit import docker_engine

    client = docker_engine.connect()
    try:
        return [{"name": c.name, "image": (c.image.tags or [c.image.short_id])[0], "status": c.status}
                for c in client.containers.list(filters={"label": "praas-kit"})]
    finally:
        client.close()


@dataclass(frozen=True)
class Component:
    """One thing the series may use."""

    name: str
    available: bool
    detail: str
    needed_for: str


def _which(*names: str) -> str | None:
    for n in names:
        found = shutil.which(n) or next((str(Path(d, n)) for d in ("/usr/bin", "/usr/sbin") if Path(d, n).exists()),
                                        None)
        if found:
            return found
    return None


def environment() -> list[Component]:
    """What this machine offers: Docker engine and images, TeX, redis-server, Swift (the S3 server)."""
    from praas_kit import image_names

    out = []
    engine, images = False, "no engine"
    try:
        from praas_kit import docker_engine

        client = docker_engine.connect()
        version = client.version().get("Version", "?")
        engine = True
        have = {t for i in client.images.list() for t in i.tags}
        missing = [ref for ref in (image_names.PROCESS, image_names.LATEX, image_names.S3, image_names.REDIS)
                   if ref not in have]
        images = "all built" if not missing else "missing: " + ", ".join(missing) + " (praas images build)"
        client.close()
        out.append(Component("Docker engine", True, f"version {version}", "the docker backend"))
    except Exception as exc:  # noqa: BLE001 - reported as unavailable
        out.append(Component("Docker engine", False, str(exc).splitlines()[0][:120], "the docker backend"))
    out.append(Component("praas images", engine and images == "all built", images, "the docker backend"))
    tex = _which("latexmk")
    detail = "not installed (apt-get install latexmk texlive-latex-extra texlive-publishers ...)"
    if tex:
        done = subprocess.run([tex, "-v"], capture_output=True, text=True, timeout=30)
        detail = (done.stdout.strip().splitlines() or ["latexmk"])[-1]
    out.append(Component("TeX (latexmk)", tex is not None, detail, "the LaTeX service on the local backend"))
    redis = _which("redis-server")
    out.append(Component("redis-server", redis is not None, redis or "not installed (apt-get install redis-server)",
                         "Redis baselines on the local backend"))
    swift = _which("swift-proxy-server")
    out.append(Component("Swift S3 server", swift is not None,
                         swift or "not installed (apt-get install swift swift-proxy swift-account ...)",
                         "S3 baselines and the FaaS LaTeX variant on the local backend"))
    return out


def environment_table(components: list[Component] | None = None) -> str:
    """:func:`environment` as Markdown (for ``IPython.display.Markdown``)."""
    rows = components if components is not None else environment()
    lines = ["| component | available | detail | needed for |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.available else '**no**'} | {c.detail} | {c.needed_for} |" for c in rows]
    return "\n".join(lines)


__all__ = ["default_quick", "default_backend", "docker_ready", "containers", "EXAMPLES", "deployment", "results_dir",
           "environment", "environment_table", "Component", "BACKENDS"]
