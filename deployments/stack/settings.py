"""Where the local stack keeps its state, which loopback ports it uses and its Dask cluster's size
(`DRIFTLOOP_STACK_*`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"


class StackSettings(BaseSettings):
    """The local stack: state folder, secrets folder, public ports, the Dask cluster, time limits."""

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
    dask_workers: int = Field(
        default=0,
        ge=0,
        description="Dask workers `stack up` starts with a scheduler (mutual TLS on 127.0.0.1, no "
        "dashboard); 0: no Dask. With workers, `stack env` names the cluster and its client certificate "
        "(DRIFTLOOP_DASK_*), and the stack's flow runs get them",
    )
    dask_scheduler_port: int = Field(
        default=8786, ge=1, le=65535, description="Dask scheduler port (`tls://127.0.0.1:<port>`)"
    )
    dask_threads_per_worker: int = Field(
        default=1,
        ge=1,
        description="threads of each Dask worker (LightGBM on a worker uses as many): `stack up` refuses "
        "workers × threads above os.cpu_count(), so by default at most one worker a core "
        '(docs/operations.md, "Two runs on the same cores"), unless DRIFTLOOP_STACK_DASK_OVERSUBSCRIBE',
    )
    dask_oversubscribe: bool = Field(
        default=False,
        description="let Dask workers × threads exceed os.cpu_count() (their threads then wait for each "
        "other's cores)",
    )
    dask_memory_limit: str = Field(
        default="auto",
        description="each Dask worker's memory limit, as Dask reads it (`4GiB`, `0.25` of the machine's, `0` "
        "none); auto: the machine's memory × threads per worker / cores, so the workers together fit. A "
        "worker spills to its folder (`<state folder>/dask/<worker>`) from 60 % and is restarted at 95 %",
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
    def dask_address(self) -> str:
        return f"tls://{LOOPBACK}:{self.dask_scheduler_port}"

    @property
    def dask_dir(self) -> Path:
        """The Dask workers' folders, one a worker (spilled data, scratch files)."""
        return self.state / "dask"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/{self.store_prefix}"
