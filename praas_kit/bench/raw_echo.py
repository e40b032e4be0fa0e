"""The raw-transport baseline: a pyzmq ROUTER that echoes ``[header, payload]`` as is.

``python -m praas_kit.bench.raw_echo --bind tcp://127.0.0.1:0`` prints its endpoint, then serves
until terminated. Benchmarks compare a PraaS invocation with a round trip through this server.
"""

from __future__ import annotations

import argparse
import sys

import zmq


def serve(bind: str, curve_secret: str | None = None) -> None:
    """Echo forever; with ``curve_secret`` (Z85) as a CurveZMQ server (the same security as a process)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve_secret:
        sock.curve_server = True
        sock.curve_secretkey = curve_secret.encode()
    sock.bind(bind)
    sys.stdout.write(sock.getsockopt_string(zmq.LAST_ENDPOINT) + "\n")
    sys.stdout.flush()
    while True:
        sock.send_multipart(sock.recv_multipart(copy=False), copy=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bind", default="tcp://127.0.0.1:0")
    ap.add_argument("--curve-secret", default=None, help="serve with CurveZMQ, this secret key (Z85)")
    args = ap.parse_args()
    serve(args.bind, args.curve_secret)
