"""Functions the adversarial tests run: message storms, big messages, forks, slow starts."""

import os
import subprocess
import sys
import time

from praas_kit import function


@function
def spam(invocation, context):
    """Send ``n`` messages ``0..n-1`` (each ``size`` bytes, the number first) to ``to`` with key ``key``."""
    args = invocation.json()
    size = int(args.get("size", 0))
    for i in range(int(args["n"])):
        body = str(i).encode()
        context.send(args["to"], args.get("key", "m"), body + b" " * max(0, size - len(body)))
    return None


@function
def drain(invocation, context):
    """Receive ``n`` messages from ``src``; return how many arrived in order and the first out-of-order one."""
    args = invocation.json()
    expected = int(args.get("start", 0))
    for _ in range(int(args["n"])):
        got = int(context.recv(args["src"], args.get("key", "m"), timeout=float(args.get("timeout", 60))).split()[0])
        if got != expected:
            return {"in_order": expected - int(args.get("start", 0)), "unexpected": got}
        expected += 1
    return {"in_order": expected - int(args.get("start", 0)), "unexpected": None}


@function
def pending(invocation, context):
    """How many messages with ``key`` from ``src`` arrive within ``timeout`` seconds (consuming them)."""
    args = invocation.json()
    n = 0
    try:
        while True:
            context.recv(args["src"], args.get("key", "m"), timeout=float(args.get("timeout", 0.5)))
            n += 1
    except Exception:  # noqa: BLE001 - RecvTimeout ends the count
        return n


@function
def environment(invocation, context):
    token = None
    home = invocation.json().get("token_file") if invocation.payload else None
    if home:
        try:
            with open(home) as f:
                token = f.read()
        except OSError as exc:
            token = f"unreadable: {type(exc).__name__}"
    return {"env": dict(os.environ), "uid": os.getuid(), "token": token}


@function
def fork_sleeper(invocation, context):
    """Start a child that outlives the call (and would keep the process's files open)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=False)
    return child.pid


@function
def put(invocation, context):
    context.state("k", invocation.payload)
    return len(invocation.payload)


@function
def get(invocation, context):
    return context.state("k")


@function
def crash(invocation, context):
    print("about to crash: the last words of the process", flush=True)
    time.sleep(0.1)
    os._exit(3)


@function
def recv_long(invocation, context):
    """``recv`` with the timeout given (seconds); what happened."""
    try:
        context.recv("ANY", "nothing", timeout=float(invocation.json()))
        return "received"
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return f"{type(exc).__name__}: {exc}"
