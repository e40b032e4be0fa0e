"""Functions the integration tests run inside processes."""

import os
import threading
import time

from praas_kit import ANY, SELF, RecvTimeout, function


@function
def echo(inv, ctx):
    return inv.payload


@function
def noop(inv, ctx):
    return None


@function(name="put-state")
def put_state(inv, ctx):
    d = inv.json()
    ctx.state(d["key"], d["value"].encode())


@function(name="get-state")
def get_state(inv, ctx):
    return ctx.state(inv.text)


@function
def keys(inv, ctx):
    return [k for k, _ in ctx.state_keys()]


@function
def big_state(inv, ctx):
    d = inv.json()
    ctx.state(d["key"], os.urandom(1024) * (d["kib"]))
    return len(ctx.state(d["key"]))


@function
def write_file(inv, ctx):
    d = inv.json()
    path = ctx.state_dir / d["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(d["text"])


@function
def read_file(inv, ctx):
    return (ctx.state_dir / inv.text).read_text()


@function
def send(inv, ctx):
    d = inv.json()
    for v in d["values"]:
        ctx.send(d["to"], d["key"], str(v))


@function
def recv(inv, ctx):
    d = inv.json()
    return [ctx.recv(d.get("src", ANY), d["key"], timeout=d.get("timeout", 10)).decode() for _ in range(d["n"])]


@function
def ring(inv, ctx):
    d = inv.json()
    procs, rounds = d["ring"], d["rounds"]
    i = procs.index(ctx.process_id)
    nxt, prev = procs[(i + 1) % len(procs)], procs[i - 1]
    total = 0
    for r in range(rounds):
        token = 1 if (i == 0 and r == 0) else int(ctx.recv(prev, "token", timeout=30))
        total += token
        ctx.state("acc", str(total))
        if not (i == len(procs) - 1 and r == rounds - 1):
            ctx.send(nxt, "token", str(token + 1))
    return total


@function
def nested(inv, ctx):
    return ctx.invoke(SELF, "echo", b"inner:" + inv.payload)


@function
def call_peer(inv, ctx):
    d = inv.json()
    return ctx.invoke(d["to"], d["fn"], d.get("data", "").encode(), timeout=30)


@function
def world(inv, ctx):
    return ctx.processes()


@function
def boom(inv, ctx):
    raise ValueError("boom from inside")


@function
def unserialisable(inv, ctx):
    return object()


@function
def sleep(inv, ctx):
    time.sleep(float(inv.text or "1"))
    return "slept"


@function
def allocate(inv, ctx):
    block = bytearray(int(inv.text) << 20)
    return len(block)


@function
def span(inv, ctx):
    """Block for ``seconds`` the way ``how`` says (``sleep``, ``recv`` a message that never comes, ``invoke`` a
    peer's ``sleep``, ``self``: a nested ``invoke(SELF)`` of ``sleep``); when it started and ended (Unix
    seconds: one clock for every process of a machine) and on which thread."""
    d = inv.json() if inv.payload else {}
    how, seconds = d.get("how", "sleep"), float(d.get("seconds", 0.5))
    start = time.time()
    if how == "sleep":
        time.sleep(seconds)
    elif how == "recv":
        try:
            ctx.recv(SELF, "never-sent", timeout=seconds)
        except RecvTimeout:
            pass
    elif how == "invoke":
        ctx.invoke(d["peer"], "sleep", str(seconds).encode(), timeout=60)
    elif how == "self":
        ctx.invoke(SELF, "sleep", str(seconds).encode(), timeout=60)
    else:
        raise ValueError(f"unknown way to block: {how!r}")
    return {"start": start, "end": time.time(), "thread": threading.get_ident()}


@function
def hold(inv, ctx):
    """Keep a worker for a second, whatever the payload; its size."""
    time.sleep(1.0)
    return len(inv.payload)


@function
def say(inv, ctx):
    """Print the payload (it lands in the process's log)."""
    print(inv.text, flush=True)
