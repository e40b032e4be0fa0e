"""Payload and result encoding: what travels between a client and a function, and how it is typed.

A client sends ``bytes`` (as is), ``str`` (UTF-8), ``None`` (empty) or a JSON value
(:func:`encode_payload`). A function returns the same kinds; :func:`encode_result` turns the value
into ``(content type, bytes)`` and the client wraps what arrives in a :class:`Result`. The content
type is one letter on the wire (:data:`CT_BYTES`, ...) and a MIME type over REST (:data:`MIME`).

This module is part of the protocol: the SDK, the control plane and the process runtime import it;
it imports nothing of praas-kit but the errors.
"""

from __future__ import annotations

import json
from typing import Any

from praas_kit.errors import InvalidArgument, InvocationError

CT_BYTES, CT_TEXT, CT_JSON, CT_NONE = "b", "s", "j", "n"
MIME = {
    CT_BYTES: "application/octet-stream",
    CT_TEXT: "text/plain; charset=utf-8",
    CT_JSON: "application/json",
    CT_NONE: "application/octet-stream",
}
#: Payloads at least this large travel zero-copy through pyzmq; smaller ones are cheaper to copy.
ZERO_COPY_MIN = 65536


def encode_payload(data: Any) -> bytes:
    """Client side: ``bytes`` as is, ``str`` as UTF-8, ``None`` as empty, anything else as JSON.

    Raises :class:`InvalidArgument` for a value that is none of these.
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if data is None:
        return b""
    try:
        return json.dumps(data).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"payload is neither bytes, str nor JSON-serialisable: {exc}") from None


def encode_result(value: Any) -> tuple[str, bytes | bytearray | memoryview]:
    """Function side: turn a return value into ``(content type, bytes)``.

    Raises :class:`InvocationError` for a value that is none of bytes, str, None or JSON.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return CT_BYTES, value
    if isinstance(value, str):
        return CT_TEXT, value.encode()
    if value is None:
        return CT_NONE, b""
    try:
        return CT_JSON, json.dumps(value).encode()
    except (TypeError, ValueError) as exc:
        raise InvocationError(
            f"function returned an unserialisable value of type {type(value).__name__}: {exc}; "
            "return bytes, str, None or a JSON-serialisable value"
        ) from None


class Result:
    """What an invocation returned.

    Large results arrive zero-copy: :attr:`buffer` is a view of the received frame; :attr:`payload`
    makes (once) the ``bytes`` copy most code wants. :attr:`process` names the process that ran the
    call and :attr:`id` is the invocation id.
    """

    __slots__ = ("_raw", "_bytes", "content_type", "process", "id")

    def __init__(self, payload: Any, content_type: str = CT_BYTES, process: str | None = None,
                 id: str | None = None) -> None:
        self._raw = payload
        self._bytes: bytes | None = payload if isinstance(payload, bytes) else None
        self.content_type = content_type
        self.process = process
        self.id = id

    @property
    def buffer(self) -> memoryview:
        """The result without copying it."""
        raw = self._raw
        return raw.buffer if hasattr(raw, "buffer") else memoryview(raw)

    @property
    def payload(self) -> bytes:
        """The result as bytes."""
        if self._bytes is None:
            self._bytes = bytes(self.buffer)
        return self._bytes

    def __len__(self) -> int:
        return len(self.buffer)

    def __repr__(self) -> str:
        shown = self.payload[:60]
        more = "..." if len(self) > 60 else ""
        return (f"Result({shown!r}{more}, content_type={self.content_type!r}, process={self.process!r}, "
                f"id={self.id!r})")

    def json(self) -> Any:
        """The result decoded as JSON."""
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        """The result decoded as UTF-8."""
        return self.payload.decode()

    @property
    def value(self) -> Any:
        """The result as the function returned it: bytes, str, a JSON value or None."""
        if self.content_type == CT_JSON:
            return self.json()
        if self.content_type == CT_TEXT:
            return self.text
        if self.content_type == CT_NONE:
            return None
        return self.payload


__all__ = ["CT_BYTES", "CT_TEXT", "CT_JSON", "CT_NONE", "MIME", "ZERO_COPY_MIN", "Result", "encode_payload",
           "encode_result"]
