"""Content hashes: of bytes as stored, and of JSON values in one canonical form.

A hash that names data (a data version, a blob, a cache key) must not depend on dict order or spacing, so
every JSON value driftloop hashes goes through `canonical_json` first.
"""

from __future__ import annotations

import hashlib
import json


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of stored bytes, as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> str:
    """`value` as JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def canonical_sha256(value: object) -> str:
    """The SHA-256 of `value`'s canonical JSON (pydantic models are dumped in JSON mode first)."""
    dump = getattr(value, "model_dump", None)
    return sha256_hex(canonical_json(dump(mode="json") if dump else value).encode())
