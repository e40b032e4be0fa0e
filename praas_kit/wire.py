"""Data-plane frames: ``[header, payload]`` ZeroMQ multipart messages.

The header is a small JSON object with a type field ``t``; the payload is raw bytes and is
never re-encoded (large payloads travel zero-copy). :func:`decode` validates every field a
type needs and raises :class:`~praas_kit.errors.ProtocolError` on anything else, so a
malformed or truncated frame can never crash the receiver.

Types (``t``) and their required fields:

==========  ===========================================  ==========================================
type        fields                                       meaning
==========  ===========================================  ==========================================
``inv``     ``id`` str, ``fn`` str                       invoke ``fn`` with the payload
``res``     ``id`` str, ``ok`` bool, [``ct``, ``err``]   result of ``inv`` (``ct`` = content type)
``msg``     ``src``, ``ep``, ``key`` str, ``seq`` int    a channel message (``send``); ``ep`` names the
                                                         sender's incarnation, ``seq`` counts per
                                                         (sender incarnation, destination)
``ack``     ``dst`` str, ``seq`` int, ``ok`` bool        receipt of a ``msg`` from ``dst``; ``ok=false``
            [``why``, ``held``]                          refuses it (``why``: swapping, full, out_of_order)
                                                         and the sender re-sends it through the control
                                                         plane; from the control plane ``held=true`` means
                                                         stored durably, without it: delivered
``cinv``    ``id``, ``dst``, ``fn`` str                  process -> control plane: invoke a peer that
                                                         is not running (the control plane swaps it in)
``ping``    ``id`` str                                   liveness; answered with ``pong``
``pong``    ``id`` str
``err``     ``err`` dict                                 the peer could not decode a frame
``hello``   ``app``, ``proc``, ``secret``, ``addr``      process -> control plane: ready
``world``   ``procs`` dict                               control plane -> process: the peers
``metrics`` ``inv`` int, ``busy`` float, ``last`` float,  process -> control plane, periodic
            ``inflight`` int, [``rss`` int]
``fwd``     ``dst``, ``src``, ``ep``, ``key``, ``seq``     process -> control plane: deliver or hold a
                                                         message; acknowledged with ``ack``
``swap``    ``rid`` str, ``snapshot`` str, [``idle``]      control plane -> process: swap out
``swapped`` ``rid`` str, ``ok`` bool, ...                  process -> control plane: swap result
``stop``    ``rid`` str                                   control plane -> process: exit
==========  ===========================================  ==========================================
"""

from __future__ import annotations

import json
from typing import Any

from praas_kit.errors import ProtocolError

MAX_HEADER = 64 * 1024

_STR, _INT, _BOOL, _NUM, _DICT = str, int, bool, (int, float), dict

SCHEMA: dict[str, dict[str, Any]] = {
    "inv": {"id": _STR, "fn": _STR},
    "res": {"id": _STR, "ok": _BOOL},
    "msg": {"src": _STR, "ep": _STR, "key": _STR, "seq": _INT},
    "ack": {"dst": _STR, "seq": _INT, "ok": _BOOL},
    "cinv": {"id": _STR, "dst": _STR, "fn": _STR},
    "ping": {"id": _STR},
    "pong": {"id": _STR},
    "err": {"err": _DICT},
    "hello": {"app": _STR, "proc": _STR, "secret": _STR, "addr": _STR},
    "world": {"procs": _DICT},
    "metrics": {"inv": _INT, "busy": _NUM, "last": _NUM, "inflight": _INT},
    "fwd": {"dst": _STR, "src": _STR, "ep": _STR, "key": _STR, "seq": _INT},
    "swap": {"rid": _STR, "snapshot": _STR},
    "swapped": {"rid": _STR, "ok": _BOOL},
    "stop": {"rid": _STR},
}


def header(t: str, **fields: Any) -> bytes:
    """Encode a header of type ``t``."""
    fields["t"] = t
    return json.dumps(fields, separators=(",", ":")).encode()


_dumps_str = json.JSONEncoder(ensure_ascii=True).encode


def result_header(inv_id: str, ct: str) -> bytes:
    """``header("res", id=inv_id, ok=True, ct=ct)``, built without a general JSON dump (hot path)."""
    return b'{"t":"res","ok":true,"ct":"%s","id":%s}' % (ct.encode(), _dumps_str(inv_id).encode())


def invoke_header(inv_id: str, fn: str) -> bytes:
    """``header("inv", id=inv_id, fn=fn)``, built without a general JSON dump (hot path)."""
    return b'{"t":"inv","id":%s,"fn":%s}' % (_dumps_str(inv_id).encode(), _dumps_str(fn).encode())


def decode(frames: list[Any]) -> tuple[dict[str, Any], Any]:
    """Decode ``[header, payload]`` into ``(header dict, payload frame)``.

    Accepts ``bytes`` or ``zmq.Frame`` items. Raises :class:`ProtocolError` if there are not
    exactly two frames, the header is not a JSON object of a known type, or a required field
    is missing or of the wrong type (``bool`` is not accepted where an ``int`` is required).
    """
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames [header, payload], got {len(frames)}")
    raw = frames[0]
    raw = raw.bytes if hasattr(raw, "bytes") else raw
    if not isinstance(raw, bytes) or len(raw) > MAX_HEADER:
        raise ProtocolError("header missing or larger than 64 KiB")
    try:
        hdr = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(hdr, dict):
        raise ProtocolError("header is not a JSON object")
    t = hdr.get("t")
    schema = SCHEMA.get(t) if isinstance(t, str) else None
    if schema is None:
        raise ProtocolError(f"unknown frame type {t!r}"[:200])
    for name, typ in schema.items():
        value = hdr.get(name)
        if value is None or not isinstance(value, typ) or (typ is _INT and isinstance(value, bool)):
            raise ProtocolError(f"frame {t!r}: field {name!r} missing or not {_typename(typ)}")
    return hdr, frames[1]


def _typename(typ: Any) -> str:
    if isinstance(typ, tuple):
        return "a number"
    return {str: "a string", int: "an integer", bool: "a boolean", dict: "an object"}[typ]
