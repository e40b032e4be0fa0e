"""Functions the channels notebook uses (notebooks/03_channels.ipynb): messages between processes."""

import json

from praas_kit import ANY, SELF, function


@function
def post(invocation, context):
    """Send ``count`` numbered messages with ``key`` to process ``to`` (SELF allowed); returns at once."""
    a = invocation.json()
    for i in range(a.get("count", 1)):
        context.send(a.get("to", SELF), a["key"], f"{a.get('text', 'message')} {i}")
    return a.get("count", 1)


@function
def collect(invocation, context):
    """Receive ``count`` messages with ``key`` from ``src`` (a process name or "ANY"), waiting up to ``timeout`` s
    for each; returns them in the order they were received."""
    a = invocation.json()
    src = ANY if a.get("src", "ANY") == "ANY" else a["src"]
    return [context.recv(src, a["key"], timeout=a.get("timeout", 10)).decode() for _ in range(a.get("count", 1))]


@function
def ring(invocation, context):
    """Pass a token around the ring ``members`` (a list of process names, this one included): the first member
    starts it, every member appends its name and sends it on; the first member returns the full round."""
    members = invocation.json()["members"]
    me = context.process_id
    i = members.index(me)
    left, right = members[i - 1], members[(i + 1) % len(members)]
    if i == 0:
        context.send(right, "token", json.dumps([me]))
        return json.loads(context.recv(left, "token", timeout=30))
    token = json.loads(context.recv(left, "token", timeout=30))
    context.send(right, "token", json.dumps(token + [me]))
    return token + [me]


@function
def allreduce(invocation, context):
    """All-reduce by sum: send ``value`` to every other member of ``members``, receive theirs, return the total
    (every member computes the same total)."""
    a = invocation.json()
    me = context.process_id
    others = [p for p in a["members"] if p != me]
    for p in others:
        context.send(p, "allreduce", str(a["value"]))
    return a["value"] + sum(float(context.recv(p, "allreduce", timeout=30)) for p in others)
