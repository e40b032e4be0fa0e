"""The function API for application code: ``@function``, the invocation object, and the code loader.

Application code is a module or package; importing it registers every ``@function`` in
:data:`REGISTRY`. A function takes ``(invocation, context)`` and returns ``bytes | str |
JSON-serialisable value | None`` (see :mod:`praas_kit.payload`). Clients never need this module.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from praas_kit.errors import InvalidArgument
from praas_kit.names import ANY, SELF, validate_function_name

FunctionType = Callable[["Invocation", Any], Any]
REGISTRY: dict[str, FunctionType] = {}


@overload
def function(fn: FunctionType) -> FunctionType: ...
@overload
def function(*, name: str) -> Callable[[FunctionType], FunctionType]: ...


def function(fn: FunctionType | None = None, *, name: str | None = None) -> Any:
    """Register ``fn`` as a PraaS function under its Python name, or under ``name``."""

    def register(f: FunctionType) -> FunctionType:
        REGISTRY[validate_function_name(name or f.__name__)] = f
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


def module_name(path: str | Path) -> str:
    """The module name of application code at ``path`` (a ``.py`` file or a package directory);
    :class:`InvalidArgument` if it is neither, or if its name would import another module instead (a
    standard-library module such as ``json``, or one already loaded)."""
    p = Path(path).resolve()
    if not p.exists():
        raise InvalidArgument(f"application code {str(path)!r} does not exist")
    if p.is_file() and p.suffix == ".py":
        modname = p.stem
    elif p.is_dir() and (p / "__init__.py").exists():
        modname = p.name
    else:
        raise InvalidArgument(f"application code {str(path)!r} is neither a .py file nor a package directory "
                              "(with an __init__.py)")
    if not modname.isidentifier():
        raise InvalidArgument(f"application code {p.name!r}: {modname!r} is not a valid module name")
    loaded = sys.modules.get(modname)
    if modname in sys.stdlib_module_names or modname == "praas_kit" or (
            loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() not in (p, p / "__init__.py")):
        raise InvalidArgument(f"application code {p.name!r} is named like the module {modname!r} that Python would "
                              "import instead (standard library or already loaded): rename it")
    return modname


def load_code(path: str | Path) -> dict[str, FunctionType]:
    """Import application code (a ``.py`` file or a package directory) and return its functions.

    The module's parent directory goes on ``sys.path``. Raises :class:`InvalidArgument` if the path is not
    application code (see :func:`module_name`); import errors propagate with their traceback.
    """
    p = Path(path).resolve()
    modname = module_name(p)
    parent = str(p.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    importlib.import_module(modname)
    return dict(REGISTRY)


__all__ = ["ANY", "SELF", "REGISTRY", "FunctionType", "Invocation", "function", "load_code", "module_name"]
