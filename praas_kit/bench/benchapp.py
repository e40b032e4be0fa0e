"""Functions the benchmarks run inside processes."""

from __future__ import annotations

import os
from typing import Any

from praas_kit import Invocation, function


@function
def echo(inv: Invocation, ctx: Any) -> bytes:
    return inv.payload


@function
def noop(inv: Invocation, ctx: Any) -> None:
    return None


@function
def fill(inv: Invocation, ctx: Any) -> None:
    """Hold ``MiB`` of state: 1 MiB objects of random bytes."""
    mib = int(inv.text)
    for i in range(mib):
        ctx.state(f"obj-{i}", os.urandom(1 << 20))


@function
def size(inv: Invocation, ctx: Any) -> int:
    return sum(len(ctx.state(k)) for k, _ in ctx.state_keys())
