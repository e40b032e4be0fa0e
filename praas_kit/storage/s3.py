"""The S3 swap store: snapshots as objects in a bucket of any S3-compatible server (boto3).

Layout: ``<prefix><app>/<process>/<snapshot>/<object>``, with ``manifest.json`` PUT *last* by
:meth:`SnapshotWriter.commit`. A snapshot whose manifest object does not exist is invisible to
:meth:`S3Store.snapshots` and :meth:`SwapStore.latest`, so a crash or an outage in the middle of a
swap-out leaves the previous snapshot the newest one.

* Addressing is path-style (``http://host:port/bucket/key``), which every S3-compatible server
  (OpenStack Swift ``s3api``, MinIO, Ceph RGW, moto) understands without DNS tricks.
* Request checksums are sent only where S3 requires them: botocore >= 1.36 would otherwise add
  CRC32 trailers that Swift's ``s3api`` rejects.
* Objects are streamed: :meth:`SnapshotWriter.put` feeds its chunks to boto3's managed transfer
  through a file-like adapter (one copy per byte into each request body), so an object larger than
  ``multipart_threshold`` goes up as a multipart upload with parts sent by a few threads, and
  :meth:`SnapshotWriter.put_file` / :meth:`SnapshotReader.get_to_file` use boto3's file transfers.
* Connect timeouts are short and retries few, so a dead endpoint fails within seconds. Every
  boto3/botocore/connection failure becomes :class:`~praas_kit.errors.StorageError` naming the
  endpoint and the operation.
* The bucket is created on first write if it does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument, StorageError
from praas_kit.storage.base import (
    Chunks,
    ProcessHost,
    SnapshotReader,
    SnapshotWriter,
    SwapStore,
    check_object_name,
    check_snapshot_id,
)
from praas_kit.storage.chunks import ChunkStream

log = logging.getLogger("praas_kit.storage.s3")

MANIFEST = "manifest.json"

#: Tuning keys that :meth:`S3Store.spec` includes only when they differ from these defaults.
DEFAULTS: dict[str, Any] = {
    "connect_timeout": 2.0,
    "read_timeout": 30.0,
    "max_attempts": 2,
    "multipart_threshold": 16 << 20,
    "multipart_chunksize": 8 << 20,
    "max_concurrency": 4,
}


def make_client(endpoint: str | None, access_key: str | None = None, secret_key: str | None = None,
                region: str = "us-east-1", **config: Any) -> Any:
    """A boto3 S3 client for ``endpoint`` with path-style addressing and signature v4.

    ``config`` are :class:`botocore.config.Config` options (timeouts, retries, pool size). Checksums
    are sent and validated only where S3 requires them: botocore >= 1.36 would otherwise add CRC32
    trailers that Swift's ``s3api`` rejects. Raises :class:`StorageError` without boto3.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StorageError("S3 needs boto3: pip install 'praas-kit[s3]'") from None
    options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "signature_version": "s3v4", **config}
    try:
        cfg = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                     **options)
    except TypeError:  # botocore < 1.36 has no such options (and adds no such checksums)
        cfg = Config(**options)
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint or None, aws_access_key_id=access_key,
                                              aws_secret_access_key=secret_key, region_name=region, config=cfg)
    except Exception as exc:
        raise StorageError(f"cannot configure an S3 client for {endpoint or 'aws:' + region}: {exc}") from None


def _add_content_md5(request: Any, **_: Any) -> None:
    """botocore event handler: set ``Content-MD5`` of a request body that lacks one."""
    if "Content-MD5" in request.headers:
        return
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, (bytes, bytearray)):
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


class _S3Writer(SnapshotWriter):
    def __init__(self, store: S3Store, base: str, where: str) -> None:
        self.store = store
        self.base = base  # "<prefix><app>/<proc>/<snapshot>/"
        self.where = where

    def put(self, name: str, chunks: Chunks) -> int:
        key = self.base + check_object_name(name)
        what = f"writing object {name!r} of snapshot {self.where}"
        stream = ChunkStream(chunks)
        try:
            self.store._client.upload_fileobj(stream, self.store.bucket, key, Config=self.store._transfer)
        except BaseException as exc:
            if stream.error is not None:  # the caller's iterable failed, not S3
                raise stream.error from None
            if isinstance(exc, Exception):
                raise self.store._error(what, exc) from None
            raise
        return stream.total

    def put_file(self, name: str, path: Path) -> int:
        key = self.base + check_object_name(name)
        what = f"writing object {name!r} of snapshot {self.where}"
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot read {name!r} for snapshot {self.where}: {exc}") from None
        try:
            self.store._client.upload_file(str(path), self.store.bucket, key, Config=self.store._transfer)
        except OSError as exc:
            raise StorageError(f"cannot read {name!r} for snapshot {self.where}: {exc}") from None
        except Exception as exc:
            raise self.store._error(what, exc) from None
        return size

    def commit(self, manifest: dict[str, Any]) -> None:
        body = json.dumps(manifest).encode()
        try:
            self.store._client.put_object(Bucket=self.store.bucket, Key=self.base + MANIFEST, Body=body,
                                          ContentType="application/json")
        except Exception as exc:
            raise self.store._error(f"writing the manifest of snapshot {self.where}", exc) from None

    def abort(self) -> None:
        """Remove the objects written so far (best effort: a failure is logged, not raised)."""
        try:
            self.store._delete_prefix(self.base)
        except StorageError as exc:
            log.warning("could not remove the partial snapshot %s: %s", self.where, exc.message)


class _S3Reader(SnapshotReader):
    def __init__(self, store: S3Store, base: str, where: str) -> None:
        self.store = store
        self.base = base
        self.where = where

    def manifest(self) -> dict[str, Any]:
        data = self.store._get(self.base + MANIFEST, f"reading the manifest of snapshot {self.where}",
                               missing=f"snapshot {self.where} is missing or incomplete (no manifest)")
        try:
            out = json.loads(data)
        except ValueError as exc:
            raise StorageError(f"the manifest of snapshot {self.where} is not valid JSON: {exc}") from None
        if not isinstance(out, dict):
            raise StorageError(f"the manifest of snapshot {self.where} is not a JSON object")
        return out

    def get(self, name: str) -> bytes:
        return self.store._get(self.base + check_object_name(name),
                               f"reading object {name!r} of snapshot {self.where}")

    def get_to_file(self, name: str, path: Path) -> None:
        key = self.base + check_object_name(name)
        try:
            self.store._client.download_file(self.store.bucket, key, str(path), Config=self.store._transfer)
        except OSError as exc:
            raise StorageError(f"cannot write {path.name!r} restoring snapshot {self.where}: {exc}") from None
        except Exception as exc:
            raise self.store._error(f"reading object {name!r} of snapshot {self.where}", exc) from None


class S3Store(SwapStore):
    """Snapshots in ``bucket`` of the S3-compatible server at ``endpoint`` (e.g. ``http://127.0.0.1:9000``).

    Args:
        endpoint: the server's URL; ``None`` means AWS's default endpoint for ``region``.
        bucket: created on the first write if it does not exist.
        access_key, secret_key: credentials (``None``: boto3's usual lookup).
        region: the signing region.
        prefix: prepended verbatim to every key (use a trailing ``/`` for a "folder").
        connect_timeout, read_timeout: seconds per connection attempt / socket read.
        max_attempts: total attempts per request (1 = no retry).
        multipart_threshold, multipart_chunksize, max_concurrency: boto3 managed-transfer tuning.

    Constructing the store does not contact the server.
    """

    kind = "s3"

    def __init__(self, endpoint: str | None, bucket: str, access_key: str | None = None,
                 secret_key: str | None = None, region: str | None = "us-east-1", prefix: str = "", *,
                 connect_timeout: float = DEFAULTS["connect_timeout"], read_timeout: float = DEFAULTS["read_timeout"],
                 max_attempts: int = DEFAULTS["max_attempts"],
                 multipart_threshold: int = DEFAULTS["multipart_threshold"],
                 multipart_chunksize: int = DEFAULTS["multipart_chunksize"],
                 max_concurrency: int = DEFAULTS["max_concurrency"]) -> None:
        try:
            from boto3.s3.transfer import TransferConfig
        except ImportError:
            raise StorageError("the S3 swap store needs boto3: pip install 'praas-kit[s3]'") from None
        if not isinstance(bucket, str) or not bucket:
            raise InvalidArgument(f"invalid S3 bucket name {bucket!r}")
        if not isinstance(prefix, str) or prefix.startswith("/"):
            raise InvalidArgument(f"invalid S3 key prefix {prefix!r}: a string not starting with '/'")
        self.endpoint = endpoint or None
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region or "us-east-1"
        self.prefix = prefix
        self.tuning: dict[str, Any] = {
            "connect_timeout": float(connect_timeout), "read_timeout": float(read_timeout),
            "max_attempts": int(max_attempts), "multipart_threshold": int(multipart_threshold),
            "multipart_chunksize": int(multipart_chunksize), "max_concurrency": int(max_concurrency),
        }
        self._client = make_client(
            self.endpoint, access_key, secret_key, self.region, connect_timeout=connect_timeout,
            read_timeout=read_timeout, retries={"max_attempts": max(1, int(max_attempts)), "mode": "standard"},
            max_pool_connections=max(10, int(max_concurrency) * 2))
        # Multi-object delete must carry Content-MD5 on Swift's s3api (and older S3 servers); botocore
        # >= 1.36 sends a CRC32 checksum instead, so add the MD5 before the request is signed.
        self._client.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
        self._transfer = TransferConfig(multipart_threshold=int(multipart_threshold),
                                        multipart_chunksize=int(multipart_chunksize),
                                        max_concurrency=int(max_concurrency), use_threads=True,
                                        num_download_attempts=max(1, int(max_attempts)))
        self._page_size = 1000  # keys per listing request (tests make it small to exercise pagination)
        self._bucket_ready = threading.Event()
        self._bucket_lock = threading.Lock()

    # ------------------------------------------------------------------ spec
    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> S3Store:
        """The store that :meth:`spec` described (unknown keys are ignored)."""
        if not spec.get("bucket"):
            raise StorageError("S3 swap store spec has no bucket")
        tuning = {k: spec[k] for k in DEFAULTS if spec.get(k) is not None}
        return cls(spec.get("endpoint"), spec["bucket"], spec.get("access_key"), spec.get("secret_key"),
                   spec.get("region") or "us-east-1", spec.get("prefix") or "", **tuning)

    @classmethod
    def spec_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """``PRAAS_S3_ENDPOINT``, ``PRAAS_S3_BUCKET`` (``praas-swaps``), ``PRAAS_S3_ACCESS_KEY``,
        ``PRAAS_S3_SECRET_KEY`` (or ``PRAAS_S3_SECRET_KEY_FILE``, a file that holds it, e.g. a Swarm secret),
        ``PRAAS_S3_REGION`` (``us-east-1``), ``PRAAS_S3_PREFIX``."""
        secret = env.get("PRAAS_S3_SECRET_KEY") or None
        if secret is None and env.get("PRAAS_S3_SECRET_KEY_FILE"):
            try:
                secret = Path(env["PRAAS_S3_SECRET_KEY_FILE"]).read_text().strip() or None
            except OSError as exc:
                raise StorageError(f"cannot read PRAAS_S3_SECRET_KEY_FILE {env['PRAAS_S3_SECRET_KEY_FILE']}: "
                                   f"{exc.strerror}") from None
        return {"kind": "s3", "endpoint": env.get("PRAAS_S3_ENDPOINT") or None,
                "bucket": env.get("PRAAS_S3_BUCKET") or "praas-swaps",
                "access_key": env.get("PRAAS_S3_ACCESS_KEY") or None,
                "secret_key": secret,
                "region": env.get("PRAAS_S3_REGION") or "us-east-1", "prefix": env.get("PRAAS_S3_PREFIX") or ""}

    def spec(self) -> dict[str, Any]:
        """``{"kind": "s3", endpoint, bucket, access_key, secret_key, region, prefix}`` plus non-default tuning."""
        out: dict[str, Any] = {"kind": "s3", "endpoint": self.endpoint, "bucket": self.bucket,
                               "access_key": self.access_key, "secret_key": self.secret_key,
                               "region": self.region, "prefix": self.prefix}
        out.update({k: v for k, v in self.tuning.items() if v != DEFAULTS[k]})
        return out

    def process_view(self, host: ProcessHost, app: str, proc: str) -> dict[str, Any]:
        """The spec with the endpoint as a container reaches it (``host.reach``)."""
        out = self.spec()
        if self.endpoint:
            out["endpoint"] = host.reach(self.endpoint)
        return out

    # ------------------------------------------------------------------ helpers
    def _error(self, what: str, exc: BaseException) -> StorageError:
        """A :class:`StorageError` for a failed boto3 call, naming endpoint and operation."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        endpoint = self.endpoint or f"aws:{self.region}"
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionError)):
            return StorageError(f"S3 endpoint {endpoint} unreachable while {what}: {exc}")
        if isinstance(exc, (ReadTimeoutError, ConnectionClosedError)):
            return StorageError(f"S3 endpoint {endpoint} stopped answering while {what}: {exc}")
        if isinstance(exc, NoCredentialsError):
            return StorageError(f"no S3 credentials for {endpoint} while {what}")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            return StorageError(f"S3 endpoint {endpoint} refused {what} (bucket {self.bucket!r}): "
                                f"{err.get('Code', '?')} {err.get('Message', '')}".rstrip())
        if isinstance(exc, S3UploadFailedError):
            text = str(exc)
            if "Could not connect" in text or "Connection" in text:
                return StorageError(f"S3 endpoint {endpoint} unreachable while {what}: {text}")
            return StorageError(f"S3 endpoint {endpoint} failed {what} (bucket {self.bucket!r}): {text}")
        return StorageError(f"S3 endpoint {endpoint} failed {what} (bucket {self.bucket!r}): "
                            f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _code(exc: BaseException) -> str:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            return str(exc.response.get("Error", {}).get("Code", ""))
        return ""

    def ensure_bucket(self, purpose: str = "") -> None:
        """Create the bucket unless it exists (done once per store, before the first write).

        ``purpose`` ends the error message, e.g. ``"before writing snapshot a/p/<id>"``.
        """
        why = f" {purpose}" if purpose else ""
        if self._bucket_ready.is_set():
            return
        with self._bucket_lock:
            if self._bucket_ready.is_set():
                return
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except Exception as exc:
                if self._code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                    raise self._error(f"checking bucket {self.bucket!r}{why}", exc) from None
                kwargs: dict[str, Any] = {"Bucket": self.bucket}
                if self.region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                try:
                    self._client.create_bucket(**kwargs)
                    log.info("created bucket %r at %s", self.bucket, self.endpoint)
                except Exception as exc2:
                    if self._code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise self._error(f"creating bucket {self.bucket!r}{why}", exc2) from None
            self._bucket_ready.set()

    def _base(self, app: str, proc: str, snapshot: str | None = None) -> str:
        self._check(app, proc, snapshot)
        base = f"{self.prefix}{app}/{proc}/"
        return f"{base}{snapshot}/" if snapshot else base

    def _get(self, key: str, what: str, missing: str | None = None) -> bytes:
        """The object's bytes; :class:`StorageError` with ``missing`` (or a default) if it does not exist."""
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except Exception as exc:
            if self._code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise StorageError(missing or f"{what}: no such object {key!r} in bucket {self.bucket!r} "
                                   f"at {self.endpoint}") from None
            raise self._error(what, exc) from None

    def _keys(self, prefix: str, what: str) -> Iterable[str]:
        """Every key under ``prefix`` (paginated); nothing if the bucket does not exist."""
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self._page_size})
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield obj["Key"]
        except Exception as exc:
            if self._code(exc) == "NoSuchBucket":
                return
            raise self._error(what, exc) from None

    def _delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` and abort multipart uploads left there."""
        what = f"deleting {prefix!r}"
        keys = list(self._keys(prefix, what))
        # manifests first, in a request of their own: a snapshot half deleted is then never listed
        manifests = [k for k in keys if k.endswith("/" + MANIFEST)]
        others = [k for k in keys if not k.endswith("/" + MANIFEST)]
        batches = [manifests[i: i + 1000] for i in range(0, len(manifests), 1000)]
        batches += [others[i: i + 1000] for i in range(0, len(others), 1000)]
        for batch in batches:
            try:
                resp = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            except Exception as exc:
                raise self._error(what, exc) from None
            errors = [e for e in resp.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StorageError(f"S3 endpoint {self.endpoint} refused {what}: {len(errors)} objects not "
                                   f"deleted, e.g. {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}")
        try:
            uploads = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", ())
            for up in uploads:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
        except Exception as exc:  # servers without the listing, or a race with another abort
            if self._code(exc) not in ("NoSuchBucket", "NoSuchUpload", "NotImplemented"):
                log.debug("could not abort multipart uploads under %r: %s", prefix, exc)

    # ------------------------------------------------------------------ SwapStore
    def writer(self, app: str, proc: str, snapshot: str) -> SnapshotWriter:
        base = self._base(app, proc, snapshot)
        where = f"{app}/{proc}/{snapshot}"
        self.ensure_bucket(f"before writing snapshot {where}")
        return _S3Writer(self, base, where)

    def reader(self, app: str, proc: str, snapshot: str) -> SnapshotReader:
        return _S3Reader(self, self._base(app, proc, snapshot), f"{app}/{proc}/{snapshot}")

    def snapshots(self, app: str, proc: str) -> list[str]:
        base = self._base(app, proc)
        found = []
        for key in self._keys(base, f"listing the snapshots of {app}/{proc}"):
            rel = key[len(base):]
            snap, sep, obj = rel.partition("/")
            if sep and obj == MANIFEST:
                try:
                    found.append(check_snapshot_id(snap))
                except Exception:  # an object somebody else put there; not ours
                    continue
        return sorted(found)

    def snapshot_ids(self, app: str, proc: str) -> list[str]:
        base = self._base(app, proc)
        ids = set()
        for key in self._keys(base, f"listing the snapshots of {app}/{proc}"):
            snap, sep, _ = key[len(base):].partition("/")
            if sep:
                try:
                    ids.add(check_snapshot_id(snap))
                except Exception:  # noqa: BLE001 - an object somebody else put there; not ours
                    continue
        return sorted(ids)

    def delete(self, app: str, proc: str, snapshot: str | None = None) -> None:
        self._delete_prefix(self._base(app, proc, snapshot))

    def close(self) -> None:
        """Release the client's connection pool."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - older botocore has no close(); nothing to release then
            pass

    def __repr__(self) -> str:
        return f"S3Store({self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"


__all__ = ["S3Store"]
