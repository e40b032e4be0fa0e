"""The Python SDK: a control-plane client, applications and processes.

>>> cp = praas_kit.connect("http://127.0.0.1:8080", token="...")
>>> app = cp.create_application("demo", code="examples/counter.py")
>>> p = app.create_process("alice")
>>> p.invoke("add", {"n": 1}).json()
{'total': 1}

The SDK speaks the REST API (httpx) and the data plane (:mod:`praas_kit.sdk.dataplane`); it imports
only the protocol modules (wire, payload, names, errors, lifecycle, home), never the control plane.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import httpx

from praas_kit.errors import (
    ControlPlaneUnreachable,
    InvalidState,
    PraasError,
    Unauthorized,
    from_dict,
)
from praas_kit.home import default_home, read_endpoint, read_token
from praas_kit.keys import KeyPair
from praas_kit.lifecycle import Status
from praas_kit.limits import check_payload, check_timeout
from praas_kit.names import validate_name
from praas_kit.payload import Result, encode_payload
from praas_kit.sdk.dataplane import DataPlaneClient, Unreachable
from praas_kit.sdk.gateway import GatewayClient
from praas_kit.sdk.models import ApplicationInfo, ProcessInfo, SwapReport

_C = TypeVar("_C", bound="ControlPlaneClient")
log = logging.getLogger("praas_kit.sdk")


class ControlPlaneClient:
    """A connection to one control plane. Close it (or use ``with``) when done.

    Invocations through the control plane (:meth:`Application.invoke`) use its invocation gateway (the
    invoke route over ZeroMQ, :mod:`praas_kit.sdk.gateway`) when it runs one and ``gateway`` is true, else
    the REST route; both give the same results and errors.
    """

    def __init__(self, url: str, token: str, timeout: float = 330.0, gateway: bool = True) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self.data_plane = DataPlaneClient()
        self._credentials: dict[str, KeyPair | None] = {}
        self._gateway: GatewayClient | None | bool = gateway  # True: not asked yet; False/None: REST only

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def close(self) -> None:
        """Close the HTTP client and the data-plane sockets."""
        self.http.close()
        self.data_plane.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the typed :class:`PraasError` the server replied with."""
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ControlPlaneUnreachable(f"cannot reach the control plane at {self.url}: {exc}") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                raise PraasError(f"HTTP {resp.status_code} from {path}: {resp.text[:500]}") from None
            raise from_dict(body.get("error") if isinstance(body, dict) else body)
        return resp

    def healthz(self) -> dict[str, Any]:
        """``{"ok", "version", "backend"}`` (no token needed)."""
        return dict(self.request("GET", "/healthz").json())

    def openapi_url(self) -> str:
        """Where the OpenAPI document is served (interactive docs at ``/docs``)."""
        return f"{self.url}/openapi.json"

    def create_application(self, name: str, code: str | Path | None = None, image: str | None = None,
                           vcpus: float | None = None, memory_mb: int | None = None,
                           function_workers: int | None = None, resume_failed: bool = False) -> Application:
        """Create an application from a module/package path (local to the control plane) or an image.
        ``resume_failed``: a call to one of its FAILED processes swaps it in from its last snapshot by itself
        (what it did after that snapshot is lost) instead of raising ``ProcessFailed``."""
        validate_name(name, "application name")
        body = {"code": str(Path(code).resolve()) if code is not None else None, "image": image, "vcpus": vcpus,
                "memory_mb": memory_mb, "function_workers": function_workers, "resume_failed": resume_failed or None}
        self.request("PUT", f"/apps/{name}", json={k: v for k, v in body.items() if v is not None})
        return Application(self, name)

    def application(self, name: str) -> Application:
        """An existing application (raises ``ApplicationNotFound``)."""
        validate_name(name, "application name")
        self.request("GET", f"/apps/{name}")
        return Application(self, name)

    def applications(self) -> list[ApplicationInfo]:
        """Every application."""
        return [ApplicationInfo.from_json(a) for a in self.request("GET", "/apps").json()["applications"]]

    def processes(self) -> list[ProcessInfo]:
        """Every process of every application (one request)."""
        return _flatten(self.request("GET", "/processes").json())

    def gateway(self) -> GatewayClient | None:
        """The control plane's invocation gateway (asked once), or ``None`` when invocations use REST."""
        if self._gateway is True:
            try:
                info = self.request("GET", "/gateway").json()
            except PraasError:  # none, or a control plane from before the gateway
                self._gateway = None
            else:
                self._gateway = GatewayClient(self.data_plane, self.url, self.token, info, self.timeout)
        return self._gateway if isinstance(self._gateway, GatewayClient) else None

    def stop_using_gateway(self, why: str) -> None:
        """Send every later invocation through the REST route."""
        if self._gateway:
            log.info("invoking through the REST route from now on: %s", why)
        self._gateway = None

    def credentials(self, app: str) -> KeyPair | None:
        """The client key pair of ``app``'s data plane (``None`` when it is not authenticated); asked once."""
        if app not in self._credentials:
            body = self.request("GET", f"/apps/{app}/credentials").json()
            self._credentials[app] = KeyPair(body["public_key"], body["secret_key"]) \
                if body.get("auth") == "curve" else None
        return self._credentials[app]


def _flatten(listing: dict[str, Any]) -> list[ProcessInfo]:
    procs = [ProcessInfo.from_json(p) for group in ("active", "swapped", "inactive") for p in listing.get(group, ())]
    return sorted(procs, key=lambda p: (p.app, p.created))


class Application:
    """An application on a control plane."""

    def __init__(self, cp: ControlPlaneClient, name: str) -> None:
        self.cp = cp
        self.name = name

    def __repr__(self) -> str:
        return f"Application({self.name!r})"

    def describe(self) -> ApplicationInfo:
        """The application's settings."""
        return ApplicationInfo.from_json(self.cp.request("GET", f"/apps/{self.name}").json())

    def create_process(self, name: str, vcpus: float | None = None, memory_mb: int | None = None) -> Process:
        """Create a process and wait until it is ALLOCATED."""
        validate_name(name, "process name")
        body = {k: v for k, v in {"vcpus": vcpus, "memory_mb": memory_mb}.items() if v is not None}
        info = self.cp.request("PUT", f"/apps/{self.name}/processes/{name}", json=body).json()
        return Process(self, name, ProcessInfo.from_json(info))

    def process(self, name: str) -> Process:
        """An existing process (raises ``ProcessNotFound``)."""
        validate_name(name, "process name")
        info = self.cp.request("GET", f"/apps/{self.name}/processes/{name}").json()
        return Process(self, name, ProcessInfo.from_json(info))

    def processes(self) -> list[ProcessInfo]:
        """The application's processes, oldest first (``info.view`` groups them: active, swapped, inactive)."""
        return _flatten(self.cp.request("GET", f"/apps/{self.name}/processes").json())

    def swapin(self, name: str) -> Process:
        """Swap a process in from its newest snapshot."""
        validate_name(name, "process name")
        info = self.cp.request("POST", f"/apps/{self.name}/processes/{name}/swapin").json()
        return Process(self, name, ProcessInfo.from_json(info))

    def delete_process(self, name: str) -> None:
        """Delete a process and its swapped state."""
        validate_name(name, "process name")
        self.cp.request("DELETE", f"/apps/{self.name}/processes/{name}")

    def invoke(self, function: str, data: Any = b"", process: str | None = None,
               timeout: float | None = None) -> Result:
        """Invoke through the control plane: sticky with ``process`` (swapped in if needed), else any idle
        pooled process."""
        check_timeout(timeout, "invocation")
        if process is not None:
            validate_name(process, "process name")
        payload = encode_payload(data)
        gateway = self.cp.gateway()
        if gateway is not None:
            try:
                return gateway.invoke(self.name, function, payload, process, timeout)
            except Unreachable as exc:  # the request was not delivered: REST is safe
                self.cp.stop_using_gateway(str(exc))
        params: dict[str, Any] = {}
        if process is not None:
            params["process"] = process
        if timeout is not None:
            params["timeout"] = timeout
        resp = self.cp.request("POST", f"/apps/{self.name}/invoke/{function}", content=payload, params=params)
        return Result(resp.content, resp.headers.get("x-praas-content-type", "b"),
                      resp.headers.get("x-praas-process"), resp.headers.get("x-praas-invocation"))

    def delete(self) -> None:
        """Delete the application (refused while it has processes)."""
        self.cp.request("DELETE", f"/apps/{self.name}")


class Process:
    """A cloud process; :meth:`invoke` talks to it directly over the data plane."""

    def __init__(self, app: Application, name: str, info: ProcessInfo) -> None:
        self.app = app
        self.name = name
        self.info = info

    def __repr__(self) -> str:
        return f"Process({self.app.name!r}, {self.name!r}, {self.status.value})"

    @property
    def status(self) -> Status:
        """The status when last read (:meth:`refresh` reads it again)."""
        return self.info.status

    @property
    def address(self) -> str | None:
        """The data-plane address while ALLOCATED."""
        return self.info.address

    def refresh(self) -> Process:
        """Re-read status, address and metrics."""
        info = self.app.cp.request("GET", f"/apps/{self.app.name}/processes/{self.name}").json()
        self.info = ProcessInfo.from_json(info)
        return self

    def invoke(self, function: str, data: Any = b"", timeout: float | None = 300.0) -> Result:
        """Invoke ``function`` directly in this process (data plane).

        A process that was swapped out and in again since this object last looked (it moved, or came back
        at the same address with a new key) is found again: within about a second the call either reaches
        it or fails with :class:`InvalidState` saying what it is now.
        """
        payload = encode_payload(data)
        check_timeout(timeout, "invocation")
        check_payload(len(payload), self.info.max_payload)
        for attempt in (1, 2):
            if not self.address:
                self.refresh()
            if not self.address:
                raise InvalidState(f"process {self.name!r} is {self.status.value}; it has no data-plane address")
            address, key = self.address, self.info.public_key
            try:
                return self.app.cp.data_plane.invoke(address, function, payload, timeout, self.name,
                                                     server_key=key, client=self.app.cp.credentials(self.app.name))
            except Unreachable:
                if attempt == 2 or self.refresh().address == address:
                    raise
            except Unauthorized:  # a new incarnation at the same address has a new key
                if attempt == 2 or self.refresh().info.public_key == key:
                    raise
        raise AssertionError("unreachable")

    def logs(self, tail: int = 200) -> str:
        """The last ``tail`` lines its runtime printed (of its last incarnation when none runs)."""
        return self.app.cp.request("GET", f"/apps/{self.app.name}/processes/{self.name}/logs",
                                   params={"tail": tail}).text

    def swap(self) -> SwapReport:
        """Swap out; what was written."""
        report = self.app.cp.request("POST", f"/apps/{self.app.name}/processes/{self.name}/swap").json()
        self.app.cp.data_plane.forget(self.address or "")
        self.refresh()
        return SwapReport.from_json(report)

    def swapin(self) -> Process:
        """Swap this process back in."""
        self.info = self.app.swapin(self.name).info
        return self

    def stop(self) -> None:
        """Stop the process (state discarded)."""
        info = self.app.cp.request("POST", f"/apps/{self.app.name}/processes/{self.name}/stop").json()
        self.info = ProcessInfo.from_json(info)

    def kill(self) -> None:
        """SIGKILL the process's runtime (fault injection)."""
        self.app.cp.request("POST", f"/apps/{self.app.name}/processes/{self.name}/kill")

    def delete(self) -> None:
        """Delete the process and its swapped state."""
        self.app.delete_process(self.name)


def connect(url: str | None = None, token: str | None = None, home: str | Path | None = None,
            gateway: bool = True) -> ControlPlaneClient:
    """Connect to a running control plane.

    ``url`` and ``token`` default to ``PRAAS_URL`` / ``PRAAS_TOKEN``, then to what a control plane
    started on this machine wrote into ``~/.praas`` (``endpoint.json`` and ``token``; ``PRAAS_HOME``).
    ``gateway=False`` sends invocations through the REST route even where the invocation gateway runs.
    """
    h = Path(home) if home else default_home()
    url = url or os.environ.get("PRAAS_URL") or read_endpoint(h)
    token = token or os.environ.get("PRAAS_TOKEN") or read_token(h)
    return ControlPlaneClient(str(url), token, gateway=gateway)


__all__ = ["ControlPlaneClient", "Application", "Process", "connect"]
