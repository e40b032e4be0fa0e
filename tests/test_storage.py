"""Contract tests of the swap stores: the same tests run against the directory store and the S3 store.

The S3 store runs against a real S3-compatible server, OpenStack Swift with ``s3api``
(:class:`praas_kit.tools.services.SwiftS3Server`, one per session). Outage tests use two techniques:

* Swift *stops answering* (its processes are paused with SIGSTOP, then resumed with SIGCONT): the
  server keeps its data, so the previous snapshot is checked after it is back.
* The endpoint *goes down* (connection refused) and comes back on the same port: moto's
  ``ThreadedMotoServer`` keeps its objects in memory across a stop/start, which
  :class:`~praas_kit.tools.services.SwiftS3Server` cannot (its data lives in a temporary directory
  that is removed on stop).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import require

from praas_kit._net import free_port
from praas_kit.errors import InvalidArgument, InvalidName, StorageError
from praas_kit.process.mailbox import Mailbox
from praas_kit.process.snapshot import restore_snapshot, write_snapshot
from praas_kit.process.state import StateStore
from praas_kit.storage import SwapStore, new_snapshot_id, open_store
from praas_kit.storage.directory import DirectoryStore
from praas_kit.storage.faulty import FaultyStore
from praas_kit.storage.registry import kinds as store_kinds
from praas_kit.storage.signing import process_key

SWIFT_BINARIES = ("swift-proxy-server", "swift-account-server", "swift-container-server",
                  "swift-object-server", "memcached")
MiB = 1 << 20


def _have(*names: str) -> bool:
    return all(shutil.which(n) or any(Path(d, n).exists() for d in ("/usr/bin", "/usr/sbin")) for n in names)


def _have_boto3() -> bool:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def swift() -> Iterator[Any]:
    """One real Swift S3 server for the whole session."""
    require(_have_boto3(), "boto3 is not installed")
    require(_have(*SWIFT_BINARIES), "OpenStack Swift is not installed (scripts/install-system.sh)")
    from praas_kit.tools.services import SwiftS3Server

    with SwiftS3Server() as server:
        yield server


def _s3_store(server: Any, **tuning: Any) -> Any:
    from praas_kit.storage.s3 import S3Store

    # a fresh prefix per test keeps the tests independent on the shared server
    return S3Store(server.endpoint, "praas-test", server.access_key, server.secret_key, server.region,
                   prefix=f"t-{uuid.uuid4().hex[:8]}/", **tuning)


def _s3_spec(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """An S3 store on the session's Swift server, with a prefix of its own (its spec keeps the tuning)."""
    return _s3_store(request.getfixturevalue("swift"), multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB).spec()


#: how the contract gets a store of each kind: its spec (opened through the registry) and the marks its tests carry.
#: A kind the registry knows (``praas_kit.storage.registry``, entry points included) and this table does not fails
#: the contract until it is added here.
STORE_SPECS: dict[str, tuple[Callable[[pytest.FixtureRequest, Path], dict[str, Any]], tuple[Any, ...]]] = {
    "dir": (lambda request, tmp: {"kind": "dir", "root": str(tmp / "swaps"), "fsync": False}, ()),
    "s3": (_s3_spec, (pytest.mark.s3,)),  # the Swift S3 server: skipped without it (a failure in CI)
    # a faulty store that injects no fault passes everything through: it must keep the contract too
    "faulty": (lambda request, tmp: {"kind": "faulty", "inner": {"kind": "dir", "root": str(tmp / "inner"),
                                                                  "fsync": False}}, ()),
}


@pytest.fixture(params=[pytest.param(kind, marks=STORE_SPECS.get(kind, (None, ()))[1]) for kind in store_kinds()])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SwapStore]:
    """A store of every kind the swap-store registry knows, opened from its spec (the S3 one on the Swift
    server), so that a newly registered kind runs the contract."""
    kind = request.param
    if kind not in STORE_SPECS:
        pytest.fail(f"swap store kind {kind!r} is registered, but tests/test_storage.py cannot open one: add its "
                    "spec to STORE_SPECS")
    opened = open_store(STORE_SPECS[kind][0](request, tmp_path))
    assert opened.kind == kind and opened.spec()["kind"] == kind
    yield opened
    opened.close()


def _backing(store: SwapStore) -> SwapStore:
    """The store that holds the objects (a faulty store wraps another)."""
    while isinstance(store, FaultyStore):
        store = store.inner
    return store


def raw_objects(store: SwapStore, app: str, proc: str) -> list[str]:
    """Every object of a process in the store, committed or not (relative to the process)."""
    store = _backing(store)
    if isinstance(store, DirectoryStore):
        base = store.root / app / proc
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) if base.exists() else []
    base = f"{store.prefix}{app}/{proc}/"  # type: ignore[attr-defined]
    return sorted(k[len(base):] for k in store._keys(base, "test listing"))  # type: ignore[attr-defined]


def commit_snapshot(store: SwapStore, app: str, proc: str, objects: dict[str, bytes]) -> str:
    sid = new_snapshot_id()
    w = store.writer(app, proc, sid)
    for name, data in objects.items():
        w.put(name, [data])
    w.commit({"objects": sorted(objects)})
    return sid


# ---------------------------------------------------------------------------------------- contract
def test_round_trip_several_objects(store: SwapStore, tmp_path: Path) -> None:
    big = os.urandom(12 * MiB + 12345)  # above the S3 fixture's multipart threshold: a multipart upload
    small = b"hello, swap"
    src = tmp_path / "file.bin"
    src.write_bytes(os.urandom(7 * MiB + 1))
    sid = new_snapshot_id()
    w = store.writer("app", "alice", sid)
    # odd-sized chunks, memoryviews and bytes mixed, an empty chunk in the middle
    view = memoryview(big)
    chunks: list[bytes | memoryview] = [view[i: i + 3 * MiB + 17] for i in range(0, len(big), 3 * MiB + 17)]
    chunks.insert(2, b"")
    assert w.put("state.bin", chunks) == len(big)
    assert w.put("messages.bin", (c for c in [small[:5], memoryview(small)[5:]])) == len(small)
    assert w.put("empty", []) == 0
    assert w.put_file("f/0", src) == src.stat().st_size
    assert w.put("f/1", [b"x" * 100]) == 100
    manifest = {"format": 1, "note": "ünïcode ok", "n": [1, 2, 3]}
    w.commit(manifest)

    assert store.snapshots("app", "alice") == [sid]
    assert store.latest("app", "alice") == sid
    r = store.reader("app", "alice", sid)
    assert r.manifest() == manifest
    assert r.get("state.bin") == big
    assert r.get("messages.bin") == small
    assert r.get("empty") == b""
    assert r.get("f/1") == b"x" * 100
    out = tmp_path / "restored.bin"
    r.get_to_file("f/0", out)
    assert out.read_bytes() == src.read_bytes()
    with pytest.raises(StorageError):
        r.get("no-such-object")
    # the spec reopens the same store (this is how a process gets it)
    again = open_store(store.spec())
    assert again.snapshots("app", "alice") == [sid]
    assert again.reader("app", "alice", sid).get("messages.bin") == small


def test_uncommitted_snapshot_is_invisible(store: SwapStore) -> None:
    first = commit_snapshot(store, "app", "bob", {"state.bin": b"v1"})
    second = new_snapshot_id()
    w = store.writer("app", "bob", second)
    w.put("state.bin", [b"v2" * 1000])
    w.put("f/0", [b"file"])
    # objects are there, the manifest is not: not listed, latest() is still the previous snapshot
    assert store.snapshots("app", "bob") == [first]
    assert store.latest("app", "bob") == first
    with pytest.raises(StorageError):
        store.reader("app", "bob", second).manifest()
    assert store.reader("app", "bob", first).get("state.bin") == b"v1"
    w.commit({"v": 2})
    assert store.snapshots("app", "bob") == [first, second]
    assert store.latest("app", "bob") == second


def test_abort_removes_partial_objects(store: SwapStore) -> None:
    keep = commit_snapshot(store, "app", "carol", {"state.bin": b"keep"})
    before = raw_objects(store, "app", "carol")
    sid = new_snapshot_id()
    w = store.writer("app", "carol", sid)
    w.put("state.bin", [os.urandom(1000)])
    w.put("f/0", [b"a"])
    w.put("f/sub/1", [b"b"])
    assert len(raw_objects(store, "app", "carol")) == len(before) + 3
    w.abort()
    assert raw_objects(store, "app", "carol") == before
    assert store.snapshots("app", "carol") == [keep]


def test_failing_chunk_source_propagates_and_commits_nothing(store: SwapStore) -> None:
    class Boom(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield b"abc"
        raise Boom("the caller's data source failed")

    sid = new_snapshot_id()
    w = store.writer("app", "dave", sid)
    with pytest.raises(Boom):
        w.put("state.bin", chunks())
    w.abort()
    assert store.snapshots("app", "dave") == []
    assert raw_objects(store, "app", "dave") == []


def test_delete_one_and_all(store: SwapStore) -> None:
    a = commit_snapshot(store, "app", "erin", {"state.bin": b"a", "f/0": b"fa"})
    b = commit_snapshot(store, "app", "erin", {"state.bin": b"b"})
    partial = store.writer("app", "erin", new_snapshot_id())
    partial.put("state.bin", [b"partial"])
    other = commit_snapshot(store, "app", "frank", {"state.bin": b"other"})
    assert store.snapshots("app", "erin") == [a, b]

    store.delete("app", "erin", a)
    assert store.snapshots("app", "erin") == [b]
    assert store.reader("app", "erin", b).get("state.bin") == b"b"
    assert not any(o.startswith(a) for o in raw_objects(store, "app", "erin"))

    store.delete("app", "erin")  # everything, including the uncommitted snapshot
    assert store.snapshots("app", "erin") == []
    assert store.latest("app", "erin") is None
    assert raw_objects(store, "app", "erin") == []
    # another process is untouched; deleting what does not exist is fine
    assert store.snapshots("app", "frank") == [other]
    store.delete("app", "erin")
    store.delete("app", "nobody", new_snapshot_id())


BAD_NAMES = ["../x", "", "a" * 200, "ünïcode", "x/y", ".", "..", "Upper", "-lead", " space"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=lambda s: repr(s)[:20])
def test_invalid_names_are_rejected(store: SwapStore, bad: str) -> None:
    sid = new_snapshot_id()
    calls: list[Callable[[], Any]] = [
        lambda: store.writer(bad, "p", sid), lambda: store.writer("app", bad, sid),
        lambda: store.reader(bad, "p", sid), lambda: store.reader("app", bad, sid),
        lambda: store.snapshots(bad, "p"), lambda: store.snapshots("app", bad),
        lambda: store.latest(bad, "p"), lambda: store.delete("app", bad), lambda: store.delete(bad, "p", sid),
    ]
    for call in calls:
        with pytest.raises(InvalidName):
            call()


@pytest.mark.parametrize("bad", ["../x", "", "0" * 27 + "/", "../../../../../../../etc/passwd"])
def test_invalid_snapshot_ids_are_rejected(store: SwapStore, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        store.writer("app", "p", bad)
    with pytest.raises(InvalidArgument):
        store.reader("app", "p", bad)
    with pytest.raises(InvalidArgument):
        store.delete("app", "p", bad)


def test_invalid_object_names_are_rejected(store: SwapStore) -> None:
    w = store.writer("app", "p", new_snapshot_id())
    for bad in ("../escape", "/abs", "a//b", "f/../../x"):
        with pytest.raises(StorageError):
            w.put(bad, [b"x"])
    w.abort()


KEY = process_key("11" * 32, "gina")


def _snapshot(store: SwapStore, tmp_path: Path, proc: str = "gina") -> str:
    state = StateStore()
    state.put("k", b"genuine")
    (tmp_path / "sd").mkdir(exist_ok=True)
    (tmp_path / "sd" / "f.txt").write_text("genuine file")
    sid = new_snapshot_id()
    write_snapshot(store, "app", proc, sid, state, Mailbox(), tmp_path / "sd", process_key("11" * 32, proc))
    return sid


def _restore(store: SwapStore, tmp_path: Path, sid: str, key: bytes = KEY, proc: str = "gina") -> StateStore:
    state, target = StateStore(), tmp_path / f"restored-{os.urandom(3).hex()}"
    target.mkdir()
    restore_snapshot(store, "app", proc, sid, state, Mailbox(), target, key)
    return state


def test_a_snapshot_restores_only_with_the_process_key(store: SwapStore, tmp_path: Path) -> None:
    sid = _snapshot(store, tmp_path)
    assert _restore(store, tmp_path, sid).get("k") == b"genuine"
    with pytest.raises(StorageError, match="not the process's own"):
        _restore(store, tmp_path, sid, key=process_key("22" * 32, "gina"))  # another application's key
    with pytest.raises(StorageError, match="not the process's own"):
        _restore(store, tmp_path, sid, key=process_key("11" * 32, "other"))  # another process of the app


def _overwrite(store: SwapStore, key: str, data: bytes) -> None:
    """Replace an object of a committed snapshot, as code with the store's credentials or directory could."""
    store = _backing(store)
    if isinstance(store, DirectoryStore):
        (store.root / key).write_bytes(data)
    else:
        store._client.put_object(Bucket=store.bucket, Key=store.prefix + key, Body=data)


def test_a_replaced_object_or_an_unsigned_manifest_is_not_restored(store: SwapStore, tmp_path: Path) -> None:
    sid = _snapshot(store, tmp_path)
    manifest = store.reader("app", "gina", sid).manifest()
    forged = store.writer("app", "gina", new_snapshot_id())  # what code with the store's credentials can write
    forged.put("state.bin", [b"INJECTED"])
    forged.commit({**manifest, "state": [{"key": "k", "mtime": 0, "offset": 0, "size": 8}], "mac": "00" * 32})
    newest = store.latest("app", "gina")
    assert newest != sid
    with pytest.raises(StorageError, match="not the process's own"):
        _restore(store, tmp_path, newest)
    unsigned = store.writer("app", "gina", new_snapshot_id())
    unsigned.put("state.bin", [b"INJECTED"])
    unsigned.commit({k: v for k, v in manifest.items() if k != "mac"})
    with pytest.raises(StorageError, match="not signed"):
        _restore(store, tmp_path, store.latest("app", "gina"))
    # the genuine manifest over a replaced object: its digest gives it away
    _overwrite(store, f"app/gina/{sid}/f/0", b"INJECTED file")
    with pytest.raises(StorageError, match="not what the process wrote"):
        _restore(store, tmp_path, sid)


def test_a_signed_manifest_moved_to_another_process_is_not_restored(store: SwapStore, tmp_path: Path) -> None:
    sid = _snapshot(store, tmp_path, proc="alice")
    manifest = store.reader("app", "alice", sid).manifest()
    moved = store.writer("app", "bob", sid)
    moved.commit(manifest)
    with pytest.raises(StorageError, match="not the process's own"):
        _restore(store, tmp_path, sid, key=process_key("11" * 32, "bob"), proc="bob")


def test_runtime_snapshot_round_trip(store: SwapStore, tmp_path: Path) -> None:
    """The process runtime's snapshot format (state, messages, files) over the store."""
    state, mailbox = StateStore(), Mailbox()
    state.put("k1", b"v1")
    state.put("../weird key", os.urandom(3 * MiB))
    mailbox.put("peer", "chan", b"m1")
    mailbox.put("peer", "chan", b"m2")
    sdir = tmp_path / "state"
    (sdir / "sub").mkdir(parents=True)
    (sdir / "sub" / "a.txt").write_text("file content")
    sid = new_snapshot_id()
    written, _ = write_snapshot(store, "app", "gina", sid, state, mailbox, sdir, KEY)
    assert written > 3 * MiB
    assert store.latest("app", "gina") == sid

    state2, mailbox2, sdir2 = StateStore(), Mailbox(), tmp_path / "state2"
    sdir2.mkdir()
    restore_snapshot(store, "app", "gina", sid, state2, mailbox2, sdir2, KEY)
    assert state2.get("k1") == b"v1"
    assert state2.get("../weird key") == state.get("../weird key")
    assert mailbox2.get("peer", "chan", timeout=1) == b"m1"
    assert mailbox2.get("peer", "chan", timeout=1) == b"m2"
    assert (sdir2 / "sub" / "a.txt").read_text() == "file content"


# ---------------------------------------------------------------------------------------- S3 only


@pytest.mark.s3
def test_s3_spec_shape_and_round_trip() -> None:
    require(_have_boto3(), "boto3 is not installed")
    from praas_kit.storage.s3 import S3Store

    st = S3Store("http://127.0.0.1:9", "bkt", "test:tester", "testing", "us-east-1", prefix="p/")
    spec = st.spec()
    assert spec == {"kind": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "bkt", "access_key": "test:tester",
                    "secret_key": "testing", "region": "us-east-1", "prefix": "p/"}
    again = open_store(spec)
    assert isinstance(again, S3Store) and again.spec() == spec
    tuned = S3Store.from_spec({**spec, "read_timeout": 5.0})
    assert tuned.spec()["read_timeout"] == 5.0
    with pytest.raises(StorageError):
        S3Store.from_spec({"kind": "s3", "endpoint": "http://127.0.0.1:9"})


@pytest.mark.s3
def test_s3_unreachable_endpoint_fails_fast() -> None:
    require(_have_boto3(), "boto3 is not installed")
    from praas_kit.storage.s3 import S3Store

    port = free_port()  # nothing listens there
    st = S3Store(f"http://127.0.0.1:{port}", "bkt", "test:tester", "testing")
    t0 = time.monotonic()
    with pytest.raises(StorageError) as err:
        st.writer("app", "p", new_snapshot_id())
    assert time.monotonic() - t0 < 10
    assert f"http://127.0.0.1:{port}" in err.value.message and "unreachable" in err.value.message
    with pytest.raises(StorageError, match="unreachable while listing"):
        st.snapshots("app", "p")


@pytest.mark.s3
def test_s3_creates_bucket_and_isolates_prefixes(swift: Any) -> None:
    from praas_kit.storage.s3 import S3Store

    bucket = f"fresh-{uuid.uuid4().hex[:10]}"
    stores = [S3Store(swift.endpoint, bucket, swift.access_key, swift.secret_key, prefix=f"{i}/") for i in range(4)]
    errors: list[BaseException] = []

    def write(st: S3Store) -> None:
        try:
            commit_snapshot(st, "app", "p", {"state.bin": st.prefix.encode()})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(st,)) for st in stores]  # racing bucket creations
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert bucket in [b["Name"] for b in swift.client().list_buckets()["Buckets"]]
    for st in stores:
        (sid,) = st.snapshots("app", "p")
        assert st.reader("app", "p", sid).get("state.bin") == st.prefix.encode()
    # a store without prefix sees nothing of "app/p" (the keys are "0/app/p/...", ...)
    assert S3Store(swift.endpoint, bucket, swift.access_key, swift.secret_key).snapshots("app", "p") == []
    # and a bucket that does not exist has no snapshots (listing does not create it)
    assert S3Store(swift.endpoint, f"none-{uuid.uuid4().hex[:8]}", swift.access_key,
                   swift.secret_key).snapshots("app", "p") == []


@pytest.mark.s3
def test_s3_listing_paginates(swift: Any) -> None:
    st = _s3_store(swift)
    st._page_size = 2  # five snapshots with two objects each: five pages
    sids = [commit_snapshot(st, "app", "p", {"state.bin": bytes([i])}) for i in range(5)]
    partial = st.writer("app", "p", new_snapshot_id())
    partial.put("state.bin", [b"x"])
    assert st.snapshots("app", "p") == sids
    st.delete("app", "p")
    assert st.snapshots("app", "p") == [] and raw_objects(st, "app", "p") == []


@contextlib.contextmanager
def _paused(pids: list[int]) -> Iterator[Callable[[], None]]:
    """Pause processes (SIGSTOP) on request; always resume them (SIGCONT) on exit."""
    paused: list[int] = []

    def pause() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            paused.append(pid)

    try:
        yield pause
    finally:
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.mark.s3
def test_s3_server_stops_answering_mid_write_keeps_previous(swift: Any) -> None:
    """Swift freezes in the middle of a multipart upload: StorageError within seconds, and once the
    server is back the previous snapshot is the newest complete one and reads back intact."""
    st = _s3_store(swift, read_timeout=1.5, connect_timeout=1.0, max_attempts=1,
                   multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    previous_data = os.urandom(2 * MiB)
    previous = commit_snapshot(st, "app", "p", {"state.bin": previous_data})
    sid = new_snapshot_id()
    w = st.writer("app", "p", sid)
    with _paused(swift.pids) as pause:
        def chunks() -> Iterator[bytes]:
            for i in range(6):
                if i == 3:  # 15 MiB read: the first part is uploaded or in flight
                    pause()
                yield os.urandom(5 * MiB)

        t0 = time.monotonic()
        with pytest.raises(StorageError) as err:
            w.put("state.bin", chunks())
        elapsed = time.monotonic() - t0
        assert swift.endpoint in err.value.message and "state.bin" in err.value.message
        assert elapsed < 20, elapsed
        w.abort()  # best effort: the server is still frozen, must not raise
    # the server is back
    deadline = time.monotonic() + 20
    while True:
        try:
            assert st.snapshots("app", "p") == [previous]
            break
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert st.latest("app", "p") == previous
    assert st.reader("app", "p", previous).get("state.bin") == previous_data
    st.delete("app", "p")
    assert raw_objects(st, "app", "p") == []


@pytest.fixture
def moto_server() -> Iterator[tuple[Any, int]]:
    """A moto S3 server on a fixed free port, returned with that port; it can be stopped and restarted."""
    try:
        import moto.server as moto_server_mod
    except ImportError:
        moto_server_mod = None
    require(moto_server_mod is not None and _have_boto3(), "moto[server] and boto3 are not installed")
    port = free_port()
    servers: list[Any] = []

    def start() -> Any:
        srv = moto_server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        srv.start()
        servers.append(srv)
        return srv

    yield start, port
    for srv in servers:
        with contextlib.suppress(Exception):
            _stop_moto(srv)


def _stop_moto(srv: Any) -> None:
    """Stop a ThreadedMotoServer and close its listening socket (``stop()`` alone leaves it open)."""
    inner = srv._server
    if inner is not None and srv._server_ready_event.is_set():
        srv.stop()
        inner.server_close()


@pytest.mark.s3
def test_s3_endpoint_down_mid_write_keeps_previous(moto_server: tuple[Any, int]) -> None:
    """The endpoint goes down (connection refused) in the middle of a snapshot, then comes back on the same
    port with its data (moto keeps objects in memory across a restart, Swift's throw-away server does not)."""
    from praas_kit.storage.s3 import S3Store

    start, port = moto_server
    srv = start()
    endpoint = f"http://127.0.0.1:{port}"
    st = S3Store(endpoint, f"down-{uuid.uuid4().hex[:8]}", "test:tester", "testing", max_attempts=2,
                 multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    previous_data = os.urandom(MiB)
    previous = commit_snapshot(st, "app", "p", {"state.bin": previous_data, "messages.bin": b"m"})

    sid = new_snapshot_id()
    w = st.writer("app", "p", sid)
    w.put("messages.bin", [b"new messages"])  # one object of the new snapshot is written

    def chunks() -> Iterator[bytes]:
        for i in range(4):
            if i == 2:
                _stop_moto(srv)
            yield os.urandom(5 * MiB)

    t0 = time.monotonic()
    with pytest.raises(StorageError) as err:
        w.put("state.bin", chunks())
    assert time.monotonic() - t0 < 15
    assert endpoint in err.value.message and "unreachable" in err.value.message
    with pytest.raises(StorageError, match="unreachable"):
        w.commit({"never": True})
    w.abort()  # best effort while the server is down: logs, does not raise
    with pytest.raises(StorageError, match="unreachable"):
        st.snapshots("app", "p")

    start()  # back on the same port, with its data
    assert st.snapshots("app", "p") == [previous]
    assert st.latest("app", "p") == previous
    r = st.reader("app", "p", previous)
    assert r.get("state.bin") == previous_data and r.get("messages.bin") == b"m"
    assert any(o.startswith(sid) for o in raw_objects(st, "app", "p"))  # the partial one is left ...
    st.delete("app", "p", sid)  # ... until it is deleted
    assert not any(o.startswith(sid) for o in raw_objects(st, "app", "p"))
    assert st.snapshots("app", "p") == [previous]


def test_collect_removes_uncommitted_snapshots_only(store: SwapStore) -> None:
    app, proc = "coll", f"p-{uuid.uuid4().hex[:6]}"
    kept = commit_snapshot(store, app, proc, {"state.bin": b"v1"})
    w = store.writer(app, proc, new_snapshot_id())  # an interrupted swap-out: objects, no manifest
    w.put("state.bin", [b"partial"])
    assert len(store.snapshot_ids(app, proc)) == 2 and store.snapshots(app, proc) == [kept]
    assert len(store.collect(app, proc, set(store.snapshots(app, proc)))) == 1
    assert store.snapshot_ids(app, proc) == [kept] == store.snapshots(app, proc)
