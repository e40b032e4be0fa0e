"""The one S3 value type: what it accepts, and that its JSON forms read back to the same endpoint."""

from __future__ import annotations

import pytest

from praas_kit.errors import InvalidArgument
from praas_kit.storage.s3 import S3Store
from praas_kit.storage.s3_endpoint import DEFAULT_REGION, S3Endpoint


class Carrier:
    """Something that carries an endpoint as ``.s3`` (a running SwiftS3Server, a deployment's storage)."""

    def __init__(self, s3: S3Endpoint) -> None:
        self.s3 = s3


def test_an_endpoint_reads_back_from_each_form() -> None:
    ep = S3Endpoint("http://127.0.0.1:9000", "test:tester", "testing", "eu-west-1")
    assert S3Endpoint.of(ep) is ep
    assert S3Endpoint.of(ep.settings(bucket="b")) == ep
    assert S3Endpoint.of(Carrier(ep)) == ep
    assert S3Endpoint.of("http://h:1") == S3Endpoint("http://h:1", None, None, DEFAULT_REGION)
    assert S3Endpoint.of({"endpoint": "http://h:1", "region": None}).region == DEFAULT_REGION


def test_the_store_spec_is_what_the_s3_store_reads() -> None:
    ep = S3Endpoint("http://127.0.0.1:9000", "ak", "sk")
    spec = ep.store_spec("swaps", prefix="p/", connect_timeout=3)
    store = S3Store.from_spec(spec)
    try:
        assert (store.endpoint, store.bucket, store.prefix, store.region) == (ep.url, "swaps", "p/", DEFAULT_REGION)
        assert S3Endpoint.of(spec) == ep
    finally:
        store.close()


@pytest.mark.parametrize("bad", [object(), {"bucket": "b"}, "ftp://h", 12, {"endpoint": ""}])
def test_anything_else_is_refused_by_name(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="S3"):
        S3Endpoint.of(bad)
