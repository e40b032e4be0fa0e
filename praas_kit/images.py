"""Build the Docker images of praas-kit, in dependency order, skipping those that are up to date.

Images (all tagged ``latest``):

========================  ==========================================================  ============
image                     what                                                        built on
========================  ==========================================================  ============
``praas-process``         the process runtime (venv /opt/praas, user ``praas``)        base image
``praas-latex``           process runtime + TeX Live (pdflatex, latexmk, acmart)       praas-process
``praas-controlplane``    ``praas serve`` on port 8080                                 praas-process
``praas-s3``              Swift + s3api on port 9000 (:mod:`praas_kit.services`)       praas-process
``praas-redis``           redis-server on port 6379, no persistence                    base image
``praas-jupyter``         JupyterLab with matplotlib and ipywidgets on port 8888       praas-process
========================  ==========================================================  ============

The base image is chosen automatically: ``praas-base:local`` if it exists, else
``python:3.11-slim-bookworm`` if it exists or can be pulled, else ``praas-base:local`` is built
from Debian packages with ``docker/build-offline-base.sh`` (no registry needed).

Python packages are never fetched inside a build: the wheels of praas-kit and its dependencies are
built on the host into ``docker/context/`` (``praas-kit/`` with ``pip wheel``, ``wheels/`` and
``jupyter-wheels/`` with ``pip download`` for the image's Python version and platform), and each
image's build context holds only its Dockerfile and the wheels it needs.

An image is skipped when its label ``praas-kit.hash`` equals the hash of its inputs: the
Dockerfile, the build arguments, the id of the image it is built on, and for images with the
praas-kit venv the package sources, ``pyproject.toml`` and the extra requirements.

Use :func:`build_images` from Python, ``python -m praas_kit.images [build] [--force] [--only NAME...]``
from a shell, or :func:`main` as the body of ``praas images build``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any

from praas_kit.errors import BackendError

log = logging.getLogger("praas_kit.images")

__all__ = ["IMAGES", "ImageResult", "ImageSpec", "build_images", "choose_base", "format_results", "main"]

TAG = "latest"
OFFLINE_BASE = "praas-base:local"
DEFAULT_BASE = "python:3.11-slim-bookworm"
HASH_LABEL = "praas-kit.hash"
#: Label of the venv stage of process.Dockerfile (an untagged image that is Docker's layer cache).
STAGE_LABEL = "praas-kit.stage"
#: Bump to rebuild every image after a change of this module's recipe.
RECIPE_VERSION = "1"
#: Extras of praas-kit installed in the venv of the images.
RUNTIME_EXTRAS = ("docker", "s3", "baselines")
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
_BY_NAME = {spec.name: spec for spec in IMAGES}


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
class _Plan:
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


# -- locating things ---------------------------------------------------------------------------


def repo_root() -> Path:
    """The source checkout holding ``docker/`` and ``pyproject.toml`` (``$PRAAS_REPO`` overrides)."""
    candidates = [Path(os.environ["PRAAS_REPO"])] if os.environ.get("PRAAS_REPO") else []
    candidates.append(Path(__file__).resolve().parent.parent)
    for root in candidates:
        if (root / "docker" / "process.Dockerfile").is_file() and (root / "pyproject.toml").is_file():
            return root
    raise BackendError(
        "building images needs a praas-kit source checkout (docker/ and pyproject.toml); "
        "run from the repository or set PRAAS_REPO"
    )


def context_dir(repo: Path) -> Path:
    """Where wheels and build logs go: ``docker/context`` (``$PRAAS_IMAGE_CONTEXT`` overrides)."""
    override = os.environ.get("PRAAS_IMAGE_CONTEXT")
    return Path(override) if override else repo / "docker" / "context"


def _docker_client() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise BackendError("the docker SDK is not installed: pip install 'praas-kit[docker]'") from exc
    try:
        client = docker.from_env(timeout=3600)
        client.ping()
    except Exception as exc:
        raise BackendError(
            f"the Docker engine does not answer ({exc}); start it with scripts/dockerd.sh start"
        ) from exc
    return client


def _image_attrs(client: Any, ref: str) -> dict[str, Any] | None:
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


# -- base image -------------------------------------------------------------------------------


def choose_base(client: Any, base: str | None = None,
                repo: Path | None = None) -> tuple[str, ImageResult | None]:
    """The base image to build on, and an :class:`ImageResult` if the offline base was built now.

    Order: ``base`` (or ``$PRAAS_BASE_IMAGE``), else ``praas-base:local`` if present, else
    ``python:3.11-slim-bookworm`` if present or pullable, else ``praas-base:local`` built by
    ``docker/build-offline-base.sh``.
    """
    wanted = base or os.environ.get("PRAAS_BASE_IMAGE") or None
    if wanted:
        if wanted == OFFLINE_BASE and _image_attrs(client, wanted) is None:
            return wanted, _build_offline_base(client, repo or repo_root())
        if _image_attrs(client, wanted) is None and not _pull(client, wanted):
            raise BackendError(f"base image {wanted} is not present and cannot be pulled")
        return wanted, None
    if _image_attrs(client, OFFLINE_BASE) is not None:
        return OFFLINE_BASE, None
    if _image_attrs(client, DEFAULT_BASE) is not None or _pull(client, DEFAULT_BASE):
        return DEFAULT_BASE, None
    log.info("no registry reachable: building %s from Debian packages", OFFLINE_BASE)
    return OFFLINE_BASE, _build_offline_base(client, repo or repo_root())


def _pull(client: Any, ref: str) -> bool:
    repository, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    log.info("pulling %s", ref)
    try:
        client.images.pull(repository, tag=tag)
    except Exception as exc:  # no registry, no network, unknown image: all mean "not available"
        log.info("cannot pull %s: %s", ref, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return False
    return True


def _build_offline_base(client: Any, repo: Path) -> ImageResult:
    script = repo / "docker" / "build-offline-base.sh"
    t0 = time.monotonic()
    output: collections.deque[str] = collections.deque(maxlen=30)
    with subprocess.Popen(["bash", str(script), "--tag", OFFLINE_BASE], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            log.info("%s", line.rstrip())
    if proc.returncode != 0:
        tail = "\n".join(output)
        raise BackendError(f"building {OFFLINE_BASE} failed (exit {proc.returncode}):\n{tail}")
    attrs = _image_attrs(client, OFFLINE_BASE)
    if attrs is None:
        raise BackendError(f"{script.name} finished but {OFFLINE_BASE} does not exist")
    name, _, tag = OFFLINE_BASE.partition(":")
    return ImageResult(name, tag, True, time.monotonic() - t0, int(attrs.get("Size", 0)), str(attrs["Id"]))


# -- input hashes -----------------------------------------------------------------------------


def _source_files(repo: Path) -> Iterator[Path]:
    """The files that go into the praas-kit wheel (package sources, pyproject, readme)."""
    for name in ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in"):
        if (repo / name).is_file():
            yield repo / name
    package = repo / "praas_kit"
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            yield path


def _input_hash(spec: ImageSpec, repo: Path, build_args: dict[str, str], parent_id: str) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("recipe", RECIPE_VERSION.encode())
    add("spec", json.dumps([spec.name, spec.dockerfile, spec.parent, spec.context_dirs]).encode())
    add("dockerfile", (repo / "docker" / spec.dockerfile).read_bytes())
    add("args", json.dumps(build_args, sort_keys=True).encode())
    add("parent", parent_id.encode())
    if spec.has_venv:
        add("extras", ",".join(RUNTIME_EXTRAS).encode())
        for path in _source_files(repo):
            add(str(path.relative_to(repo)), path.read_bytes())
    if JUPYTER_WHEELS in spec.context_dirs:
        add("jupyter", ",".join(JUPYTER_PACKAGES).encode())
    return digest.hexdigest()


# -- wheels -----------------------------------------------------------------------------------


def _pip(args: Sequence[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    log.debug("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env={**os.environ, "PIP_NO_INPUT": "1"})
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise BackendError(f"{what} failed (pip exit {proc.returncode}):\n{tail}")


def _image_python(plan: _Plan) -> tuple[str, str, str]:
    """(full version ``X.Y.Z``, machine, glibc ``MAJOR_MINOR``) of the base image's ``python3``."""
    if plan.python_target is None:
        code = ("import platform, sys; v = platform.libc_ver()[1] or '" + TARGET_GLIBC.replace("_", ".")
                + "'; print(platform.python_version(), platform.machine(), v.replace('.', '_'))")
        try:
            out = plan.client.containers.run(plan.base, ["python3", "-c", code], entrypoint="", remove=True)
        except Exception as exc:
            raise BackendError(f"cannot run python3 in the base image {plan.base}: {exc}") from exc
        version, machine, glibc = out.decode().split()
        plan.python_target = (version, machine, glibc)
    return plan.python_target


def _target_download(version: str, machine: str, glibc: str) -> list[str]:
    """``pip download`` options for binary wheels for the image's Python and platform.

    pip does not widen a ``manylinux_2_X`` platform to the older ones, so all are listed.
    """
    major, minor = (int(part) for part in glibc.split("_")[:2])
    platforms = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 4, -1)]
    platforms += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    options = ["download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", version]
    for tag in platforms:
        options += ["--platform", tag]
    return options


def _fetch_wheels(plan: _Plan, requirements: Sequence[str], dest: Path, what: str) -> None:
    """Wheels of ``requirements`` and their dependencies into ``dest``, for the image's Python.

    pip on the host downloads binary wheels for the image's Python version and platform (so that
    ``Requires-Python`` is checked against the image's interpreter, which may be older than the
    host's). pip still evaluates environment markers for the host's interpreter, so the result is
    checked with the image's own pip (a dry-run install from ``dest``), and whatever that reports
    missing (say a backport needed below Python 3.11.3) is fetched until nothing is.
    """
    version, machine, glibc = _image_python(plan)
    download = _target_download(version, machine, glibc)
    _pip([*download, "--dest", str(dest), *requirements], what)
    for _ in range(10):
        missing = _missing_in_image(plan, requirements, dest)
        if not missing:
            return
        log.info("the image's Python also needs: %s", ", ".join(missing))
        plain = [m.split(";", 1)[0].strip() for m in missing]
        _pip([*download, "--dest", str(dest), *plain], what)
    raise BackendError(f"{what}: the wheels in {dest} still miss requirements of the image's Python")


def _missing_in_image(plan: _Plan, requirements: Sequence[str], wheels: Path) -> list[str]:
    """Requirements that the base image's pip cannot satisfy from ``wheels`` (a dry-run install)."""
    import docker.errors

    cmd = ["python3", "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
           "--disable-pip-version-check", "--find-links", "/wheels", *requirements]
    try:
        plan.client.containers.run(
            plan.base, cmd, entrypoint="", remove=True, network_disabled=True,
            volumes={str(wheels.resolve()): {"bind": "/wheels", "mode": "ro"}},
            environment={"PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_NO_INPUT": "1",
                         "PIP_ROOT_USER_ACTION": "ignore"},
        )
    except docker.errors.ContainerError as exc:
        output = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        missing = re.findall(r"No matching distribution found for (.+)", output)
        if not missing:
            tail = "\n".join(output.splitlines()[-20:])
            raise BackendError(f"checking the wheels with the image's pip failed:\n{tail}") from exc
        return [m.strip() for m in missing]
    except docker.errors.DockerException as exc:
        raise BackendError(f"cannot run pip in the base image {plan.base}: {exc}") from exc
    return []


def _runtime_requirements(wheel: Path) -> list[str]:
    """The requirements of the praas-kit wheel with :data:`RUNTIME_EXTRAS` (from its METADATA)."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    requirements = []
    for entry in meta.get_all("Requires-Dist") or []:
        requirement, _, marker = entry.partition(";")
        extras = re.findall(r"""extra\s*==\s*['"]([^'"]+)['"]""", marker)
        if not marker.strip() or any(extra in RUNTIME_EXTRAS for extra in extras):
            if extras:
                marker = re.sub(r"""\s*(and\s+)?extra\s*==\s*['"][^'"]+['"]""", "", marker).strip()
                marker = re.sub(r"^and\s+", "", marker)
            requirements.append(requirement.strip() + (f"; {marker}" if marker else ""))
    return list(dict.fromkeys(requirements))


def _clear_wheels(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def _prepare_runtime_wheels(plan: _Plan) -> list[str]:
    """Build the praas-kit wheel into ``context/praas-kit`` and fetch the wheels of its dependencies
    (with :data:`RUNTIME_EXTRAS`) into ``context/wheels``, with a ``requirements.txt``.

    Two directories, so that Docker's layer cache keeps the dependency layer of the process image
    when only praas-kit's code changed. Returns the requirements.
    """
    own, deps = plan.context / PRAAS_WHEEL, plan.context / WHEELS
    _clear_wheels(own)
    with tempfile.TemporaryDirectory(prefix="praas-wheel-src-") as tmp:
        # A copy of the sources: building in the checkout would leave build/ and *.egg-info there.
        src = Path(tmp) / "src"
        for path in _source_files(plan.repo):
            target = src / path.relative_to(plan.repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        _pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(own), str(src)],
             "building the praas-kit wheel")
    wheel = next(own.glob("praas_kit-*.whl"), None)
    if wheel is None:
        raise BackendError(f"pip wheel made no praas_kit wheel in {own}")
    requirements = _runtime_requirements(wheel)
    _clear_wheels(deps)
    (deps / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    _fetch_wheels(plan, requirements, deps, "fetching the wheels of praas-kit's dependencies")
    log.info("%d wheels in %s", len(list(deps.glob("*.whl"))), deps)
    return requirements


def _prepare_wheels(plan: _Plan, which: str) -> None:
    """Make sure the context directory ``which`` is filled (once per :func:`build_images` call)."""
    if which in plan.wheels_ready:
        return
    t0 = time.monotonic()
    _status(plan, f"wheels: {which}")
    if WHEELS not in plan.wheels_ready:
        plan.requirements = _prepare_runtime_wheels(plan)
        plan.wheels_ready.update((WHEELS, PRAAS_WHEEL))
    if which == JUPYTER_WHEELS:
        dest = plan.context / JUPYTER_WHEELS
        _clear_wheels(dest)
        # Resolved together with the runtime requirements so that the versions agree with those
        # of the process image (whose wheels are in this set too, in case its venv is older).
        _fetch_wheels(plan, [*plan.requirements, *JUPYTER_PACKAGES], dest, "fetching the Jupyter wheels")
        log.info("%d Jupyter wheels in %s", len(list(dest.glob("*.whl"))), dest)
        plan.wheels_ready.add(JUPYTER_WHEELS)
    log.info("wheels (%s) ready in %.1f s", which, time.monotonic() - t0)


# -- building ---------------------------------------------------------------------------------


def _context_tar(plan: _Plan, spec: ImageSpec) -> io.BufferedRandom:
    """A tar build context: the Dockerfile (as ``Dockerfile``) and the spec's context directories."""
    fileobj = tempfile.TemporaryFile()

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0  # content alone decides Docker's layer cache
        return info

    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        tar.add(plan.repo / "docker" / spec.dockerfile, arcname="Dockerfile", filter=reset)
        for directory in spec.context_dirs:
            tar.add(plan.context / directory, arcname=directory, filter=reset)
    fileobj.seek(0)
    return fileobj  # type: ignore[return-value]


def _status(plan: _Plan, text: str) -> None:
    if plan.progress_bar is not None:
        plan.progress_bar.set_postfix_str(text[:60], refresh=True)


def _log_line(plan: _Plan, spec: ImageSpec, line: str) -> None:
    log.debug("%s: %s", spec.name, line)
    if line.startswith("Step "):
        _status(plan, line)
        if plan.progress_bar is not None and not plan.progress_bar.disable:
            plan.progress_bar.write(f"{spec.name}: {line[:150]}")
        else:
            log.info("%s: %s", spec.name, line)


def _docker_build(plan: _Plan, spec: ImageSpec, build_args: dict[str, str], labels: dict[str, str],
                  no_cache: bool) -> str:
    """Run one build; the new image id. :class:`BackendError` with the log tail if it fails."""
    tail: collections.deque[str] = collections.deque(maxlen=40)
    log_dir = plan.context / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    image_id = ""
    with _context_tar(plan, spec) as context, open(log_dir / f"{spec.name}.log", "w") as build_log:
        try:
            stream = plan.client.api.build(
                fileobj=context, custom_context=True, tag=spec.ref, buildargs=build_args, labels=labels,
                rm=True, forcerm=True, pull=False, nocache=no_cache, decode=True,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    message = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
                    build_log.write(f"ERROR: {message}\n")
                    tail.append(f"ERROR: {message}")
                    raise BackendError(f"building {spec.ref} failed: {message}\n--- build log tail ---\n"
                                       + "\n".join(tail))
                if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = str(chunk["aux"]["ID"])
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in str(text).splitlines():
                    if line.strip():
                        build_log.write(line + "\n")
                        tail.append(line)
                        _log_line(plan, spec, line)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"building {spec.ref} failed: {exc}\n--- build log tail ---\n"
                               + "\n".join(tail)) from exc
    attrs = _image_attrs(plan.client, spec.ref)
    if attrs is None:
        raise BackendError(f"building {spec.ref} reported no error but the image does not exist:\n"
                           + "\n".join(tail))
    return str(attrs["Id"]) or image_id


def _resolve_names(names: Iterable[str] | None) -> list[ImageSpec]:
    """The specs named (``process``, ``praas-process`` or ``praas-process:latest``) plus the
    images they are built on, in build order."""
    if not names:
        return list(IMAGES)
    wanted: set[str] = set()
    for raw in names:
        name = raw.split(":", 1)[0]
        if not name.startswith("praas-"):
            name = f"praas-{name}"
        if name not in _BY_NAME:
            known = ", ".join(s.name.removeprefix("praas-") for s in IMAGES)
            raise BackendError(f"unknown image {raw!r}; known: {known}")
        while name is not None:
            wanted.add(name)
            name = _BY_NAME[name].parent  # type: ignore[assignment]
    return [spec for spec in IMAGES if spec.name in wanted]


def build_images(names: list[str] | None = None, base: str | None = None, force: bool = False,
                 progress: bool = True, *, no_cache: bool = False) -> list[ImageResult]:
    """Build the praas-kit images that are missing or out of date; one result per image.

    Args:
        names: images to build (``process``, ``latex``, ``controlplane``, ``s3``, ``redis``,
            ``jupyter``, with or without the ``praas-`` prefix); the images they are built on are
            included. All images when ``None``.
        base: base image; chosen automatically when ``None`` (see :func:`choose_base`).
        force: rebuild even the images whose inputs did not change (Docker's layer cache still
            applies; see ``no_cache``).
        progress: show a tqdm bar over the images and the build steps.
        no_cache: build without Docker's layer cache.

    Returns:
        The base image's result first when this call built it, then one :class:`ImageResult` per
        image in build order (``built`` is False for an image that was up to date).

    Raises:
        BackendError: no Docker engine, a failed build (with the tail of its log), unknown name.
    """
    specs = _resolve_names(names)
    repo = repo_root()
    client = _docker_client()
    results: list[ImageResult] = []
    base_ref, base_result = choose_base(client, base, repo)
    if base_result is not None:
        results.append(base_result)
    base_attrs = _image_attrs(client, base_ref)
    if base_attrs is None:  # pragma: no cover - choose_base made sure it exists
        raise BackendError(f"base image {base_ref} does not exist")
    ids: dict[str, str] = {}

    plan = _Plan(repo=repo, context=context_dir(repo), base=base_ref, client=client)
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None  # type: ignore[assignment]
    bar = tqdm(total=len(specs), unit="image", desc="images", disable=not progress or tqdm is None,
               dynamic_ncols=True) if tqdm is not None else None
    plan.progress_bar = bar
    try:
        for spec in specs:
            t0 = time.monotonic()
            if bar is not None:
                bar.set_description(spec.name)
            if spec.parent is None:
                build_args = {"BASE_IMAGE": base_ref}
                parent_id = str(base_attrs["Id"])
            else:
                build_args = {"PROCESS_IMAGE": f"{spec.parent}:{TAG}"}
                parent_id = ids[spec.parent]
            digest = _input_hash(spec, repo, build_args, parent_id)
            existing = _image_attrs(client, spec.ref)
            current = ((existing or {}).get("Config") or {}).get("Labels") or {}
            if existing is not None and current.get(HASH_LABEL) == digest and not force:
                ids[spec.name] = str(existing["Id"])
                results.append(ImageResult(spec.name, TAG, False, time.monotonic() - t0,
                                           int(existing.get("Size", 0)), str(existing["Id"])))
                log.info("%s is up to date", spec.ref)
                if bar is not None:
                    if not bar.disable:
                        bar.write(f"{spec.name}: up to date")
                    bar.update(1)
                continue
            for directory in spec.context_dirs:
                _prepare_wheels(plan, directory)
            _status(plan, "building")
            log.info("building %s on %s", spec.ref, build_args)
            labels = {HASH_LABEL: digest, "praas-kit.image": spec.name, "praas-kit.base": base_ref}
            image_id = _docker_build(plan, spec, build_args, labels, no_cache)
            if existing is not None and existing["Id"] != image_id:
                plan.replaced.append(str(existing["Id"]))
            attrs = _image_attrs(client, spec.ref) or {}
            ids[spec.name] = image_id
            seconds = time.monotonic() - t0
            size = int(attrs.get("Size", 0))
            results.append(ImageResult(spec.name, TAG, True, seconds, size, image_id))
            log.info("built %s in %.1f s (%.0f MB)", spec.ref, seconds, size / 1e6)
            if bar is not None:
                if not bar.disable:
                    bar.write(f"{spec.name}: built in {seconds:.1f} s, {size / 1e6:.0f} MB")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        _remove_replaced(client, plan.replaced)
        _prune_stale_stages(client)
    return results


def _prune_stale_stages(client: Any) -> None:
    """Remove all but the newest untagged build-stage image of ``praas-process`` (its venv stage)."""
    try:
        stages = client.api.images(filters={"dangling": True, "label": f"{STAGE_LABEL}=venv"})
    except Exception as exc:  # pruning is housekeeping only
        log.debug("cannot list build-stage images: %s", exc)
        return
    stages.sort(key=lambda image: image.get("Created", 0), reverse=True)
    for image in stages[1:]:
        try:
            client.api.remove_image(image["Id"])
            log.debug("removed the stale build stage %s", image["Id"][:19])
        except Exception as exc:
            log.debug("kept the build stage %s: %s", image["Id"][:19], exc)


def _remove_replaced(client: Any, image_ids: list[str]) -> None:
    """Remove images that a rebuild left without a tag (children first); keep any still in use."""
    for image_id in reversed(image_ids):
        attrs = _image_attrs(client, image_id)
        if attrs is None or attrs.get("RepoTags"):
            continue
        try:
            client.api.remove_image(image_id)
            log.debug("removed the replaced image %s", image_id[:19])
        except Exception as exc:  # in use by a container, or the parent of another image
            log.debug("kept the replaced image %s: %s", image_id[:19], exc)


def format_results(results: Sequence[ImageResult]) -> str:
    """A small text table of build results."""
    rows = [("image", "status", "seconds", "size MB", "id")]
    for r in results:
        status = "built" if r.built else "up to date"
        rows.append((r.ref, status, f"{r.seconds:.1f}", f"{r.size_bytes / 1e6:.0f}",
                     r.image_id.removeprefix("sha256:")[:12]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m praas_kit.images [build] [--force] [--no-cache] [--only NAME...] [--base IMAGE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m praas_kit.images",
        description="Build the praas-kit Docker images (skipping up-to-date ones).",
    )
    parser.add_argument("command", nargs="?", default="build", choices=["build", "list"],
                        help="build (default) or list the images")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="build only these images (and their parents)")
    parser.add_argument("--force", action="store_true", help="rebuild even up-to-date images")
    parser.add_argument("--no-cache", action="store_true", help="do not use Docker's layer cache")
    parser.add_argument("--base", help=f"base image (default: {OFFLINE_BASE} or {DEFAULT_BASE}, automatic)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every build line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        for noisy in ("docker", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "list":
        for spec in IMAGES:
            parent = spec.parent or "base image"
            print(f"{spec.ref:28} {spec.dockerfile:26} on {parent}")
        return 0
    try:
        results = build_images(args.only, base=args.base, force=args.force, progress=not args.no_progress,
                               no_cache=args.no_cache)
    except BackendError as exc:
        log.error("%s", exc)
        return 1
    print(format_results(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
