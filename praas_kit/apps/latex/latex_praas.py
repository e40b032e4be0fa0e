"""The LaTeX editor as a PraaS application (paper §6.4): the project lives in the process.

Application code (pass this file as ``code=``; :func:`praas_kit.apps.latex.deploy` does). Functions:

* ``update-file`` ``{"path", "file", "data"}``: store the file as a state object (key ``path/file``);
  replies ``{"message": "Saved file to <key>"}``.
* ``get-file`` (same shape, ``data`` empty): the file, with ``data`` filled in.
* ``compile`` ``{"file", "clean", "full_clean"}``: write every state object newer than its copy in the build
  directory, run ``latexmk -pdf``; ``{"status", "output", "updated_files", "time_data", "time_compile", ...}``.
* ``get-pdf`` ``{"file"}``: ``{"status": "success", "data": <base64 PDF>}`` or ``{"status": "failure"}``.

The build directory is ``state_dir/latex``, so it (and the PDF in it) survives a swap.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from praas_kit.apps.latex import project
from praas_kit.apps.latex.project import Workdir, compile_project, decode, parse, project_key
from praas_kit.function import Invocation, function

if TYPE_CHECKING:
    from praas_kit.process.context import Context

BUILD = "latex"  #: the build directory, under ``state_dir``


def _work(ctx: Context) -> Workdir:
    return Workdir(ctx.state_dir / BUILD)


@function(name="update-file")
def update_file(inv: Invocation, ctx: Context) -> dict[str, str]:
    req = parse(inv.json(), {"path": str, "file": str, "data": str})
    key = project_key(req["path"], req["file"])
    ctx.state(key, decode(key, req["data"]))
    return {"message": f"Saved file to {key}"}


@function(name="get-file")
def get_file(inv: Invocation, ctx: Context) -> dict[str, str]:
    return project.get_file(inv.json(), ctx.state)


@function(name="compile")
def compile_(inv: Invocation, ctx: Context) -> dict[str, Any]:
    req = parse(inv.json(), {"file": str, "clean": bool, "full_clean": bool})
    project_key("", req["file"])
    t0 = time.monotonic()
    work = _work(ctx)
    updated = work.sync(ctx.state_keys(), ctx.state)
    time_data = time.monotonic() - t0
    reply = compile_project(work, req["file"], clean=req["clean"], full_clean=req["full_clean"])
    return reply | {"updated_files": updated, "time_data": time_data}


@function(name="get-pdf")
def get_pdf(inv: Invocation, ctx: Context) -> dict[str, str]:
    req = parse(inv.json(), {"file": str})
    pdf = _work(ctx).pdf(req["file"])
    if pdf is None:
        return {"status": "failure"}
    return {"status": "success", "data": base64.b64encode(pdf).decode()}
