"""The S3 artifact store (AWS S3, SeaweedFS, any S3-compatible server); boto3 is used only here and in `s3_*`.

A single `put_object` is atomic in S3, so writes need no temp objects. The registry's two conditional
writes map onto S3's conditional writes: `if_absent` sends `If-None-Match: *`, `if_match` sends
`If-Match: <etag>`; the server, not this process, decides the race, so it holds across machines.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from driftloop.core.settings import S3Settings
from driftloop.core.storage.base import ObjectNotFound, PreconditionFailed, check_key
from driftloop.core.storage.s3_errors import error_code, reachable, unreachable_as

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.client import BaseClient

# "412" is the bare status botocore reports for an error without a body; ConditionalRequestConflict
# (409) is S3's answer while another conditional write on the same key is in flight: either way we lost.
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
# HEAD has no body, so a missing key there is the bare status "404".
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
# Bodies smaller than this are sent without `Expect: 100-continue` (see `_no_continue_for_small_bodies`).
_CONTINUE_MIN_BYTES = 1024 * 1024


def _strip_etag(etag: str) -> str:
    # S3 sends ETags quoted; callers compare them as plain strings, so keep one form everywhere.
    return etag.strip('"')


class S3Storage:
    """Artifacts under `s3://bucket/prefix`; keys are `/`-separated paths below the prefix."""

    def __init__(self, bucket: str, prefix: str, client: BaseClient) -> None:
        if not bucket:
            raise ValueError("S3 bucket name is empty")
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.endpoint: str | None = getattr(getattr(client, "meta", None), "endpoint_url", None)
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    @classmethod
    def from_url(cls, url: str, settings: S3Settings) -> S3Storage:
        """Open `s3://bucket/prefix`, creating the bucket if it is missing.

        Args:
            url: the store's address; it never carries credentials.
            settings: endpoint, region, keys and retries.

        Returns:
            A store whose client retries transient errors and uses path-style addressing, which
            S3-compatible servers on localhost need (no per-bucket DNS names).
        """
        return cls.open_creating(url, settings)[0]

    @classmethod
    def open_creating(cls, url: str, settings: S3Settings) -> tuple[S3Storage, bool]:
        """`from_url`, also telling whether the bucket had to be created."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an S3 URL: {url!r} (expected s3://bucket/prefix)")
        store = cls(parsed.netloc, parsed.path, make_client(settings))
        with unreachable_as(store.url, settings.endpoint_url):
            created = store._ensure_bucket(settings.region)
        return store, created

    def _ensure_bucket(self, region: str) -> bool:
        # HEAD first: a user with object rights only (no CreateBucket) can still use an existing bucket.
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as error:
            if error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        create: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**create)
        except ClientError as error:
            if error_code(error) not in _BUCKET_EXISTS_CODES:
                raise
            # Another process created it between our HEAD and CREATE; usable only if it is ours.
            self.client.head_bucket(Bucket=self.bucket)
            return False
        return True

    # ---- links ------------------------------------------------------------------------------
    def link(self, key: str, expires_seconds: int) -> str:
        """A link a browser opens without credentials, valid for `expires_seconds` (SigV4: 7 days at most)."""
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_seconds
            )
        )

    def _key(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @reachable
    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error_code(error) in _NOT_FOUND_CODES:
                raise ObjectNotFound(self.uri(key)) from error
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()

    @reachable
    def write_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        """Write atomically and return the new etag; raise `PreconditionFailed` if a condition fails.

        A conditional write whose success response is lost and then retried reports
        `PreconditionFailed` although it won: callers re-read the key before concluding they lost.
        The object's Content-Type follows its key's extension, so a browser shows an HTML report
        behind a presigned link instead of downloading it.
        """
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "ContentType": mimetypes.guess_type(key)[0] or "application/octet-stream",
        }
        if if_absent:
            request["IfNoneMatch"] = "*"
        if if_match is not None:
            request["IfMatch"] = f'"{_strip_etag(if_match)}"'
        try:
            response = self.client.put_object(**request)
        except ClientError as error:
            code = error_code(error)
            if code in _PRECONDITION_CODES:
                raise PreconditionFailed(f"{self.uri(key)}: conditional write lost ({code})") from error
            # AWS answers If-Match on a missing key with 404: the object we expected is not there.
            if if_match is not None and code in _NOT_FOUND_CODES:
                raise PreconditionFailed(
                    f"{self.uri(key)} does not exist (expected etag {if_match})"
                ) from error
            raise
        return _strip_etag(response["ETag"])

    @reachable
    def etag(self, key: str) -> str | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error_code(error) in _NOT_FOUND_CODES:
                return None
            raise
        return _strip_etag(response["ETag"])

    def exists(self, key: str) -> bool:
        return self.etag(key) is not None

    def spool(self, prefix: str) -> Path:
        fd, name = tempfile.mkstemp(prefix="driftloop-spool-", suffix=".tmp")
        os.close(fd)
        return Path(name)

    @reachable
    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (multipart when large: boto3's transfer manager), then remove it."""
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": mimetypes.guess_type(key)[0] or "application/octet-stream"},
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    @reachable
    def list(self, prefix: str) -> list[str]:
        """Keys under the folder `prefix` (all keys when empty), sorted, relative to the store."""
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        # A trailing "/" so that "runs" lists "runs/a" but not "runsx/a", as a folder would.
        parts = [part for part in (self.prefix, prefix) if part]
        full = "/".join(parts) + "/" if parts else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        # Some servers list folder markers ("a/"): they are not objects a caller wrote.
        return sorted(key for key in keys if key and not key.endswith("/"))

    @reachable
    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def answers(settings: S3Settings) -> bool:
    """True when the endpoint accepts a signed request with these keys (a health check: one try)."""
    quick = settings.model_copy(update={"max_attempts": 1})
    client = make_client(quick, Config(connect_timeout=1, read_timeout=3))
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()
    return True


def make_client(settings: S3Settings, timeouts: Config | None = None) -> BaseClient:
    """A boto3 S3 client; explicit keys win, else boto3's default chain (env, profile, instance role)."""
    options: dict[str, Any] = {
        "region_name": settings.region,
        "config": Config(
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            s3={"addressing_style": "path"},
            # Presigned links too: botocore would sign them with SigV2, which AWS S3 no longer accepts.
            signature_version="s3v4",
        ),
    }
    if timeouts is not None:
        options["config"] = options["config"].merge(timeouts)
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        options["aws_access_key_id"] = settings.access_key_id.get_secret_value()
        options["aws_secret_access_key"] = settings.secret_access_key.get_secret_value()
    # A fresh session per client: boto3's module-level default session is not thread-safe.
    client = boto3.session.Session().client("s3", **options)
    client.meta.events.register("before-send.s3.PutObject", _no_continue_for_small_bodies)
    return client


def _no_continue_for_small_bodies(request: AWSPreparedRequest, **_: Any) -> None:
    """Send small bodies at once instead of asking the server first with `Expect: 100-continue`.

    The header spares sending a large body the server rejects; for a small one it saves nothing, and
    botocore then waits up to 1 s for the go-ahead. SeaweedFS 4.48 does not give it while conditional
    writes on one key contend, so each waiting writer paid that second in turn: 20 compare-and-swap
    writers took up to 9 s instead of 0.1 s.
    """
    length = request.headers.get("Content-Length")
    if length is not None and int(length) < _CONTINUE_MIN_BYTES:
        del request.headers["Expect"]
