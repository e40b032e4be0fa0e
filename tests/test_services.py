"""The real storage servers of praas_kit.tools.services: Redis and OpenStack Swift with s3api."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import SWIFT_BINARIES, children_of, require
from helpers import have as _have

from praas_kit.errors import BackendError
from praas_kit.tools.services import RedisServer, SwiftS3Server
from praas_kit.tools.services import _util as services_util


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists at all (a child that was reaped is gone from /proc)."""
    return Path(f"/proc/{pid}").exists()


@pytest.mark.redis
def test_redis_round_trip_and_cleanup() -> None:
    require(_have("redis-server"), "redis-server is not installed")
    try:
        import redis
    except ImportError:
        require(False, "redis-py is not installed")
    before = children_of(os.getpid())
    with RedisServer() as srv:
        assert srv.host == "127.0.0.1"
        assert srv.url == f"redis://127.0.0.1:{srv.port}/0"
        pid, tmpdir = srv.pid, srv.tmpdir
        assert pid is not None and tmpdir is not None and tmpdir.is_dir()
        client = redis.Redis.from_url(srv.url)
        payload = os.urandom(1 << 20)
        assert client.set("key", payload)
        assert client.get("key") == payload
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.close()
    assert not _alive(pid)
    assert not tmpdir.exists()
    assert children_of(os.getpid()) <= before


@pytest.mark.redis
def test_redis_fixed_port_in_use_is_reported() -> None:
    require(_have("redis-server"), "redis-server is not installed")
    before = children_of(os.getpid())
    with RedisServer() as first:
        with pytest.raises(BackendError, match="already in use"):
            RedisServer(port=first.port, startup_timeout=5).start()
    assert children_of(os.getpid()) <= before


def test_missing_redis_server_raises_backend_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(services_util, "_EXTRA_BIN_DIRS", ())
    with pytest.raises(BackendError, match="redis-server is not installed"):
        RedisServer().start()


@pytest.mark.s3
def test_swift_s3_round_trip_and_cleanup() -> None:
    require(_have(*SWIFT_BINARIES), "Swift or memcached is not installed")
    try:
        import boto3  # noqa: F401
    except ImportError:
        require(False, "boto3 is not installed")
    before = children_of(os.getpid())
    with SwiftS3Server() as s3:
        assert s3.endpoint == f"http://127.0.0.1:{s3.port}"
        assert (s3.access_key, s3.secret_key, s3.region) == ("test:tester", "testing", "us-east-1")
        pids, tmpdir = s3.pids, s3.tmpdir
        assert len(pids) == 5 and tmpdir is not None and tmpdir.is_dir()
        assert children_of(os.getpid()) - before == set(pids)
        client = s3.client()
        client.create_bucket(Bucket="praas-test")
        payload = os.urandom(1 << 20)
        client.put_object(Bucket="praas-test", Key="blob/one", Body=payload)
        assert client.get_object(Bucket="praas-test", Key="blob/one")["Body"].read() == payload
        head = client.head_object(Bucket="praas-test", Key="blob/one")
        assert head["ContentLength"] == len(payload)
        listed = client.list_objects_v2(Bucket="praas-test")
        assert [o["Key"] for o in listed["Contents"]] == ["blob/one"]
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["praas-test"]
    assert not any(_alive(p) for p in pids)
    assert not tmpdir.exists()
    assert children_of(os.getpid()) <= before


@pytest.mark.s3
def test_swift_s3_cleans_up_when_startup_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    require(_have(*SWIFT_BINARIES), "Swift or memcached is not installed")
    before = children_of(os.getpid())
    server = SwiftS3Server(startup_timeout=30)

    def broken_config(self: SwiftS3Server, _write=SwiftS3Server._write_config) -> None:
        _write(self)
        assert self.tmpdir is not None
        conf = self.tmpdir / "etc" / "object-server.conf"
        conf.write_text(conf.read_text().replace("egg:swift#object", "egg:swift#no-such-app"))

    monkeypatch.setattr(SwiftS3Server, "_write_config", broken_config)
    with pytest.raises(BackendError, match="swift-object-server exited during startup"):
        server.start()
    assert server.tmpdir is None
    assert server.pids == []
    assert children_of(os.getpid()) <= before


@pytest.mark.s3
@pytest.mark.redis
def test_swift_s3_fixed_port_in_use_is_reported() -> None:
    require(_have("redis-server", *SWIFT_BINARIES), "redis-server or Swift is not installed")
    with RedisServer() as other:
        server = SwiftS3Server(port=other.port)
        with pytest.raises(BackendError, match="already in use"):
            server.start()
        assert server.tmpdir is None and server.pids == []
