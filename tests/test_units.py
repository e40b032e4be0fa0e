"""Unit tests: names, lifecycle, wire codec, mailbox, state store, result encoding."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import praas_kit
from praas_kit import wire
from praas_kit.errors import (
    InvalidName,
    InvalidState,
    InvocationError,
    PraasError,
    ProcessNotFound,
    ProtocolError,
    RecvTimeout,
    from_dict,
)
from praas_kit.lifecycle import Event, Status, allowed, transition
from praas_kit.names import ANY, validate_name
from praas_kit.payload import Result, encode_payload, encode_result
from praas_kit.process.mailbox import Delivery, Mailbox
from praas_kit.process.state import StateStore


@pytest.mark.parametrize("name", ["a", "app-1", "x.y_z", "0" * 63])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "x" * 64, "x" * 200, "ünï", "Upper", "-x", ".", "..", "a/b", None, 3])
def test_invalid_names(name):
    with pytest.raises(InvalidName):
        validate_name(name)


def test_lifecycle_happy_path_and_illegal_edges():
    s = Status.ALLOCATING
    for ev, want in [(Event.ALLOCATED, Status.ALLOCATED), (Event.SWAP, Status.SWAPPING_OUT),
                     (Event.SWAP_DONE, Status.SWAPPED_OUT), (Event.SWAPIN, Status.SWAPPING_IN),
                     (Event.ALLOCATED, Status.ALLOCATED), (Event.STOP, Status.CLOSING), (Event.CLOSED, Status.CLOSED)]:
        s = transition(s, ev)
        assert s == want
    with pytest.raises(InvalidState, match="CLOSED"):
        transition(Status.CLOSED, Event.STOP)
    with pytest.raises(InvalidState, match="SWAPPED_OUT"):
        transition(Status.SWAPPED_OUT, Event.SWAP)
    assert transition(Status.SWAPPING_OUT, Event.SWAP_ABORTED) == Status.ALLOCATED
    assert transition(Status.FAILED, Event.SWAPIN) == Status.SWAPPING_IN
    for st_ in (Status.ALLOCATING, Status.ALLOCATED, Status.SWAPPING_OUT, Status.SWAPPING_IN):
        assert transition(st_, Event.DIED) == Status.FAILED
    assert not allowed(Status.SWAPPED_OUT, Event.DIED)


def test_errors_round_trip():
    e = from_dict(ProcessNotFound("nope").to_dict())
    assert isinstance(e, ProcessNotFound) and e.message == "nope"
    e = from_dict(InvocationError("x", traceback="tb").to_dict())
    assert isinstance(e, InvocationError) and e.traceback == "tb"
    assert type(from_dict({"type": "SomethingElse", "message": "m"})) is PraasError
    assert type(from_dict("garbage")) is PraasError


def test_wire_round_trip_and_rejections():
    hdr, payload = wire.decode([wire.header("inv", id="1", fn="f"), b"data"])
    assert hdr["fn"] == "f" and payload == b"data"
    for frames in ([b"{}"], [b"not json", b""], [b"[]", b""], [b'{"t":"inv","id":1,"fn":"f"}', b""],
                   [b'{"t":"msg","src":"a","ep":"e","key":"k","seq":true}', b""], [b'{"t":"nope"}', b""],
                   [b"\xff\xfe", b""], [b"x" * (wire.MAX_HEADER + 1), b""], [b"", b"", b""]):
        with pytest.raises(ProtocolError):
            wire.decode(frames)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_wire_decoder_never_crashes(frames):
    try:
        wire.decode(frames)
    except ProtocolError:
        pass


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                           max_leaves=8)


#: a value of each field type of wire.SCHEMA
_FIELD_VALUES = {str: st.text(max_size=8), int: st.integers(), bool: st.booleans(),
                 dict: st.dictionaries(st.text(max_size=5), json_values, max_size=3),
                 (int, float): st.integers() | st.floats(allow_nan=False, allow_infinity=False)}


@st.composite
def _headers(draw):
    """A JSON header of a real frame type: every field its type needs, some of them (often none) missing or drawn
    as any JSON value, plus optional fields of any value."""
    t = draw(st.sampled_from(sorted(wire.SCHEMA)))
    fields = wire.SCHEMA[t]
    broken = draw(st.sets(st.sampled_from(sorted(fields)))) if fields else set()
    obj = {"t": t}
    for name, typ in fields.items():
        if name not in broken:
            obj[name] = draw(_FIELD_VALUES[typ])
        elif draw(st.booleans()):
            obj[name] = draw(json_values)  # maybe of the wrong type (maybe of the right one by chance)
    for name, value in draw(st.dictionaries(st.sampled_from(["ct", "err", "held", "why", "proc", "timeout", "x"]),
                                            json_values, max_size=2)).items():
        obj.setdefault(name, value)
    return obj


def _well_formed(obj: dict) -> bool:
    """What wire.decode promises to accept: a known type with every field it needs, each of its type (a bool is not
    an integer)."""
    schema = wire.SCHEMA.get(obj.get("t")) if isinstance(obj.get("t"), str) else None
    return schema is not None and all(
        obj.get(name) is not None and isinstance(obj[name], typ) and not (typ is int and isinstance(obj[name], bool))
        for name, typ in schema.items())


@settings(max_examples=500, deadline=None)
@given(_headers() | st.dictionaries(st.sampled_from(["t", "id", "fn", "src", "key", "seq", "ok", "ep", "procs"]),
                                    json_values, max_size=6))
def test_wire_decoder_on_json_objects(obj):
    """Headers of the real frame types (and random objects): decode takes exactly the well-formed ones, as they are,
    and refuses the rest with ProtocolError."""
    import json

    try:
        hdr, payload = wire.decode([json.dumps(obj).encode(), b"payload"])
    except ProtocolError:
        assert not _well_formed(obj), obj
        return
    assert _well_formed(obj), obj
    assert hdr == obj and payload == b"payload"
    for name, typ in wire.SCHEMA[hdr["t"]].items():
        assert isinstance(hdr[name], typ)


def test_mailbox_fifo_any_and_dedup():
    m = Mailbox()
    m.put("a", "k", b"1", seq=1, ep="e")
    m.put("b", "k", b"x", seq=1, ep="e")
    m.put("a", "k", b"2", seq=2, ep="e")
    assert m.put("a", "k", b"1-again", seq=1, ep="e") is Delivery.DUPLICATE
    assert m.put("a", "k", b"new-incarnation", seq=1, ep="f") is Delivery.ACCEPTED
    assert m.get("b", "k", 0) == b"x"
    assert [m.get(ANY, "k", 0) for _ in range(3)] == [b"1", b"2", b"new-incarnation"]
    with pytest.raises(RecvTimeout):
        m.get(ANY, "k", 0.05)


def test_mailbox_blocking_recv_and_dump_restore():
    m = Mailbox()
    threading.Timer(0.1, lambda: m.put("a", "k", b"late")).start()
    t0 = time.monotonic()
    assert m.get("a", "k", 5) == b"late" and time.monotonic() - t0 < 2
    for seq in range(1, 6):
        m.put("a", "k", str(seq).encode(), seq=seq, ep="e")
    m.put("b", "j", b"2")
    m2 = Mailbox()
    m2.restore(m.dump())
    assert m2.pending() == 6 and m2.get(ANY, "j", 0) == b"2"
    assert m2.put("a", "k", b"dup", seq=5, ep="e") is Delivery.DUPLICATE
    assert m2.put("a", "k", b"6", seq=6, ep="e") is Delivery.ACCEPTED


def test_mailbox_takes_each_sender_strictly_in_order():
    m = Mailbox()
    assert m.put("a", "k", b"2", seq=2, ep="e") is Delivery.OUT_OF_ORDER  # 1 is still on its way
    assert m.put("a", "k", b"1", seq=1, ep="e") is Delivery.ACCEPTED
    assert m.put("a", "k", b"3", seq=3, ep="e") is Delivery.OUT_OF_ORDER  # 2 was refused: 3 must wait
    assert m.put("a", "k", b"2", seq=2, ep="e") is Delivery.ACCEPTED
    assert m.put("a", "k", b"3", seq=3, ep="e") is Delivery.ACCEPTED
    assert [m.get("a", "k", 0) for _ in range(3)] == [b"1", b"2", b"3"]


def test_mailbox_bounds_refuse_but_never_starve():
    m = Mailbox(max_messages=3, max_bytes=100)
    assert m.put("a", "k", b"x" * 500, seq=1, ep="e") is Delivery.ACCEPTED  # too big, but the mailbox was empty
    assert m.put("a", "k", b"y", seq=2, ep="e") is Delivery.FULL
    assert m.get("a", "k", 0) == b"x" * 500
    for i in range(2, 5):
        assert m.put("a", "k", b"z", seq=i, ep="e") is Delivery.ACCEPTED
    assert m.put("a", "k", b"z", seq=5, ep="e") is Delivery.FULL  # three messages
    with pytest.raises(praas_kit.MailboxFull):
        m.put_own("me", "k", b"own")
    assert (m.count, m.nbytes) == (3, 3)


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_recv_timeouts_are_checked_and_huge_ones_clamped(bad):
    m = Mailbox()
    with pytest.raises(praas_kit.InvalidArgument):
        m.get("a", "k", bad)
    threading.Timer(0.1, lambda: m.put("a", "k", b"late")).start()
    assert m.get("a", "k", 1e10) == b"late"  # no OverflowError


def test_state_store():
    s = StateStore()
    assert s.get("missing") is None
    s.put("a", b"1")
    s.put("b", b"2")
    s.put("a", b"3")
    assert s.get("a") == b"3" and [k for k, _ in s.keys()] == ["b", "a"]
    assert s.nbytes() == 2 and s.delete("a") and not s.delete("a")


def test_result_encoding():
    assert encode_result(b"x") == ("b", b"x")
    assert encode_result("é") == ("s", "é".encode())
    assert encode_result(None) == ("n", b"")
    assert encode_result({"a": [1]}) == ("j", b'{"a": [1]}')
    with pytest.raises(InvocationError, match="unserialisable"):
        encode_result(object())
    assert Result(b'{"a": 1}', "j").value == {"a": 1} and Result(b"x", "s").value == "x"
    assert encode_payload({"a": 1}) == b'{"a": 1}' and encode_payload(None) == b""


def test_an_idle_refused_data_plane_connection_does_not_flood_its_monitor() -> None:
    """A connection whose address now answers with another key (Docker reuses addresses) must not retry ten
    times a second: nobody reads an idle connection's monitor, and a full monitor queue blocks libzmq's I/O
    thread for every socket of the context (a benchmark once stalled that way)."""
    import zmq

    from praas_kit.keys import KeyPair
    from praas_kit.sdk.dataplane import _Conn

    ctx = zmq.Context.instance()
    server = ctx.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    other = KeyPair.new()
    server.curve_server = True
    server.curve_secretkey = other.secret.encode()
    port = server.bind_to_random_port("tcp://127.0.0.1")
    conn = _Conn(ctx, f"tcp://127.0.0.1:{port}", KeyPair.new().public, KeyPair.new())
    try:
        time.sleep(1.5)
        events = 0
        while conn.mon.poll(0):
            conn.mon.recv_multipart()
            events += 1
        assert events <= 3, f"{events} monitor events in 1.5 s: the connection keeps retrying"
    finally:
        conn.close()
        server.close(linger=0)


def test_a_world_of_ten_thousand_processes_fits_in_a_frame():
    """The world travels in the payload: as a header it was refused above 561 processes (wire.MAX_HEADER)."""
    procs = {f"pool-{i}": {"status": "ALLOCATED", "address": f"tcp://10.0.{i >> 8}.{i & 255}:30000", "key": "k" * 40}
             for i in range(10_000)}
    frames = wire.world_frames(procs)
    assert sum(len(f) for f in frames) > wire.MAX_HEADER
    hdr, payload = wire.decode(frames)
    assert hdr["t"] == "world" and wire.parse_world(payload) == procs
    for bad in (b"[1, 2]", b"not json", b"\xff"):
        with pytest.raises(ProtocolError):
            wire.parse_world(bad)


def test_a_remote_builtin_exception_is_that_builtin_and_an_invocation_error() -> None:
    from praas_kit.errors import InvocationError, PraasError, from_dict

    err = from_dict({"type": "InvocationError", "message": "f raised KeyError: 'k'", "remote_type": "KeyError"})
    assert isinstance(err, KeyError) and isinstance(err, InvocationError) and isinstance(err, PraasError)
    assert str(err) == "f raised KeyError: 'k'"  # the message, not KeyError's quoting
    assert err.to_dict() == {"type": "InvocationError", "message": "f raised KeyError: 'k'", "remote_type": "KeyError"}
    assert isinstance(from_dict({"type": "InvocationError", "message": "m", "remote_type": "OSError"}), OSError)
    for name in ("UnicodeDecodeError", "NoSuchName", "PraasError", "print"):  # other arguments, unknown, not errors
        plain = from_dict({"type": "InvocationError", "message": "m", "remote_type": name})
        assert type(plain) is InvocationError


def test_bench_check_exits_7_when_a_target_is_missed(tmp_path, monkeypatch) -> None:
    import sys
    import types

    from typer.testing import CliRunner

    from praas_kit import bench, cli
    from praas_kit.bench.common import BenchRun, Figure

    fake = types.ModuleType("fake_bench")
    fake.run = lambda target, quick: BenchRun([], tmp_path / "x.csv", tmp_path / "x.json")  # type: ignore[attr-defined]
    fake.summarise = lambda rows: [Figure("speed", "1 ms", "< 0.5 ms", False, "what it measures")]  # type: ignore
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setitem(bench.BENCHMARKS, "fake", bench.Benchmark("fake", "fake_bench", "run"))
    runner = CliRunner()
    assert runner.invoke(cli.app, ["bench", "fake", "--out", str(tmp_path)]).exit_code == 0
    checked = runner.invoke(cli.app, ["bench", "fake", "--out", str(tmp_path), "--check"])
    assert checked.exit_code == cli.EXIT_MISSED == 7 and "MISSED" in checked.output


def test_benchmark_metadata_records_the_resolved_package_versions() -> None:
    import zmq

    from praas_kit.bench.common import metadata

    meta = metadata({"n": 1})
    assert meta["packages"]["pyzmq"] == zmq.__version__ and meta["packages"]["praas-kit"]
    assert len(meta["packages"]) > 20 and meta["params"] == {"n": 1}


def test_benchmark_tables_fit_100_columns() -> None:
    from praas_kit.bench.common import Figure, format_figures

    long = "what this figure measures, said at the length the benchmarks say it, " * 4
    text = format_figures([Figure("direct 10 B p50 / transport", "1.07 x", "<= 1.5 x", True, long),
                           Figure("swap-in 1 MiB", "12.3 ms", "", None, "short")])
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "MISSED" not in text and "met" in text and "short" in text and text.startswith("figure")


def test_a_followed_log_prints_only_its_new_lines() -> None:
    from praas_kit.cli_output import new_lines_start

    before = ["a", "b", "c"]
    assert new_lines_start(before, ["a", "b", "c", "d"]) == 3  # one new line
    assert new_lines_start(before, ["x", "a", "b", "c", "d", "e"]) == 4  # a longer tail than was printed
    assert new_lines_start(before, ["new", "incarnation"]) == 0  # not found: all of it is new
    assert new_lines_start([], ["a"]) == 0
