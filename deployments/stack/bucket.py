"""The artifact store's bucket as `driftloop stack apply` declares it (`infra/bucket.yaml`): versioning and
lifecycle rules.

Servers differ in what they implement (SeaweedFS has versioning, not every server has lifecycle
rules): a setter says False when the endpoint does not support the feature, instead of failing.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from driftloop.core.storage.s3 import S3Storage
from driftloop.core.storage.s3_errors import error_code, reachable

# What servers answer to a bucket feature they do not implement.
_UNSUPPORTED_CODES = frozenset({"NotImplemented", "501", "MethodNotAllowed", "405"})


class BucketConfiguration:
    """The versioning and lifecycle rules of the bucket an `S3Storage` lives in."""

    def __init__(self, store: S3Storage) -> None:
        self.client = store.client
        self.bucket = store.bucket
        self.url = store.url
        self.endpoint = store.endpoint

    @reachable
    def versioning(self) -> str | None:
        """ "Enabled", "Suspended", or None when versioning was never turned on."""
        return self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")

    @reachable
    def set_versioning(self, status: str) -> bool:
        """Turn versioning on or off; False when the endpoint does not support it."""
        try:
            self.client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": status})
        except ClientError as error:
            if error_code(error) in _UNSUPPORTED_CODES:
                return False
            raise
        return True

    @reachable
    def lifecycle_rules(self) -> list[dict[str, Any]]:
        try:
            return list(self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"])
        except ClientError as error:
            if error_code(error) in ("NoSuchLifecycleConfiguration", *_UNSUPPORTED_CODES):
                return []
            raise

    @reachable
    def set_lifecycle_rules(self, rules: list[dict[str, Any]]) -> bool:
        """Replace the bucket's lifecycle rules; False when the endpoint does not support them."""
        try:
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
            )
        except ClientError as error:
            if error_code(error) in _UNSUPPORTED_CODES:
                return False
            raise
        return True
