"""The REST API of the control plane (FastAPI); a thin layer over :class:`~praas_kit.control.controller.Controller`.

Errors are JSON ``{"error": {"type", "message", "traceback"?}}`` with the status of their class.
Every route except ``/healthz`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from praas_kit import __version__
from praas_kit.control.controller import Controller
from praas_kit.control.registry import ProcRecord
from praas_kit.control.schemas import (
    AppBody,
    ApplicationListModel,
    ApplicationModel,
    DeletedModel,
    ErrorBody,
    HealthModel,
    KilledModel,
    ProcessBody,
    ProcessListModel,
    ProcessModel,
    SwapReportModel,
)
from praas_kit.errors import BadRequest, NotFound, PayloadTooLarge, PraasError, Unauthorized
from praas_kit.lifecycle import view
from praas_kit.payload import MIME

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 500, 502, 503, 504)
}


def error_response(exc: PraasError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)


def group(controller: Controller, recs: list[ProcRecord], app: str | None) -> dict[str, Any]:
    """The ``ProcessListModel`` of ``recs``: grouped by :func:`praas_kit.lifecycle.view`."""
    out: dict[str, Any] = {"application": app, "active": [], "swapped": [], "inactive": []}
    for rec in recs:
        out[view(rec.status)].append(controller.describe(rec))
    return out


def create_app(controller: Controller, token: str) -> FastAPI:
    """The FastAPI application serving ``controller``, guarded by ``token``."""
    api = FastAPI(title="praas-kit control plane", version=__version__,
                  description="Process-as-a-Service: applications, cloud processes, swap and invocation.")
    bearer = HTTPBearer(auto_error=False)

    async def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if creds is None or creds.scheme.lower() != "bearer":
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise Unauthorized("wrong token")

    @api.exception_handler(PraasError)
    async def _praas_error(request: Request, exc: PraasError) -> JSONResponse:
        return error_response(exc)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = "; ".join(f"{'/'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error_response(BadRequest(f"invalid request: {msgs}"[:2000]))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err: PraasError = NotFound(f"no route {request.method} {request.url.path}") if exc.status_code == 404 \
            else PraasError(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    guarded = [Depends(auth)]

    @api.get("/healthz", tags=["health"], response_model=HealthModel)
    async def healthz() -> dict[str, Any]:
        """Liveness (no auth)."""
        return {"ok": True, "version": __version__, "backend": controller.backend_name}

    @api.get("/apps", dependencies=guarded, responses=ERRORS, tags=["applications"],
             response_model=ApplicationListModel)
    def list_apps() -> dict[str, Any]:
        """List applications."""
        return {"applications": [a.to_json() for a in controller.applications()]}

    @api.put("/apps/{app}", dependencies=guarded, responses=ERRORS, tags=["applications"],
             response_model=ApplicationModel)
    def create_app_route(app: str, body: AppBody | None = None) -> dict[str, Any]:
        """Create an application."""
        b = body or AppBody()
        rec = controller.create_application(app, code=b.code, image=b.image, vcpus=b.vcpus, memory_mb=b.memory_mb,
                                            function_workers=b.function_workers)
        return rec.to_json()

    @api.get("/apps/{app}", dependencies=guarded, responses=ERRORS, tags=["applications"],
             response_model=ApplicationModel)
    def get_app(app: str) -> dict[str, Any]:
        """Describe an application."""
        return controller.get_application(app).to_json()

    @api.delete("/apps/{app}", dependencies=guarded, responses=ERRORS, tags=["applications"],
                response_model=DeletedModel)
    def delete_app(app: str) -> dict[str, Any]:
        """Delete an application (refused while it has processes)."""
        controller.delete_application(app)
        return {"deleted": app}

    @api.get("/processes", dependencies=guarded, responses=ERRORS, tags=["processes"],
             response_model=ProcessListModel)
    def list_all_processes() -> dict[str, Any]:
        """Processes of every application, grouped like an application's listing."""
        return group(controller, controller.processes(), None)

    @api.get("/apps/{app}/processes", dependencies=guarded, responses=ERRORS, tags=["processes"],
             response_model=ProcessListModel)
    def list_processes(app: str) -> dict[str, Any]:
        """Processes of an application: ``active`` (running or changing), ``swapped`` and ``inactive``."""
        return group(controller, controller.processes(app), app)

    @api.put("/apps/{app}/processes/{proc}", dependencies=guarded, responses=ERRORS, tags=["processes"],
             response_model=ProcessModel)
    def create_process(app: str, proc: str, body: ProcessBody | None = None) -> dict[str, Any]:
        """Create a process; replies when it is ALLOCATED, with its data-plane address."""
        b = body or ProcessBody()
        return controller.describe(controller.create_process(app, proc, vcpus=b.vcpus, memory_mb=b.memory_mb))

    @api.get("/apps/{app}/processes/{proc}", dependencies=guarded, responses=ERRORS, tags=["processes"],
             response_model=ProcessModel)
    def get_process(app: str, proc: str) -> dict[str, Any]:
        """Describe one process."""
        return controller.describe(controller.get_process(app, proc))

    @api.post("/apps/{app}/processes/{proc}/swap", dependencies=guarded, responses=ERRORS, tags=["processes"],
              response_model=SwapReportModel)
    def swap(app: str, proc: str) -> dict[str, Any]:
        """Swap a process out; replies with the bytes written and the seconds it took."""
        return controller.swap(app, proc)

    @api.post("/apps/{app}/processes/{proc}/swapin", dependencies=guarded, responses=ERRORS, tags=["processes"],
              response_model=ProcessModel)
    def swapin(app: str, proc: str) -> dict[str, Any]:
        """Swap a process in from its newest snapshot."""
        return controller.describe(controller.swapin(app, proc))

    @api.post("/apps/{app}/processes/{proc}/stop", dependencies=guarded, responses=ERRORS, tags=["processes"],
              response_model=ProcessModel)
    def stop(app: str, proc: str) -> dict[str, Any]:
        """Stop a process (its state is discarded)."""
        return controller.describe(controller.stop(app, proc))

    @api.post("/apps/{app}/processes/{proc}/kill", dependencies=guarded, responses=ERRORS, tags=["processes"],
              response_model=KilledModel)
    def kill(app: str, proc: str) -> dict[str, Any]:
        """SIGKILL a process's runtime (fault injection); it becomes FAILED."""
        controller.kill(app, proc)
        return {"killed": proc}

    @api.delete("/apps/{app}/processes/{proc}", dependencies=guarded, responses=ERRORS, tags=["processes"],
                response_model=DeletedModel)
    def delete_process(app: str, proc: str) -> dict[str, Any]:
        """Delete a process and its swapped state (a running one is stopped first)."""
        controller.delete_process(app, proc)
        return {"deleted": proc}

    @api.post("/apps/{app}/invoke/{function}", dependencies=guarded, responses=ERRORS, tags=["invocation"],
              response_class=Response)
    async def invoke(app: str, function: str, request: Request, process: str | None = None,
                     timeout: float | None = None) -> Response:
        """Invoke ``function``; the body is the payload. ``?process=`` routes to that process (sticky,
        swapping it in if needed); without it any idle pooled process runs it. The reply body is the
        result, with its content type; headers name the process and the invocation id."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > controller.max_payload:
            raise PayloadTooLarge(f"payload of {length} bytes exceeds the limit of {controller.max_payload}")
        body = await request.body()
        call = controller.submit(app, function, body, process, timeout, wait_ready=False)  # never blocks
        if call is None:  # the process must be swapped in or created first: do that in a thread
            call = await run_in_threadpool(controller.submit, app, function, body, process, timeout, True)
        assert call is not None  # with wait_ready=True, submit returns a call or raises
        try:
            ct, out = await asyncio.wait_for(asyncio.wrap_future(call.future),
                                             max(0.0, call.deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise call.timed_out() from None
        finally:
            call.done()
        return Response(out, media_type=MIME.get(ct, "application/octet-stream"),
                        headers={"x-praas-process": call.process, "x-praas-invocation": call.id,
                                 "x-praas-content-type": ct})

    return api
