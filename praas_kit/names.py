"""Validation of application and process names, and safe encodings of free-form keys."""

from __future__ import annotations

import re

from praas_kit.errors import InvalidName

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


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
