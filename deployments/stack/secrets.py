"""The stack's generated secrets: made once, stored outside the repository with mode 0600, reused after."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict

SECRETS_FILE = "secrets.json"


class StackSecrets(BaseModel):
    """Every credential the stack's services require; never logged, never written into the repo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    postgres_user: str
    postgres_password: str
    prefect_auth_string: str  # "user:password", Prefect's basic authentication
    s3_access_key: str
    s3_secret_key: str
    seaweed_write_jwt_key: str
    seaweed_filer_jwt_key: str

    @classmethod
    def generate(cls) -> StackSecrets:
        return cls(
            postgres_user="driftloop",
            postgres_password=secrets.token_urlsafe(24),
            prefect_auth_string=f"driftloop:{secrets.token_urlsafe(24)}",
            s3_access_key=f"driftloop{secrets.token_hex(6)}",
            s3_secret_key=secrets.token_hex(20),
            seaweed_write_jwt_key=secrets.token_hex(24),
            seaweed_filer_jwt_key=secrets.token_hex(24),
        )


def private_dir(path: Path) -> Path:
    """Make `path` (and its parents) and keep it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the first byte on (no window where others could read it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def load_or_create(folder: Path) -> StackSecrets:
    """The secrets in `folder`, generated on the first call."""
    path = private_dir(folder) / SECRETS_FILE
    if path.exists():
        return StackSecrets.model_validate_json(path.read_text())
    made = StackSecrets.generate()
    write_private(path, json.dumps(made.model_dump(), indent=2).encode())
    return made
