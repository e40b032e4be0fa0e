"""The client side of the control plane's invocation gateway (:mod:`praas_kit.control.gateway`).

:meth:`praas_kit.sdk.client.Application.invoke` uses it when the control plane runs one: the call
travels as one ZeroMQ request over the SDK's data-plane client instead of an HTTP request, with the
REST route's semantics and errors. A gateway the client cannot reach (its port is not published, say)
is noticed within :data:`~praas_kit.sdk.dataplane.CONNECT_TIMEOUT` with the request undelivered, and the
client then uses the REST route.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from praas_kit import wire
from praas_kit.keys import KeyPair
from praas_kit.limits import check_payload
from praas_kit.payload import Result
from praas_kit.sdk.dataplane import DataPlaneClient


def gateway_address(url: str, port: int) -> str:
    """The ZeroMQ address of the gateway on ``port`` of the host in the REST ``url``."""
    host = urlsplit(url).hostname or "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"tcp://{host}:{port}"


class GatewayClient:
    """Invocations through one control plane's gateway (thread-safe, like :class:`DataPlaneClient`)."""

    def __init__(self, data_plane: DataPlaneClient, url: str, token: str, info: dict[str, Any],
                 patience: float = 330.0) -> None:
        self.data_plane, self.token, self.patience = data_plane, token, patience
        self.address = gateway_address(url, int(info["port"]))
        self.server_key: str | None = info.get("public_key")
        self.max_payload = int(info["max_payload"])
        self.keys = KeyPair.new() if self.server_key else None  # any client key: calls carry the token

    def invoke(self, app: str, function: str, payload: bytes, process: str | None = None,
               timeout: float | None = None) -> Result:
        """Run ``function`` of ``app`` through the control plane (see ``Application.invoke``)."""
        check_payload(len(payload), self.max_payload)
        fields: dict[str, Any] = {"app": app, "fn": function, "tok": self.token}
        if process is not None:
            fields["proc"] = process
        if timeout is not None:
            fields["timeout"] = timeout
        # the control plane enforces the timeout; the client waits a little longer (as long as for a REST reply)
        wait = self.patience if timeout is None else timeout + 30.0
        return self.data_plane.request(self.address, lambda cid: wire.header("call", id=cid, **fields), function,
                                       payload, wait, "the control plane's invocation gateway", process or "",
                                       self.server_key, self.keys)


__all__ = ["GatewayClient", "gateway_address"]
