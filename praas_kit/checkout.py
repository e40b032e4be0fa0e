"""The source checkout praas-kit runs from, found once.

The kit's data (``datasets/``, committed ``results/``, ``examples/``, ``notebooks/``, ``docker/``) lives in the
repository, not in the package. :func:`checkout_root` is the folder that holds ``pyproject.toml`` next to
``praas_kit/``: ``$PRAAS_REPO`` if it names one, else the folder above this package (an editable install or a
run from the clone), else the current folder if it is one (an installed copy run from a clone).
:func:`in_checkout` is a path inside it, or :class:`~praas_kit.errors.CheckoutMissing` saying what was wanted
when there is none; :func:`checkout_path` is where a path would be, for module constants that must not fail at
import (the runtime imports application packages in containers without a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

from praas_kit.errors import CheckoutMissing


def _is_checkout(root: Path) -> bool:
    return (root / "pyproject.toml").is_file() and (root / "praas_kit").is_dir()


def checkout_root() -> Path | None:
    """The source checkout (``$PRAAS_REPO``, the folder above the package, the current folder), or ``None``."""
    candidates = [Path(os.environ["PRAAS_REPO"])] if os.environ.get("PRAAS_REPO") else []
    candidates += [Path(__file__).resolve().parents[1], Path.cwd()]
    return next((c.resolve() for c in candidates if _is_checkout(c)), None)


def in_checkout(*parts: str, what: str = "") -> Path:
    """``<checkout>/<parts...>``; :class:`CheckoutMissing` naming ``what`` (default the path) when there is no
    checkout. The path itself need not exist."""
    root = checkout_root()
    if root is None:
        wanted = what or "/".join(parts)
        raise CheckoutMissing(f"{wanted} lives in the praas-kit source checkout, and this installed copy is outside "
                              "one: run from a clone (pip install -e .) or set PRAAS_REPO to it")
    return root.joinpath(*parts)


def checkout_path(*parts: str) -> Path:
    """``<checkout>/<parts...>``, or the same under the current folder when there is no checkout (the path may
    not exist; a reader then fails with ``FileNotFoundError`` naming it). For module-level constants."""
    return (checkout_root() or Path.cwd()).joinpath(*parts)


__all__ = ["checkout_root", "in_checkout", "checkout_path"]
