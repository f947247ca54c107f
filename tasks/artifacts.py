"""Small helpers for Prefect artifacts: keys Prefect accepts, links a browser opens."""

from __future__ import annotations

import re
from pathlib import Path


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key from parts: lowercase letters, digits and dashes only."""
    text = "-".join(str(part) for part in parts).lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text)).strip("-")


def as_link(uri: str) -> str:
    """A clickable address: local paths become file:// URLs."""
    return Path(uri).as_uri() if uri.startswith("/") else uri
