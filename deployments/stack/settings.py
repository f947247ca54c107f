"""Where the local stack keeps its state and which loopback ports it uses (`DRIFTLOOP_STACK_*`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"


class StackSettings(BaseSettings):
    """The local stack: state folder, secrets folder, public ports, time limits."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_STACK_", frozen=True)

    dir: str = Field(
        default=".driftloop/stack",
        description="state folder: PostgreSQL cluster, S3 data, logs, pids (data survives `stack down`)",
    )
    secrets_dir: str | None = Field(
        default=None,
        description="where generated passwords, keys and certificates live (mode 0700/0600); default "
        "~/.config/driftloop/stack-<hash of the state folder>, outside the repository",
    )
    prefect_port: int = Field(default=4200, ge=1, le=65535, description="Prefect server API and UI port")
    postgres_port: int = Field(default=54320, ge=1, le=65535, description="PostgreSQL port")
    s3_port: int = Field(default=8333, ge=1, le=65535, description="SeaweedFS S3 port")
    bucket: str = Field(default="driftloop", description="S3 bucket of the artifact store")
    store_prefix: str = Field(default="store", description="key prefix of the artifact store in the bucket")
    postgres_os_user: str = Field(
        default="postgres",
        description="unprivileged account PostgreSQL runs as when `stack up` runs as root (it refuses root)",
    )
    start_timeout_seconds: float = Field(default=180.0, gt=0, description="time limit of each health check")
    stop_timeout_seconds: float = Field(default=30.0, gt=0, description="SIGTERM, then SIGKILL after this")

    @property
    def state(self) -> Path:
        return Path(self.dir).expanduser().resolve()

    @property
    def secrets(self) -> Path:
        if self.secrets_dir:
            return Path(self.secrets_dir).expanduser().resolve()
        tag = hashlib.sha256(str(self.state).encode()).hexdigest()[:12]
        return Path.home() / ".config" / "driftloop" / f"stack-{tag}"

    @property
    def ui_url(self) -> str:
        """The Prefect server: its UI at `/`, its API at `/api`."""
        return f"http://{LOOPBACK}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/{self.store_prefix}"
