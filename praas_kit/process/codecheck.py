"""Checking application code before anything runs it: ``python -m praas_kit.process.codecheck PATH``.

Run by a backend in a throw-away process shaped like the ones that will run the code (a subprocess for
the local backend, a container of the application's image for the docker backend), so that importing user
code never happens in the control plane. Prints one JSON line: ``{"functions": [...]}`` or
``{"error": "..."}`` naming the problem (not a module, a syntax error with its line, a name that shadows a
standard-library module, an import that fails, no ``@function`` at all).
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from praas_kit.errors import InvalidArgument
from praas_kit.function import load_code, module_name


def check(path: Path) -> list[str]:
    """The function names the code at ``path`` registers; :class:`InvalidArgument` naming what is wrong."""
    module_name(path)  # a .py file or a package, with a name of its own
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    for f in files:
        try:
            compile(f.read_bytes(), str(f), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise InvalidArgument(f"{f.name}:{exc.lineno}: {type(exc).__name__}: {exc.msg}") from None
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"{f.name}: cannot read it: {exc}") from None
    try:
        functions = load_code(path)
    except InvalidArgument:
        raise
    except BaseException as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        raise InvalidArgument(f"importing {path.name} failed: {last}") from None
    if not functions:
        raise InvalidArgument(f"{path.name} defines no function: decorate them with @praas_kit.function")
    return sorted(functions)


def main(argv: list[str]) -> int:
    try:
        out: dict[str, object] = {"functions": check(Path(argv[0]))}
    except InvalidArgument as exc:
        out = {"error": exc.message}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
