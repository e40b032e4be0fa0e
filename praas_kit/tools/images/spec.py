"""What the image builder builds: the image specs, results, the build plan, and where things are.

See :mod:`praas_kit.tools.images` for the overview.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praas_kit.checkout import checkout_root
from praas_kit.engines import images as image_names
from praas_kit.errors import BackendError

TAG = image_names.TAG
OFFLINE_BASE = image_names.OFFLINE_BASE
DEFAULT_BASE = "python:3.11-slim-bookworm"
HASH_LABEL = "praas-kit.hash"
#: Label of the venv stage of process.Dockerfile (an untagged image that is Docker's layer cache).
STAGE_LABEL = "praas-kit.stage"
#: Bump to rebuild every image after a change of this module's recipe.
RECIPE_VERSION = "1"
#: Extras of praas-kit installed in the venv of the images.
RUNTIME_EXTRAS = ("docker", "s3", "baselines", "kmeans")
#: Extra packages of the Jupyter image.
JUPYTER_PACKAGES = ("jupyterlab", "matplotlib", "ipywidgets")
#: The glibc of Debian bookworm, assumed when the base image's Python cannot tell its own.
TARGET_GLIBC = "2_36"

#: Context directories: dependency wheels (+ requirements.txt), the praas-kit wheel, Jupyter's wheels.
WHEELS = "wheels"
PRAAS_WHEEL = "praas-kit"
JUPYTER_WHEELS = "jupyter-wheels"


@dataclass(frozen=True)
class ImageSpec:
    """How one image is built."""

    name: str
    dockerfile: str
    #: ``None``: built on the base image (``BASE_IMAGE``); otherwise the name of a praas image
    #: passed as ``PROCESS_IMAGE``.
    parent: str | None
    #: Context directories (under docker/context/) that the Dockerfile copies.
    context_dirs: tuple[str, ...] = ()
    #: Whether the image contains the praas-kit venv (its hash covers the package sources).
    has_venv: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}:{TAG}"


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("praas-process", "process.Dockerfile", None, (WHEELS, PRAAS_WHEEL), has_venv=True),
    ImageSpec("praas-latex", "latex.Dockerfile", "praas-process"),
    ImageSpec("praas-controlplane", "controlplane.Dockerfile", "praas-process"),
    ImageSpec("praas-s3", "s3.Dockerfile", "praas-process"),
    ImageSpec("praas-redis", "redis.Dockerfile", None),
    ImageSpec("praas-jupyter", "jupyter.Dockerfile", "praas-process", (JUPYTER_WHEELS,)),
)
BY_NAME = {spec.name: spec for spec in IMAGES}


@dataclass
class ImageResult:
    """What :func:`build_images` did for one image."""

    name: str
    tag: str
    built: bool
    seconds: float
    size_bytes: int
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclass
class Plan:
    """State of one :func:`build_images` call."""

    repo: Path
    context: Path
    base: str
    client: Any
    progress_bar: Any = None
    wheels_ready: set[str] = field(default_factory=set)
    python_target: tuple[str, str, str] | None = None
    requirements: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


def repo_root() -> Path:
    """The source checkout holding ``docker/`` and ``pyproject.toml`` (``$PRAAS_REPO`` overrides)."""
    root = checkout_root()
    if root is not None and (root / "docker" / "process.Dockerfile").is_file():
        return root
    raise BackendError(
        "building images needs a praas-kit source checkout (docker/ and pyproject.toml); "
        "run from the repository or set PRAAS_REPO"
    )


def context_dir(repo: Path) -> Path:
    """Where wheels and build logs go: ``docker/context`` (``$PRAAS_IMAGE_CONTEXT`` overrides)."""
    override = os.environ.get("PRAAS_IMAGE_CONTEXT")
    return Path(override) if override else repo / "docker" / "context"


def image_attrs(client: Any, ref: str) -> dict[str, Any] | None:
    """``docker image inspect`` of ``ref``; None if there is no such image."""
    import docker.errors

    try:
        return dict(client.api.inspect_image(ref))
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise BackendError(f"cannot inspect image {ref}: {exc}") from exc


def status(plan: Plan, text: str) -> None:
    if plan.progress_bar is not None:
        plan.progress_bar.set_postfix_str(text[:60], refresh=True)


__all__ = ["IMAGES", "ImageSpec", "ImageResult", "Plan", "repo_root", "context_dir", "image_attrs", "status"]
