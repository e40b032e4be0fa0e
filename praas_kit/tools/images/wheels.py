"""Wheels for the images, built and downloaded on the host.

pip inside a build cannot verify TLS on some machines, so the images install from wheels prepared
here: the praas-kit wheel, the wheels of its dependencies for the base image's Python and platform,
and the Jupyter image's wheels.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

from praas_kit.errors import BackendError
from praas_kit.tools.images.build_inputs import source_files
from praas_kit.tools.images.spec import (
    JUPYTER_PACKAGES,
    JUPYTER_WHEELS,
    PRAAS_WHEEL,
    RUNTIME_EXTRAS,
    TARGET_GLIBC,
    WHEELS,
    Plan,
    status,
)

log = logging.getLogger("praas_kit.images")


def _pip(args: Sequence[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    log.debug("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env={**os.environ, "PIP_NO_INPUT": "1"})
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise BackendError(f"{what} failed (pip exit {proc.returncode}):\n{tail}")


def _image_python(plan: Plan) -> tuple[str, str, str]:
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


def _fetch_wheels(plan: Plan, requirements: Sequence[str], dest: Path, what: str, locked: bool = True) -> None:
    """Wheels of ``requirements`` and their dependencies into ``dest``, for the image's Python.

    pip on the host downloads binary wheels for the image's Python version and platform (so that
    ``Requires-Python`` is checked against the image's interpreter, which may be older than the
    host's). pip still evaluates environment markers for the host's interpreter, so the result is
    checked with the image's own pip (a dry-run install from ``dest``), and whatever that reports
    missing (say a backport needed below Python 3.11.3) is fetched until nothing is.
    """
    version, machine, glibc = _image_python(plan)
    download = _target_download(version, machine, glibc)
    lock = plan.repo / "constraints.txt"  # the versions every environment installs (scripts/lock.sh)
    if locked and lock.is_file():
        download += ["--constraint", str(lock)]
    _pip([*download, "--dest", str(dest), *requirements], what)
    for _ in range(10):
        missing = _missing_in_image(plan, requirements, dest)
        if not missing:
            return
        log.info("the image's Python also needs: %s", ", ".join(missing))
        plain = [m.split(";", 1)[0].strip() for m in missing]
        _pip([*download, "--dest", str(dest), *plain], what)
    raise BackendError(f"{what}: the wheels in {dest} still miss requirements of the image's Python")


def _missing_in_image(plan: Plan, requirements: Sequence[str], wheels: Path) -> list[str]:
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


def _prepare_runtime_wheels(plan: Plan) -> list[str]:
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
        for path in source_files(plan.repo):
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


def prepare_wheels(plan: Plan, which: str) -> None:
    """Make sure the context directory ``which`` is filled (once per :func:`build_images` call)."""
    if which in plan.wheels_ready:
        return
    t0 = time.monotonic()
    status(plan, f"wheels: {which}")
    if WHEELS not in plan.wheels_ready:
        plan.requirements = _prepare_runtime_wheels(plan)
        plan.wheels_ready.update((WHEELS, PRAAS_WHEEL))
    if which == JUPYTER_WHEELS:
        dest = plan.context / JUPYTER_WHEELS
        _clear_wheels(dest)
        # Resolved together with the runtime requirements so that the versions agree with those
        # of the process image (whose wheels are in this set too, in case its venv is older).
        # not locked: with the test environment's pins, pip found no resolution of the lab's Jupyter stack for
        # the image's Python (CI: nbconvert); the runtime's wheels stay locked
        _fetch_wheels(plan, [*plan.requirements, *JUPYTER_PACKAGES], dest, "fetching the Jupyter wheels",
                      locked=False)
        log.info("%d Jupyter wheels in %s", len(list(dest.glob("*.whl"))), dest)
        plan.wheels_ready.add(JUPYTER_WHEELS)
    log.info("wheels (%s) ready in %.1f s", which, time.monotonic() - t0)


__all__ = ["prepare_wheels"]
