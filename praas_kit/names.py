"""Names: applications, processes and functions, the channel addresses ``SELF``/``ANY``, and safe
relative paths.

Every place that turns a name into a path or a key uses these checks, so nothing a user names can
escape the directory or prefix it belongs to.
"""

from __future__ import annotations

import re

from praas_kit.errors import InvalidArgument, InvalidName

SELF = "SELF"
"""Address of the calling process in ``send``, ``recv`` and ``invoke``."""
ANY = "ANY"
"""Wildcard source for ``recv``: the first matching message from any process."""

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
MAX_FUNCTION_NAME = 128


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it matches ``[a-z0-9][a-z0-9._-]{0,62}``; raise :class:`InvalidName` otherwise.

    ``.`` and ``..`` cannot match (they do not start with a letter or digit), so a valid name
    is always a safe single path component.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:80]) + "..."
        raise InvalidName(
            f"invalid {what} {shown}: use 1-63 characters of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return name


def validate_function_name(name: object) -> str:
    """Return ``name`` if it is a usable function name (a string of 1-128 characters); raise
    :class:`InvalidArgument` otherwise."""
    if not isinstance(name, str) or not name or len(name) > MAX_FUNCTION_NAME:
        raise InvalidArgument(f"invalid function name {name!r}: use a string of 1-{MAX_FUNCTION_NAME} characters")
    return name


def check_relative_path(path: object, what: str = "path") -> str:
    """Return ``path`` if it is a relative POSIX path that stays below its base directory.

    Refused (:class:`InvalidArgument`): non-strings, empty paths, absolute paths, backslashes,
    NUL characters, and any empty, ``.`` or ``..`` component.
    """
    if (not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path
            or any(part in ("", ".", "..") for part in path.split("/"))):
        raise InvalidArgument(f"unsafe {what} {path!r}: give a relative path without '.' or '..' components")
    return path


__all__ = ["SELF", "ANY", "NAME_RE", "validate_name", "validate_function_name", "check_relative_path"]
