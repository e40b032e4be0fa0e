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


@function
def forge_relay(invocation, context):
    """Ask the control plane to relay a message to ``to`` that claims to come from ``claim`` with epoch ``ep``
    (seq 1), through this process's own control connection."""
    args = invocation.json()
    rt = context._rt
    with rt.io:
        rt._to_control([wire.header("fwd", dst=args["to"], src=args["claim"], ep=args["ep"], key=args.get("key", "m"),
                                    seq=1), b"forged"])


@function
def epoch(invocation, context):
    """This incarnation's epoch (what its messages carry as ``ep``)."""
    return context._rt.epoch


def _victim(invocation):
    args = invocation.json()
    return args, args["app"], args["proc"]


@function
def peek_snapshots(invocation, context):
    """The snapshots of another application's process this runtime's swap store lists (what it can read)."""
    _, app, proc = _victim(invocation)
    try:
        return {"snapshots": context._rt.store.snapshots(app, proc)}
    except Exception as exc:  # noqa: BLE001 - what stopped it is the answer
        return {"refused": str(exc)}


@function
def plant_snapshot(invocation, context):
    """Write a new snapshot for another application's process through this runtime's swap store (its
    credentials, or the directory it can reach), signed with this process's own key; what happened."""
    import tempfile
    from pathlib import Path

    from praas_kit.process.mailbox import Mailbox
    from praas_kit.process.snapshot import write_snapshot
    from praas_kit.process.state import StateStore
    from praas_kit.storage.base import new_snapshot_id

    args, app, proc = _victim(invocation)
    rt = context._rt
    state = StateStore()
    state.put(args["key"], args["value"].encode())
    where = (rt.store, app, proc, new_snapshot_id(), state, Mailbox(), Path(tempfile.mkdtemp()))
    try:
        if hasattr(rt, "snapshot_key"):
            write_snapshot(*where, rt.snapshot_key)
        else:  # a runtime from before snapshots were signed
            write_snapshot(*where)
        return {"planted": True}
    except Exception as exc:  # noqa: BLE001
        return {"refused": str(exc)}


@function
def replace_state(invocation, context):
    """Overwrite the state object of every committed snapshot of another application's process; what happened."""
    args, app, proc = _victim(invocation)
    store, value = context._rt.store, args["value"].encode()
    try:
        snapshots = store.snapshots(app, proc)
        for sid in snapshots:
            if hasattr(store, "root"):  # the directory store
                (store.root / app / proc / sid / "state.bin").write_bytes(value)
            else:  # the S3 store: its bucket-wide credentials
                store._client.put_object(Bucket=store.bucket, Key=f"{store.prefix}{app}/{proc}/{sid}/state.bin",
                                         Body=value)
        return {"replaced": len(snapshots)}
    except Exception as exc:  # noqa: BLE001
        return {"refused": str(exc)}


@function
def fake_swapped(invocation, context):
    """Tell the control plane this process swapped out (nobody asked), then exit cleanly."""
    import os

    rt = context._rt
    with rt.io:
        rt._to_control([wire.header("swapped", rid="unsolicited", ok=True, bytes=0, seconds=0.0,
                                    snapshot="00000000000000000000-000000"), b""])
    os._exit(0)


@function
def cinv_flood(invocation, context):
    """Ask the control plane to relay ``n`` calls of ``fn`` to ``dst`` at once, as raw ``cinv`` frames."""
    args = invocation.json()
    rt = context._rt
    with rt.io:
        for i in range(int(args["n"])):
            rt._to_control([wire.header("cinv", id=f"flood-{i}", dst=args["dst"], fn=args.get("fn", "slow")), b""])
