"""The REST API of the control plane (FastAPI); a thin layer over :class:`~praas_kit.control.controller.Controller`.

Errors are JSON ``{"error": {"type", "message", "traceback"?}}`` with the status of their class.
Every route except ``/healthz`` needs the token: ``Authorization: Bearer <token>``. The documentation
pages a browser opens (``/docs``, ``/redoc``; their scripts are served from ``/docs-assets``, so they work
offline) take it once as ``?token=`` and keep it in an HttpOnly cookie that opens the OpenAPI document and
those scripts and nothing else (a page of another site or port cannot use it to call a route); "Try it out"
needs the token given to the page's Authorize button. Request bodies are
read with a limit (the payload limit for invocations, 1 MiB otherwise) and refused with 413 as soon as they
pass it, also when they are chunked.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from praas_kit import __version__
from praas_kit.control.controller import Controller
from praas_kit.control.gateway import Gateway
from praas_kit.control.registry import ProcRecord
from praas_kit.control.schemas import (
    AppBody,
    ApplicationListModel,
    ApplicationModel,
    CredentialsModel,
    DeletedModel,
    ErrorBody,
    GatewayModel,
    HealthModel,
    KilledModel,
    ProcessBody,
    ProcessListModel,
    ProcessModel,
    SwapReportModel,
)
from praas_kit.errors import BadRequest, NotFound, PayloadTooLarge, PraasError, Unauthorized
from praas_kit.lifecycle import view
from praas_kit.limits import too_large
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


COOKIE = "praas_token"
_BY_STATUS: dict[int, type[PraasError]] = {400: BadRequest, 401: Unauthorized, 405: BadRequest, 413: PayloadTooLarge,
                                           422: BadRequest}
log = logging.getLogger("praas_kit.control.api")

JSON_BODY_LIMIT = 1 << 20
ASSETS_ROUTE = "/docs-assets"
#: the files the docs pages load, from the fastapi-offline package (Swagger UI and ReDoc builds)
DOCS_ASSETS = {p.name: p for p in (Path(fastapi_offline.__file__).parent / "static").iterdir()
               if p.suffix in (".js", ".css", ".png")}


class BodyLimit:
    """ASGI middleware: refuse a request body over its limit (413) without reading more of it."""

    def __init__(self, app: Any, limit_for: Any) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await error_response(too_large(int(length), limit, "request body"))(scope, receive, send)
            return
        seen = 0
        refused: PayloadTooLarge | None = None
        started = False

        async def limited() -> Any:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = too_large(seen, limit, "request body (read so far)")
                    raise refused
            return message

        async def answer(message: Any) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # a route that parses JSON turns the error into a 400: the client gets the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited, answer)
        if refused is not None and not started:
            await error_response(refused)(scope, receive, send)


def create_app(controller: Controller, token: str, gateway: Gateway | None = None) -> FastAPI:
    """The FastAPI application serving ``controller``, guarded by ``token``."""
    api = FastAPI(title="praas-kit control plane", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Process-as-a-Service: applications, cloud processes, swap and invocation. Every "
                              "route but /healthz needs 'Authorization: Bearer <token>'.")
    api.add_middleware(BodyLimit, limit_for=lambda path: controller.max_payload if "/invoke/" in path
                       else JSON_BODY_LIMIT)
    bearer = HTTPBearer(auto_error=False)

    if not token.strip():
        raise Unauthorized("refusing to serve with an empty token: authentication would be off")

    def valid(candidate: str | None) -> bool:
        return bool(candidate) and secrets.compare_digest(str(candidate).encode(), token.encode())

    async def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        """The bearer token, and only that: a browser sends a cookie with a request another site's page makes
        (SameSite does not tell ports apart), so the docs cookie opens no route that reads or changes state."""
        if creds is None or creds.scheme.lower() != "bearer":
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        if not valid(creds.credentials):
            raise Unauthorized("wrong token")

    async def docs_auth(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        """The bearer token, or the docs pages' cookie (for the OpenAPI document they load)."""
        if creds is None and valid(request.cookies.get(COOKIE)):
            return
        await auth(creds)

    def page(html: HTMLResponse, request: Request, query_token: str | None) -> HTMLResponse:
        if valid(query_token):
            html.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        elif not valid(request.cookies.get(COOKIE)):
            raise Unauthorized("open this page with ?token=<the control plane's token> (praas info shows it)")
        return html

    @api.get("/openapi.json", include_in_schema=False, dependencies=[Depends(docs_auth)])
    async def openapi() -> dict[str, Any]:
        return api.openapi()

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request, token: str | None = None) -> HTMLResponse:
        return page(get_swagger_ui_html(openapi_url="/openapi.json", title=api.title,
                                        swagger_js_url=f"{ASSETS_ROUTE}/swagger-ui-bundle.js",
                                        swagger_css_url=f"{ASSETS_ROUTE}/swagger-ui.css",
                                        swagger_favicon_url=f"{ASSETS_ROUTE}/favicon.png"), request, token)

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request, token: str | None = None) -> HTMLResponse:
        return page(get_redoc_html(openapi_url="/openapi.json", title=api.title,
                                   redoc_js_url=f"{ASSETS_ROUTE}/redoc.standalone.js",
                                   redoc_favicon_url=f"{ASSETS_ROUTE}/favicon.png", with_google_fonts=False),
                    request, token)

    @api.get(ASSETS_ROUTE + "/{name}", include_in_schema=False, dependencies=[Depends(docs_auth)])
    async def docs_asset(name: str) -> FileResponse:
        """Swagger UI's and ReDoc's files, served here (the docs work offline; no CDN sees the page load)."""
        if name not in DOCS_ASSETS:
            raise NotFound(f"no docs asset {name!r}")
        return FileResponse(DOCS_ASSETS[name])

    @api.exception_handler(RecursionError)
    async def _nested(request: Request, exc: RecursionError) -> JSONResponse:
        return error_response(BadRequest("request body is nested too deeply"))

    @api.exception_handler(PraasError)
    async def _praas_error(request: Request, exc: PraasError) -> JSONResponse:
        (log.warning if exc.status >= 500 else log.info)("%s %s -> %d %s: %s", request.method, request.url.path,
                                                          exc.status, type(exc).__name__, exc.message[:300])
        return error_response(exc)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = "; ".join(f"{'/'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error_response(BadRequest(f"invalid request: {msgs}"[:2000]))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: PraasError = NotFound(f"no route {request.method} {request.url.path}")
        else:  # the typed class of the status (a body FastAPI cannot parse is a BadRequest)
            err = _BY_STATUS.get(exc.status_code, PraasError)(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    guarded = [Depends(auth)]

    @api.get("/healthz", tags=["health"], response_model=HealthModel)
    async def healthz() -> dict[str, Any]:
        """Liveness (no auth)."""
        return {"ok": True, "version": __version__, "backend": controller.backend_name}

    @api.get("/gateway", dependencies=guarded, responses=ERRORS, tags=["invocation"], response_model=GatewayModel)
    async def gateway_info() -> dict[str, Any]:
        """Where the invocation gateway listens (the invoke route over ZeroMQ: :mod:`praas_kit.control.gateway`);
        404 when this control plane runs none."""
        if gateway is None:
            raise NotFound("this control plane runs no invocation gateway")
        return gateway.describe()

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
                                            function_workers=b.function_workers, resume_failed=b.resume_failed)
        return rec.to_json()

    @api.get("/apps/{app}", dependencies=guarded, responses=ERRORS, tags=["applications"],
             response_model=ApplicationModel)
    def get_app(app: str) -> dict[str, Any]:
        """Describe an application."""
        return controller.get_application(app).to_json()

    @api.get("/apps/{app}/credentials", dependencies=guarded, responses=ERRORS, tags=["applications"],
             response_model=CredentialsModel)
    def credentials(app: str) -> dict[str, Any]:
        """The client key pair with which the application's clients reach its processes directly."""
        return controller.credentials(app)

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

    @api.get("/apps/{app}/processes/{proc}/logs", dependencies=guarded, responses=ERRORS, tags=["processes"],
             response_class=PlainTextResponse)
    def process_logs(app: str, proc: str, tail: int = Query(200, ge=1, le=100_000)) -> str:
        """The last ``tail`` lines its runtime printed (stdout and stderr); of its last incarnation when none
        runs now (what the backend kept, or the tail the control plane kept when it failed)."""
        rec = controller.get_process(app, proc)
        text = controller.backend.logs(rec.handle, tail=tail) if rec.handle else ""
        return text or "\n".join((rec.log or "").splitlines()[-tail:])

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
        body = await request.body()  # BodyLimit stops at the payload limit
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
