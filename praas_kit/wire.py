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
``call``    ``id``, ``app``, ``fn``, ``tok`` str,          client -> control plane's invocation gateway
            [``proc`` str, ``timeout`` number]            (:mod:`praas_kit.control.gateway`); answered
                                                         with ``res`` (plus ``proc``, ``inv``)
``ping``    ``id`` str                                   liveness; answered with ``pong``
``pong``    ``id`` str
``err``     ``err`` dict                                 the peer could not decode a frame
``hello``   ``app``, ``proc``, ``secret``, ``addr``,     process -> control plane: ready (``ep``: the
            ``ep``                                       epoch its messages carry)
``world``   (the peers as a JSON object in the payload)  control plane -> process: the peers (in the
                                                         payload, so that no header limit caps them:
                                                         :func:`world_frames`, :func:`parse_world`)
``metrics`` ``inv`` int, ``busy`` float, ``last`` float,  process -> control plane, periodic
            ``inflight`` int, [``rss`` int]
``fwd``     ``dst``, ``src``, ``ep``, ``key``, ``seq``     process -> control plane: deliver or hold a
                                                         message; acknowledged with ``ack``
``swap``    ``rid`` str, ``snapshot`` str, [``idle``]      control plane -> process: swap out
``swapped`` ``rid`` str, ``ok`` bool, ...                  process -> control plane: swap result
``stop``    ``rid`` str                                   control plane -> process: exit
==========  ===========================================  ==========================================

The three frames of the hot path have a compact **binary** header as well (its first byte is the type,
where a JSON header starts with ``{``); :func:`decode` reads both forms into the same dictionary, and the
runtime and the SDK parse them directly (:func:`parse_inv`, :func:`parse_res`, :func:`parse_msg`):

=========  ===========================================================================================
``inv``    ``<BBH`` (1, len(id), len(fn)) + id + fn
``res``    ``<BcB`` (2, content type, len(id)) + id; a successful result (errors stay JSON)
``msg``    ``<BBBHQ`` (3, len(src), len(ep), len(key), seq) + src + ep + key
``ack``    ``<BQ`` (4, seq): every message up to ``seq`` sent on this connection was taken (cumulative)
=========  ===========================================================================================
"""

from __future__ import annotations

import json
import struct
from typing import Any

from praas_kit.errors import ProtocolError

MAX_HEADER = 64 * 1024

B_INV, B_RES, B_MSG, B_ACK = 1, 2, 3, 4
_INV, _RES, _MSG, _ACK = struct.Struct("<BBH"), struct.Struct("<BcB"), struct.Struct("<BBBHQ"), struct.Struct("<BQ")
_CTS = frozenset(b"bsjn")

_STR, _INT, _BOOL, _NUM, _DICT = str, int, bool, (int, float), dict

SCHEMA: dict[str, dict[str, Any]] = {
    "inv": {"id": _STR, "fn": _STR},
    "res": {"id": _STR, "ok": _BOOL},
    "msg": {"src": _STR, "ep": _STR, "key": _STR, "seq": _INT},
    "ack": {"dst": _STR, "seq": _INT, "ok": _BOOL},
    "cinv": {"id": _STR, "dst": _STR, "fn": _STR},
    "call": {"id": _STR, "app": _STR, "fn": _STR, "tok": _STR},
    "ping": {"id": _STR},
    "pong": {"id": _STR},
    "err": {"err": _DICT},
    "hello": {"app": _STR, "proc": _STR, "secret": _STR, "addr": _STR, "ep": _STR},
    "world": {},
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
    """The binary header of a successful result (``res``; ``ct`` is the one-letter content type)."""
    raw = inv_id.encode()
    if len(raw) > 255:
        return b'{"t":"res","ok":true,"ct":"%s","id":%s}' % (ct.encode(), _dumps_str(inv_id).encode())
    return _RES.pack(B_RES, ct.encode(), len(raw)) + raw


def invoke_header(inv_id: str, fn: str) -> bytes:
    """The binary header of an invocation (``inv``)."""
    rid, rfn = inv_id.encode(), fn.encode()
    if len(rid) > 255 or len(rfn) > 65535:
        return b'{"t":"inv","id":%s,"fn":%s}' % (_dumps_str(inv_id).encode(), _dumps_str(fn).encode())
    return _INV.pack(B_INV, len(rid), len(rfn)) + rid + rfn


def message_header(src: str, ep: str, key: str, seq: int) -> bytes:
    """The binary header of a channel message (``msg``)."""
    bs, be, bk = src.encode(), ep.encode(), key.encode()
    if len(bs) > 255 or len(be) > 255 or len(bk) > 65535:
        return header("msg", src=src, ep=ep, key=key, seq=seq)
    return _MSG.pack(B_MSG, len(bs), len(be), len(bk), seq) + bs + be + bk


def ack_header(seq: int) -> bytes:
    """The binary cumulative acknowledgement: every message up to ``seq`` was taken."""
    return _ACK.pack(B_ACK, seq)


def world_frames(procs: dict[str, Any]) -> list[bytes]:
    """The ``world`` frame: ``{name: {"status", "address", "key"}}`` of every process of the application, as the
    payload (a world of thousands of processes is larger than a header may be)."""
    return [header("world"), json.dumps(procs, separators=(",", ":")).encode()]


def parse_world(payload: bytes) -> dict[str, Any]:
    """The processes of a ``world`` frame's payload; :class:`ProtocolError` if it is not a JSON object."""
    return _json_object(payload, "world")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not a JSON object")
    return value


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not UTF-8") from None


def parse_inv(raw: bytes) -> tuple[str, str]:
    """``(id, fn)`` of a binary ``inv`` header; :class:`ProtocolError` if malformed."""
    if len(raw) < 4:
        raise ProtocolError("truncated binary invocation header")
    _, nid, nfn = _INV.unpack_from(raw)
    if len(raw) != 4 + nid + nfn:
        raise ProtocolError("binary invocation header of the wrong length")
    return _text(raw[4:4 + nid], "invocation id"), _text(raw[4 + nid:], "function name")


def parse_res(raw: bytes) -> tuple[str, str]:
    """``(id, content type)`` of a binary ``res`` header; :class:`ProtocolError` if malformed."""
    if len(raw) < 3 or raw[1] not in _CTS or len(raw) != 3 + raw[2]:
        raise ProtocolError("malformed binary result header")
    return _text(raw[3:], "invocation id"), chr(raw[1])


def parse_msg(raw: bytes) -> tuple[str, str, str, int]:
    """``(src, ep, key, seq)`` of a binary ``msg`` header; :class:`ProtocolError` if malformed."""
    if len(raw) < _MSG.size:
        raise ProtocolError("truncated binary message header")
    _, ns, ne, nk, seq = _MSG.unpack_from(raw)
    o = _MSG.size
    if len(raw) != o + ns + ne + nk:
        raise ProtocolError("binary message header of the wrong length")
    return (_text(raw[o:o + ns], "message source"), _text(raw[o + ns:o + ns + ne], "message incarnation"),
            _text(raw[o + ns + ne:], "message key"), seq)


def parse_ack(raw: bytes) -> int:
    """The sequence number of a binary ``ack``; :class:`ProtocolError` if malformed."""
    if len(raw) != _ACK.size:
        raise ProtocolError("malformed binary acknowledgement")
    return int(_ACK.unpack(raw)[1])


def _decode_binary(raw: bytes) -> dict[str, Any]:
    t = raw[0]
    if t == B_INV:
        inv_id, fn = parse_inv(raw)
        return {"t": "inv", "id": inv_id, "fn": fn}
    if t == B_RES:
        inv_id, ct = parse_res(raw)
        return {"t": "res", "id": inv_id, "ok": True, "ct": ct}
    if t == B_MSG:
        src, ep, key, seq = parse_msg(raw)
        return {"t": "msg", "src": src, "ep": ep, "key": key, "seq": seq}
    if t == B_ACK:
        return {"t": "ack", "seq": parse_ack(raw), "ok": True, "cumulative": True}
    raise ProtocolError(f"unknown binary frame type {t}")


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
    if not isinstance(raw, bytes) or not raw or len(raw) > MAX_HEADER:
        raise ProtocolError("header missing or larger than 64 KiB")
    if raw[0] < 32:  # a binary header (a JSON one starts with '{')
        return _decode_binary(raw), frames[1]
    hdr = _json_object(raw, "header")
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
