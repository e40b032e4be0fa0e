"""How the ``praas`` command shows its answers: rich tables for a person, JSON for a program, and the new
lines of a log that is followed."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

#: the columns a table of applications, processes or snapshots shows (all of them: ``-o json``)
TABLE_COLUMNS = ("app", "name", "status", "vcpus", "memory_mb", "function_workers", "pooled", "address", "code",
                 "image", "snapshot", "bytes", "seconds", "error")


def show(obj: Any, mode: str = "auto") -> None:
    """Print a command's answer: a table for a person (``table``, and ``auto`` on a terminal), JSON for a
    program (``json``, and ``auto`` when the output is piped)."""
    if mode == "json" or (mode == "auto" and not sys.stdout.isatty()):
        typer.echo(json.dumps(obj, indent=2, default=str))
        return
    from rich.console import Console

    Console(width=max(100, Console().width)).print(table(obj))


def table(obj: Any) -> Any:
    """``obj`` as a rich table: a list of objects (a column per key, :data:`TABLE_COLUMNS` first), or one
    object (key, value); nested values as compact JSON. ``{"active": [...], "swapped": [...]}``-like objects
    become one titled table per key."""
    from rich.console import Group
    from rich.table import Table

    def cell(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))

    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        parts = []
        for key, rows in obj.items():
            part = table(rows)
            part.title = str(key)
            parts.append(part)
        return Group(*parts)
    if isinstance(obj, list) and all(isinstance(row, dict) for row in obj):
        present = list(dict.fromkeys(k for row in obj for k in row))
        columns = [c for c in TABLE_COLUMNS if c in present] or present  # what a person looks for first
        out = Table(*columns, show_lines=False)
        for row in obj:
            out.add_row(*[cell(row.get(c, "")) for c in columns])
        return out
    out = Table("field", "value", show_header=False)
    for key, value in (obj.items() if isinstance(obj, dict) else [("value", obj)]):
        out.add_row(str(key), cell(value))
    return out


def new_lines_start(before: list[str], now: list[str]) -> int:
    """Where the lines of ``now`` not printed yet begin: just after the last place where the last lines of
    ``before`` (up to 20 of them) appear in ``now``; 0 if they do not (a new incarnation's log)."""
    m = min(len(before), 20)
    if not m:
        return 0
    for i in range(len(now), m - 1, -1):
        if now[i - m:i] == before[-m:]:
            return i
    return 0


__all__ = ["show", "table", "new_lines_start", "TABLE_COLUMNS"]
