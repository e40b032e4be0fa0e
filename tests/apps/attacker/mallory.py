"""An application whose functions try what an attacker's code inside a process could try."""

import json

import zmq

from praas_kit import function, wire


def _dealer(context, server_key):
    """A socket with this process's own keys (function code can reach them: it runs in the process)."""
    rt = context._rt
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if rt.keys is not None and server_key:
        sock.curve_serverkey = server_key.encode()
        sock.curve_publickey = rt.keys.public.encode()
        sock.curve_secretkey = rt.keys.secret.encode()
    return sock


@function
def forge(invocation, context):
    """Put a message into ``to``'s mailbox that claims to come from ``claim``; what came back."""
    args = invocation.json()
    peer = context._rt.world[args["to"]]
    sock = _dealer(context, peer.get("key"))
    sock.connect(peer["address"])
    sock.send_multipart([wire.header("msg", src=args["claim"], ep="forged", key="k", seq=1), b"forged"])
    reply = sock.recv_multipart() if sock.poll(3000) else None
    sock.close()
    return None if reply is None else json.loads(reply[0])


@function
def call_other(invocation, context):
    """Invoke ``fn`` at a process of another application (its address and key given); what happened."""
    args = invocation.json()
    sock = _dealer(context, args.get("key"))
    sock.connect(args["address"])
    sock.send_multipart([wire.invoke_header("x", args["fn"]), b"hello"])
    reply = sock.recv_multipart() if sock.poll(3000) else None
    sock.close()
    return "no answer" if reply is None else reply[1].decode(errors="replace")
