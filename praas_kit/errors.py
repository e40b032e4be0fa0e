"""The one error hierarchy of praas-kit.

Every error the SDK, the CLI, the REST API or a process raises is a :class:`PraasError`.
Each class carries the HTTP status that fits it, and errors travel as JSON
``{"error": {"type": <class name>, "message": ..., "traceback": ...}}`` so a client
re-raises the same class that the server raised (:func:`from_dict`).
"""

from __future__ import annotations

import builtins
from typing import Any


class PraasError(Exception):
    """Base of every praas-kit error."""

    status: int = 500

    def __init__(self, message: str = "", *, traceback: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used on the wire (REST replies and data-plane error frames)."""
        body: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        if self.traceback:
            body["traceback"] = self.traceback
        return body

    def __str__(self) -> str:
        if self.traceback:
            return f"{self.message}\n--- remote traceback ---\n{self.traceback}"
        return self.message


class BadRequest(PraasError):
    """The request is malformed (bad JSON, missing or mistyped fields)."""

    status = 400


class Unauthorized(PraasError):
    """The bearer token is missing or wrong."""

    status = 401


class NotFound(PraasError):
    """Something named does not exist."""

    status = 404


class ApplicationNotFound(NotFound):
    """No application of that name."""


class ProcessNotFound(NotFound):
    """No process of that name in the application."""


class FunctionNotFound(NotFound):
    """The application's code has no function of that name."""


class SnapshotNotFound(NotFound):
    """No complete swap snapshot exists for the process."""


class Conflict(PraasError):
    """The request conflicts with the current state."""

    status = 409


class ApplicationExists(Conflict):
    """An application of that name already exists."""


class ProcessExists(Conflict):
    """A process of that name already exists in the application."""


class InvalidState(Conflict):
    """The operation is not allowed in the object's current lifecycle state."""


class ProcessFailed(InvalidState):
    """The process failed (its runtime ended unexpectedly). A call does not bring it back silently from an older
    snapshot: swap it in explicitly (``swapin``), or create the application (or start the control plane) with
    ``resume_failed``."""


class MailboxFull(Conflict):
    """A process's mailbox is at its bound (messages or bytes); the message was not taken."""


class Overloaded(PraasError):
    """A process has as many invocations queued (calls or payload bytes) as it takes; this one did not run.
    Retry later, or spread the calls over more processes."""

    status = 429


class InvalidName(PraasError):
    """A name does not match ``[a-z0-9][a-z0-9._-]{0,62}``."""

    status = 422


class InvalidArgument(PraasError):
    """An argument has a value out of range (resources, limits, ...)."""

    status = 422


class PayloadTooLarge(PraasError):
    """A payload exceeds the configured limit."""

    status = 413


class ProtocolError(PraasError):
    """A data-plane frame could not be decoded."""

    status = 400


class InvocationError(PraasError):
    """A function failed; ``traceback`` holds the remote traceback text when there is one.

    When the function raised a built-in exception, :func:`from_dict` makes the error an instance of that
    built-in too (``except KeyError`` catches a function's ``KeyError``, ``except InvocationError`` still does):
    ``remote_type`` names it."""

    status = 500
    remote_type: str | None = None

    def __init__(self, message: str = "", *, traceback: str | None = None, remote_type: str | None = None) -> None:
        super().__init__(message, traceback=traceback)
        if remote_type is not None:
            self.remote_type = remote_type

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.remote_type:
            body["type"], body["remote_type"] = "InvocationError", self.remote_type
        return body


_REMOTE: dict[str, type[InvocationError]] = {}


def _remote_class(name: str) -> type[InvocationError]:
    """``InvocationError`` that is also the built-in exception ``name`` (plain ``InvocationError`` for a name
    that is no built-in exception, or one that cannot be combined with it, such as ``UnicodeDecodeError``)."""
    if name not in _REMOTE:
        builtin = getattr(builtins, name, None)
        cls: type[InvocationError] = InvocationError
        if isinstance(builtin, type) and issubclass(builtin, Exception) and not issubclass(builtin, PraasError):
            try:
                cls = type(f"Remote{name}", (InvocationError, builtin), {"remote_type": name,
                                                                         "__module__": __name__})
                cls("probe")  # UnicodeDecodeError and the like take other arguments than a message
            except TypeError:  # that, or "multiple bases have instance lay-out conflict"
                cls = InvocationError
        _REMOTE[name] = cls
    return _REMOTE[name]


class Timeout(PraasError):
    """A wait ran out of time; the message says what timed out."""

    status = 504


class RecvTimeout(Timeout):
    """``context.recv`` found no matching message in time."""


class ProcessDied(InvocationError):
    """The process ended while the call was in flight."""

    status = 502


class Unreachable(ProcessDied):
    """Nothing answered at the process's data-plane address within the connect timeout (it was swapped out and
    came back elsewhere, or is gone); the request was not sent."""


class BackendError(PraasError):
    """The compute backend failed to start, stop or inspect a process."""

    status = 503


class ControlPlaneUnreachable(PraasError):
    """The control plane could not be reached (nothing listens at its URL, or the server ``praas serve``
    recorded is gone)."""

    status = 503


class StorageError(PraasError):
    """The swap store failed to write or read a snapshot."""

    status = 503


class TexMissing(PraasError):
    """``latexmk`` (or a poppler tool) is not installed where the function runs; the message names the packages."""

    status = 500


class NotebookFailed(PraasError):
    """A cell of a notebook failed (one not tagged ``raises-exception``); the message names the notebook and
    where the executed copy is."""


class CheckoutMissing(PraasError):
    """A file of the source checkout (``datasets/``, ``results/``, ``examples/``, ``docker/``) was needed and this
    installed copy of praas-kit lives outside one."""


def _all_subclasses(cls: type[PraasError]) -> dict[str, type[PraasError]]:
    out: dict[str, type[PraasError]] = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        out.update(_all_subclasses(sub))
    return out


def error_class(name: str) -> type[PraasError]:
    """The error class called ``name``; :class:`PraasError` if there is none."""
    return _all_subclasses(PraasError).get(name, PraasError)


def from_dict(body: Any) -> PraasError:
    """Rebuild an error from its JSON form; anything unexpected becomes a plain :class:`PraasError`."""
    if not isinstance(body, dict):
        return PraasError(f"malformed error body: {body!r}"[:500])
    cls = error_class(str(body.get("type", "PraasError")))
    tb = body.get("traceback")
    remote = body.get("remote_type")
    if cls is InvocationError and isinstance(remote, str):
        return _remote_class(remote)(str(body.get("message", "")), traceback=tb if isinstance(tb, str) else None,
                                     remote_type=remote)
    return cls(str(body.get("message", "")), traceback=tb if isinstance(tb, str) else None)
