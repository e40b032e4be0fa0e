"""What worker threads hand to the I/O thread (:meth:`praas_kit.process.runtime.ProcessRuntime.post`).

Each is a small frozen dataclass; the I/O thread dispatches on its type. Only the I/O thread touches
sockets, so everything a worker wants sent goes through one of these.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from praas_kit.errors import PraasError

Route = tuple[Any, ...]
"""Where a result goes: ``("r", ident)`` a data-plane client or peer; ``("c",)`` the control plane."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A function's result (header already encoded) for ``route``."""

    route: Route
    header: bytes
    payload: Any


@dataclass(frozen=True, slots=True)
class Send:
    """``context.send`` to a peer."""

    dst: str
    key: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PeerInvoke:
    """``context.invoke`` of a peer; ``future`` resolves to the result bytes."""

    dst: str
    fn: str
    inv_id: str
    payload: bytes
    future: Future[bytes]


@dataclass(frozen=True, slots=True)
class SwapDrained:
    """The swapper's drain finished: write the snapshot (``error`` is ``None``) or refuse the swap."""

    rid: str
    snapshot: str
    error: PraasError | None


Post = Reply | Send | PeerInvoke | SwapDrained

__all__ = ["Route", "Reply", "Send", "PeerInvoke", "SwapDrained", "Post"]
