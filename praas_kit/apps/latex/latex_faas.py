"""The LaTeX editor's FaaS baseline, built as the paper built its Lambda version: the project lives in S3.

The same four functions and JSON shapes as :mod:`praas_kit.apps.latex.latex_praas`, but stateless: nothing
is kept in process state, so any pooled process can serve any call (the control plane routes them
FaaS-style). ``update-file``/``get-file`` write/read objects of the bucket; ``compile`` lists the bucket,
downloads the objects that changed (by ETag) since its local copy (a scratch directory of the process, like
Lambda's ``/tmp``) was written, compiles, and uploads ``pdfs/<name>.pdf``; ``get-pdf`` reads that object.

:func:`configure` (called by the module :func:`praas_kit.apps.latex.deploy` generates) sets the S3 endpoint,
keys and bucket, as a Lambda function's environment would.
"""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from praas_kit.apps.latex import project
from praas_kit.apps.latex.project import Workdir, compile_project, decode, parse, pdf_name, project_key
from praas_kit.errors import StorageError
from praas_kit.function import Invocation, function

if TYPE_CHECKING:
    from praas_kit.process.context import Context

PDF_PREFIX = "pdfs/"
_config: dict[str, Any] = {}
_client: Any = None
_scratch: Path | None = None


def configure(s3: dict[str, Any]) -> None:
    """Set the S3 endpoint (``endpoint``, ``access_key``, ``secret_key``, ``region``, ``bucket``)."""
    global _client
    _config.clear()
    _config.update(s3)
    _client = None


def _s3() -> Any:
    global _client
    if _client is None:
        if not _config:
            raise StorageError("the LaTeX FaaS functions have no S3 endpoint configured")
        from praas_kit.storage.s3_endpoint import S3Endpoint

        _client = S3Endpoint.of(_config).client()
    return _client


def _bucket() -> str:
    return str(_config["bucket"])


def _work() -> Workdir:
    global _scratch
    if _scratch is None:
        # in the process's working directory, which its backend removes with it (a killed process runs no
        # atexit handler; a scratch directory in /tmp would be left behind)
        _scratch = Path(tempfile.mkdtemp(prefix="latex-faas-", dir=Path.cwd()))
        atexit.register(shutil.rmtree, _scratch, True)
    return Workdir(_scratch)


def _get(key: str) -> bytes | None:
    try:
        return bytes(_s3().get_object(Bucket=_bucket(), Key=key)["Body"].read())
    except Exception as exc:  # botocore's NoSuchKey and ClientError
        if "NoSuchKey" in type(exc).__name__ or "NoSuchKey" in str(exc) or "404" in str(exc):
            return None
        raise StorageError(f"S3 GET {key!r} failed: {exc}") from None


@function(name="update-file")
def update_file(inv: Invocation, ctx: Context) -> dict[str, str]:
    req = parse(inv.json(), {"path": str, "file": str, "data": str})
    key = project_key(req["path"], req["file"])
    _s3().put_object(Bucket=_bucket(), Key=key, Body=decode(key, req["data"]))
    return {"message": f"Saved file to {key}"}


@function(name="get-file")
def get_file(inv: Invocation, ctx: Context) -> dict[str, str]:
    return project.get_file(inv.json(), _get)


@function(name="compile")
def compile_(inv: Invocation, ctx: Context) -> dict[str, Any]:
    req = parse(inv.json(), {"file": str, "clean": bool, "full_clean": bool})
    project_key("", req["file"])
    t0 = time.monotonic()
    objects: list[tuple[str, float | str]] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=_bucket()):
        objects += [(o["Key"], str(o["ETag"])) for o in page.get("Contents", [])
                    if not o["Key"].startswith(PDF_PREFIX)]
    work = _work()
    updated = work.sync(objects, _get)
    time_data = time.monotonic() - t0
    reply = compile_project(work, req["file"], clean=req["clean"], full_clean=req["full_clean"])
    if reply["status"] == "success":
        pdf = work.pdf(req["file"])
        if pdf is not None:
            _s3().put_object(Bucket=_bucket(), Key=PDF_PREFIX + pdf_name(req["file"]), Body=pdf)
    return reply | {"updated_files": updated, "time_data": time_data}


@function(name="get-pdf")
def get_pdf(inv: Invocation, ctx: Context) -> dict[str, str]:
    req = parse(inv.json(), {"file": str})
    pdf = _get(PDF_PREFIX + pdf_name(req["file"]))
    if pdf is None:
        return {"status": "failure"}
    return {"status": "success", "data": base64.b64encode(pdf).decode()}
