"""An application whose functions try what an attacker's code inside a process could try (a package, so
that it reaches a container whole)."""

from praas_kit import function

from .mallory import (  # noqa: F401
    call_other,
    cinv_flood,
    epoch,
    fake_swapped,
    forge,
    forge_relay,
    peek_snapshots,
    plant_snapshot,
    replace_state,
)


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
def send(invocation, context):
    """Send ``value`` to ``to`` under ``key``."""
    args = invocation.json()
    context.send(args["to"], args.get("key", "m"), args["value"])


@function
def recv(invocation, context):
    """The next message with ``key`` from ``src``, as text."""
    args = invocation.json()
    return context.recv(args["src"], args.get("key", "m"), timeout=float(args.get("timeout", 5))).decode()


@function
def slow(invocation, context):
    """Keep a worker for two seconds."""
    import time

    time.sleep(2.0)
