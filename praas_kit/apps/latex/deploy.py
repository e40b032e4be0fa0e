"""Deploying the LaTeX editor on a control plane: :func:`deploy`, :func:`upload`, and the FaaS variant's
function pools (:class:`FunctionPools`).

The PraaS variant is one application whose processes each hold a whole project. The FaaS variant is built
the way the paper built its Lambda baseline: one application *per function* (``<name>.update-file``,
``<name>.get-file``, ``<name>.compile``, ``<name>.get-pdf``), each its own pool of pooled processes invoked
FaaS-style through the control plane, sharing nothing but the project's S3 bucket.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praas_kit.apps.latex.project import TEX_PACKAGES, TexMissing, encode, project_files
from praas_kit.errors import FunctionNotFound, InvalidArgument, NotFound
from praas_kit.payload import Result
from praas_kit.sdk.client import Application
from praas_kit.storage.s3_endpoint import S3Endpoint

if TYPE_CHECKING:
    from praas_kit.sdk.client import ControlPlaneClient

HERE = Path(__file__).parent
APP_CODE = HERE / "latex_praas.py"  #: the PraaS variant's code (pass as ``code=``)
VARIANTS = ("praas", "faas")
FUNCTIONS = ("update-file", "get-file", "compile", "get-pdf")


def s3_settings(s3: Any) -> dict[str, Any]:
    """``{"endpoint", "access_key", "secret_key", "region"}`` of ``s3``: an
    :class:`~praas_kit.storage.s3_endpoint.S3Endpoint`, a URL, such a dict, or what carries one as ``.s3`` (a
    running :class:`SwiftS3Server`, a docker deployment's ``storage``); see :meth:`S3Endpoint.of`."""
    return S3Endpoint.of(s3).settings()


def bucket_name(app: str) -> str:
    """The bucket of the FaaS variant of application ``app``."""
    return "latex-" + re.sub(r"[^a-z0-9-]", "-", app.lower())[:50].strip("-")


class FunctionPools(Application):
    """The FaaS variant: an :class:`Application`-like handle over one application per function.

    :meth:`invoke` sends ``function`` to its own application's pool (FaaS-style, never sticky);
    :meth:`processes` lists the pooled processes of all four; :meth:`delete` deletes their processes and
    the four applications. ``bucket`` names the project's S3 bucket.
    """

    def __init__(self, cp: ControlPlaneClient, name: str, bucket: str) -> None:
        super().__init__(cp, name)
        self.bucket = bucket
        self.pools = {fn: Application(cp, f"{name}.{fn}") for fn in FUNCTIONS}

    def __repr__(self) -> str:
        return f"FunctionPools({self.name!r}, bucket={self.bucket!r})"

    def invoke(self, function: str, data: Any = b"", process: str | None = None,
               timeout: float | None = None) -> Result:
        if process is not None:
            raise InvalidArgument("the FaaS variant is stateless: its functions are not invoked sticky")
        pool = self.pools.get(function)
        if pool is None:
            raise FunctionNotFound(f"the LaTeX FaaS variant has no function {function!r}; it has "
                                   + ", ".join(FUNCTIONS))
        return pool.invoke(function, data, timeout=timeout)

    def processes(self) -> list[Any]:
        return [p for pool in self.pools.values() for p in pool.processes()]

    def create_process(self, name: str, vcpus: float | None = None, memory_mb: int | None = None) -> Any:
        raise InvalidArgument("the FaaS variant has no named processes: invoke its functions, the control "
                              "plane pools the processes")

    def delete(self) -> None:
        """Delete every pooled process and the four applications."""
        for pool in self.pools.values():
            try:
                for p in pool.processes():
                    pool.delete_process(p.name)
                pool.delete()
            except NotFound:
                pass


def _faas_code(app: str, settings: dict[str, Any]) -> Path:
    """Write the FaaS variant's code module for ``app``: the functions plus their S3 settings (as a Lambda
    function's environment), private to the user."""
    from praas_kit.home import default_home

    folder = default_home() / "apps"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"latex_faas_{re.sub(r'[^A-Za-z0-9_]', '_', app)}.py"
    text = (f'"""The LaTeX FaaS baseline of application {app} (written by praas_kit.apps.latex.deploy)."""\n'
            f"from praas_kit.apps.latex import latex_faas\n\n"
            f"latex_faas.configure({settings!r})\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def deploy(cp: ControlPlaneClient, name: str, variant: str = "praas", s3: Any = None, vcpus: float | None = None,
           memory_mb: int | None = None, function_workers: int | None = None) -> Application:
    """Create application ``name`` running the LaTeX editor; its :class:`~praas_kit.sdk.client.Application`.

    ``variant``: ``"praas"`` (create processes and invoke them; one project per process) or ``"faas"`` (a
    :class:`FunctionPools`: invoke the functions, FaaS style). ``s3`` (FaaS only): the S3 server holding the
    project (see :func:`s3_settings`); by default the docker deployment's own. Raises
    :class:`InvalidArgument` for an unknown variant or a missing S3 endpoint (before creating anything),
    :class:`TexMissing` on the local backend without ``latexmk``.
    """
    if variant not in VARIANTS:
        raise InvalidArgument(f"unknown LaTeX variant {variant!r}; known: {', '.join(VARIANTS)}")
    backend = str(cp.healthz().get("backend"))
    if backend == "local" and shutil.which("latexmk") is None:
        raise TexMissing("the local backend compiles with the host's TeX, and latexmk is not installed; on "
                         "Debian: apt-get install " + " ".join(TEX_PACKAGES) + " (or use the docker backend)")
    image = None
    if backend != "local":
        from praas_kit.engines import images as image_names

        image = image_names.LATEX
    options: dict[str, Any] = {"image": image, "vcpus": vcpus, "memory_mb": memory_mb,
                               "function_workers": function_workers}
    if variant == "praas":
        return cp.create_application(name, code=APP_CODE, **options)
    storage = getattr(cp, "storage", None)  # a docker or swarm deployment's
    if s3 is None and getattr(storage, "s3", None) is not None:
        s3 = storage
    if not s3:
        raise InvalidArgument("the FaaS variant keeps the project in S3: pass s3= (a URL, a dict, or a running "
                              "praas_kit.tools.services.SwiftS3Server), or deploy with docker_deployment(swap='s3')")
    endpoint = S3Endpoint.of(s3)
    settings = endpoint.settings(bucket=bucket_name(name))
    client = endpoint.client()
    try:
        client.create_bucket(Bucket=settings["bucket"])
    except Exception as exc:  # an existing bucket of ours is fine
        if "BucketAlready" not in str(exc) and "BucketAlready" not in type(exc).__name__:
            raise
    code = _faas_code(name, settings)
    for fn in FUNCTIONS:
        cp.create_application(f"{name}.{fn}", code=code, **options)
    return FunctionPools(cp, name, settings["bucket"])


def upload(invoke: Callable[..., Any], project: str | Path, only: list[str] | None = None) -> list[str]:
    """Upload every source file of a project directory with ``update-file`` through ``invoke(function, data)``
    (a process's or an application's ``invoke``); the keys uploaded."""
    keys = []
    for key, content in project_files(Path(project)):
        if only is not None and key not in only:
            continue
        folder, _, file = key.rpartition("/")
        invoke("update-file", {"path": folder, "file": file, "data": encode(key, content)})
        keys.append(key)
    return keys


__all__ = ["deploy", "upload", "s3_settings", "bucket_name", "FunctionPools", "VARIANTS", "FUNCTIONS", "APP_CODE"]
