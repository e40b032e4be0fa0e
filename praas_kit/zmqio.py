"""Lean multipart send and receive on pyzmq sockets, for the hot paths.

pyzmq's ``send_multipart`` and ``recv_multipart`` are convenient but cost several microseconds a message in
Python: type checks of every part, a ``Flag`` enum operation per part (``SNDMORE | flags``) and, on receive,
a ``getsockopt(RCVMORE)`` per part, which resolves the option through an enum. On a path where a whole call
costs a few hundred microseconds, that is measurable (``praas bench profile``). These helpers do the same
with plain integer flags, send through the compiled socket's ``send`` (pyzmq's Python-level override only
adds draft-API options: half a microsecond a frame) and, when receiving without copying, read ``Frame.more``.

:func:`ready` asks libzmq in one call which of several sockets have a message waiting (``zmq_poll`` with a
zero timeout), instead of one ``getsockopt(EVENTS)`` per socket. Like that option it processes the sockets'
pending commands, so afterwards a socket's descriptor signals again when new input arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zmq

NOBLOCK, SNDMORE, POLLIN = int(zmq.NOBLOCK), int(zmq.SNDMORE), int(zmq.POLLIN)
_RCVMORE = int(zmq.RCVMORE)
#: the compiled send under pyzmq's Python ``Socket.send`` (which only adds the draft API's routing_id and group)
_send = zmq.backend.Socket.send


def send_frames(sock: zmq.Socket[Any], frames: Sequence[Any], flags: int = 0, copy: bool = True) -> None:
    """Send ``frames`` (bytes, memoryviews or Frames) as one multipart message on a plain (not asyncio) socket."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _send(sock, frame, flags | SNDMORE if i < last else flags, copy)


def recv_frames(sock: zmq.Socket[Any], flags: int = NOBLOCK) -> list[zmq.Frame]:
    """Receive one multipart message without copying (a list of Frames); ``zmq.Again`` if there is none."""
    frame = sock.recv(flags, copy=False)
    frames = [frame]
    while frame.more:
        frame = sock.recv(flags, copy=False)
        frames.append(frame)
    return frames


def ready(items: list[tuple[zmq.Socket[Any], int]]) -> list[tuple[zmq.Socket[Any], int]]:
    """Those of ``items`` (``(socket, POLLIN)`` pairs) that have input now (never blocks)."""
    return zmq.zmq_poll(items, 0)


__all__ = ["send_frames", "recv_frames", "ready", "NOBLOCK", "SNDMORE", "POLLIN"]
