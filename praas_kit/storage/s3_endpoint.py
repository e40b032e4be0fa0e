"""Where an S3 server is and how to sign in to it, as one value.

:class:`S3Endpoint` is what the deployments' storage (:class:`~praas_kit.deploy.docker.StorageEndpoints`), the
test server (:class:`~praas_kit.tools.services.SwiftS3Server`), the benchmarks and the applications pass
around. Functions running in a process receive it as JSON (:meth:`S3Endpoint.settings`:
``{"endpoint", "access_key", "secret_key", "region", ...}``) and a swap store as a spec
(:meth:`S3Endpoint.store_spec`); :meth:`S3Endpoint.of` reads either back, or a bare URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from praas_kit.errors import InvalidArgument

DEFAULT_REGION = "us-east-1"
#: the credentials of the kit's own S3 servers (the Swift test server and the ``praas-s3`` image): test accounts
#: on servers that only this machine or a deployment's network reaches, not secrets
TEST_ACCESS_KEY, TEST_SECRET_KEY = "test:tester", "testing"


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 endpoint URL with its credentials (``None``: unsigned requests) and region."""

    url: str
    access_key: str | None = None
    secret_key: str | None = None
    region: str = DEFAULT_REGION

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise InvalidArgument(f"an S3 endpoint is an http(s) URL, not {self.url!r}")

    @classmethod
    def of(cls, s3: Any) -> S3Endpoint:
        """``s3`` itself, a URL, what :meth:`settings` made (a mapping with at least ``endpoint``), or something that
        carries one as its ``s3`` attribute (a running SwiftS3Server, a deployment's ``storage``);
        :class:`InvalidArgument` for anything else."""
        if isinstance(s3, S3Endpoint):
            return s3
        if isinstance(getattr(s3, "s3", None), S3Endpoint):
            return s3.s3  # type: ignore[no-any-return]
        if isinstance(s3, str):
            return cls(s3)
        if isinstance(s3, Mapping):
            if not s3.get("endpoint"):
                raise InvalidArgument("S3 settings need at least an 'endpoint'")
            return cls(str(s3["endpoint"]), s3.get("access_key"), s3.get("secret_key"),
                       str(s3.get("region") or DEFAULT_REGION))
        raise InvalidArgument(f"cannot tell an S3 endpoint from {s3!r}: give an S3Endpoint, a URL or a dict with "
                              "'endpoint' (a running SwiftS3Server's .s3, a deployment's storage.s3)")

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The JSON form a function receives: ``endpoint``, ``access_key``, ``secret_key``, ``region`` and
        ``extra`` (a ``bucket``, a key prefix ...)."""
        return {"endpoint": self.url, "access_key": self.access_key, "secret_key": self.secret_key,
                "region": self.region, **extra}

    def store_spec(self, bucket: str, prefix: str = "", **options: Any) -> dict[str, Any]:
        """The spec of an S3 swap store (:class:`~praas_kit.storage.s3.S3Store`) in ``bucket`` on this endpoint;
        ``options`` tune its S3 client."""
        return {"kind": "s3", **self.settings(bucket=bucket, prefix=prefix), **options}

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client (:func:`praas_kit.storage.s3.make_client`)."""
        from praas_kit.storage.s3 import make_client

        return make_client(self.url, self.access_key, self.secret_key, self.region, **config)


__all__ = ["S3Endpoint", "DEFAULT_REGION", "TEST_ACCESS_KEY", "TEST_SECRET_KEY"]
