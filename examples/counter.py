"""A tiny PraaS application: a counter kept in process state, shared over a channel."""

from praas_kit import function


@function
def add(invocation, context):
    """Add ``n`` to this process's total; with ``notify``, send the new total to that process."""
    args = invocation.json()
    total = int(context.state("total") or b"0") + args["n"]
    context.state("total", str(total))  # process state: survives invocations and swaps
    if "notify" in args:
        context.send(args["notify"], "total", str(total))  # channel: straight to another process
    return {"total": total}


@function
def take(invocation, context):
    """Receive the next "total" message from ``src`` (waits up to 10 s)."""
    return context.recv(invocation.json()["src"], "total", timeout=10).decode()
