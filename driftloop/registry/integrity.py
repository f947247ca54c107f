"""A registry file that is damaged or gone: one error naming the file and what to do about it."""

from __future__ import annotations

from typing import TypeVar

from driftloop.core.records import Record
from driftloop.core.storage import Storage


class IntegrityError(Exception):
    """A stored registry file is damaged or gone: a blob missing or not matching the SHA-256 its manifest
    recorded, or a record that does not read as one. The message names the file and what to do."""


RESTORE = "restore it from a backup of the store (an S3 bucket with versioning keeps replaced objects)"

R = TypeVar("R", bound=Record)


def read_record(kind: type[R], what: str, storage: Storage, key: str, data: bytes) -> R:
    """The record `kind` stored at `key`, or `IntegrityError` naming the file when `data` does not read as
    one (`what` says what it should have been)."""
    try:
        return kind.from_json(data)
    except ValueError as damaged:  # pydantic's ValidationError is one, with the field at fault
        problem = " ".join(str(damaged).splitlines()[:2])
        raise IntegrityError(f"{storage.uri(key)}: not a {what} ({problem}); {RESTORE}") from damaged
