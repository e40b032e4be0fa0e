"""An application whose functions try what an attacker's code inside a process could try (a package, so
that it reaches a container whole)."""

from praas_kit import function

from .mallory import call_other, forge  # noqa: F401


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
