"""A notebook's parameters and where it reads and writes: quick mode and the backend from the environment, the
shipped examples, the results folder.

* :func:`default_quick` / :func:`default_backend`: the defaults of a notebook's ``parameters`` cell, from
  ``PRAAS_QUICK`` (``0`` for full mode) and ``PRAAS_BACKEND`` (``local`` | ``docker``; unset: docker when
  the engine and images are there), so ``PRAAS_BACKEND=local pytest --nbval-lax notebooks/`` runs the
  series without Docker.
"""

from __future__ import annotations

import os
from pathlib import Path

from praas_kit.checkout import checkout_path, in_checkout
from praas_kit.errors import InvalidArgument

BACKENDS = ("local", "docker")

#: the shipped example applications: ``PRAAS_EXAMPLES`` (the Docker lab sets it), else the source checkout's
EXAMPLES = Path(os.environ.get("PRAAS_EXAMPLES") or checkout_path("examples"))


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
        from praas_kit.engines import docker as docker_engine
        from praas_kit.engines import images as image_names

        client = docker_engine.connect()
        try:
            client.images.get(image_names.PROCESS)
            return True
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no SDK, no engine, no image: not ready
        return False


def results_dir(benchmark: str, backend: str, quick: bool) -> Path:
    """Where a notebook writes a benchmark's results: ``results/quick/<benchmark>/<backend>`` in quick mode
    (not committed), ``results/<benchmark>/<backend>`` in full mode (the committed full runs)."""
    root = in_checkout("results", what="results/")
    return (root / "quick" if quick else root) / benchmark / backend


__all__ = ["BACKENDS", "EXAMPLES", "default_quick", "default_backend", "docker_ready", "results_dir"]
