"""Functions the benchmarks run inside processes."""

import os

from praas_kit import function


@function
def echo(inv, ctx):
    return inv.payload


@function
def noop(inv, ctx):
    return None


@function
def fill(inv, ctx):
    """Hold ``MiB`` of state: 1 MiB objects of random bytes."""
    mib = int(inv.text)
    for i in range(mib):
        ctx.state(f"obj-{i}", os.urandom(1 << 20))


@function
def size(inv, ctx):
    return sum(len(ctx.state(k)) for k, _ in ctx.state_keys())
