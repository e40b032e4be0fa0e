"""The function API: ``@function``, the invocation object and result encoding.

Application code is a module or package; importing it registers every ``@function``
in :data:`REGISTRY`. A function takes ``(invocation, context)`` and returns
``bytes | str | JSON-serialisable value | None``; :func:`encode_result` turns that into
``(content_type, bytes)`` and :func:`decode_result` is its inverse on the client side.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from praas_kit.errors import InvalidArgument, InvocationError

SELF = "SELF"
"""Address of the calling process in ``send``, ``recv`` and ``invoke``."""
ANY = "ANY"
"""Wildcard source for ``recv``: the first matching message from any process."""

FunctionType = Callable[["Invocation", Any], Any]
REGISTRY: dict[str, FunctionType] = {}

CT_BYTES, CT_TEXT, CT_JSON, CT_NONE = "b", "s", "j", "n"
MIME = {
    CT_BYTES: "application/octet-stream",
    CT_TEXT: "text/plain; charset=utf-8",
    CT_JSON: "application/json",
    CT_NONE: "application/octet-stream",
}


@overload
def function(fn: FunctionType) -> FunctionType: ...
@overload
def function(*, name: str) -> Callable[[FunctionType], FunctionType]: ...


def function(fn: FunctionType | None = None, *, name: str | None = None) -> Any:
    """Register ``fn`` as a PraaS function under its Python name, or under ``name``."""

    def register(f: FunctionType) -> FunctionType:
        fname = name or f.__name__
        if not isinstance(fname, str) or not fname or len(fname) > 128:
            raise InvalidArgument(f"invalid function name {fname!r}")
        REGISTRY[fname] = f
        return f

    return register(fn) if fn is not None else register


@dataclass
class Invocation:
    """One call of a function: its name, id and payload."""

    function: str
    id: str
    payload: bytes

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode()


def encode_payload(data: Any) -> bytes:
    """Client side: ``bytes`` as is, ``str`` as UTF-8, ``None`` as empty, anything else as JSON."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if data is None:
        return b""
    try:
        return json.dumps(data).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"payload is neither bytes, str nor JSON-serialisable: {exc}") from None


def encode_result(value: Any) -> tuple[str, bytes | memoryview]:
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
    makes (once) the ``bytes`` copy most code wants.
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
        return f"Result({shown!r}{'...' if len(self) > 60 else ''}, content_type={self.content_type!r}, " \
               f"process={self.process!r}, id={self.id!r})"

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


def load_code(path: str | Path) -> dict[str, FunctionType]:
    """Import application code (a ``.py`` file or a package directory) and return its functions.

    The module's parent directory goes on ``sys.path``. Raises :class:`InvalidArgument` if the
    path does not exist; import errors propagate with their traceback.
    """
    p = Path(path).resolve()
    if not p.exists():
        raise InvalidArgument(f"application code {str(path)!r} does not exist")
    if p.is_file() and p.suffix == ".py":
        modname = p.stem
    elif p.is_dir() and (p / "__init__.py").exists():
        modname = p.name
    else:
        raise InvalidArgument(f"application code {str(path)!r} is neither a .py file nor a package")
    parent = str(p.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    importlib.import_module(modname)
    return dict(REGISTRY)
