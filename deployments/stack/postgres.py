"""PostgreSQL from the machine's packages: a cluster under the state folder, on 127.0.0.1, password only.

There is no service manager: `initdb` makes the cluster once (SCRAM passwords for every connection, no
Unix socket), `pg_ctl` starts and stops it. PostgreSQL refuses to run as root, so under root it runs as
an unprivileged account (`DRIFTLOOP_STACK_POSTGRES_OS_USER`).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psutil

from deployments.stack.processes import StackError, as_account, record
from deployments.stack.secrets import StackSecrets, write_private
from deployments.stack.settings import LOOPBACK, StackSettings

DATABASE = "prefect"


def binary(name: str) -> str:
    """`initdb`/`pg_ctl` from PATH or Debian's versioned folder (not on PATH by default)."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[::-1]), None
    )
    if found is None:
        raise StackError(
            f"PostgreSQL's {name} is not installed: `apt-get install postgresql` (Debian/Ubuntu) and retry"
        )
    return found


def os_user(settings: StackSettings) -> str | None:
    """The account PostgreSQL runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(settings.postgres_os_user)
    except KeyError:
        raise StackError(
            f"running as root, PostgreSQL needs an unprivileged account: user "
            f"{settings.postgres_os_user!r} does not exist (Debian's postgresql package makes it; or set "
            "DRIFTLOOP_STACK_POSTGRES_OS_USER)"
        ) from None
    return settings.postgres_os_user


def data_dir(settings: StackSettings) -> Path:
    return settings.state / "postgres"


def connection_url(settings: StackSettings, secrets: StackSecrets, driver: str = "postgresql+asyncpg") -> str:
    return (
        f"{driver}://{secrets.postgres_user}:{secrets.postgres_password}@{LOOPBACK}:"
        f"{settings.postgres_port}/{DATABASE}"
    )


def _reachable_by(user: str, folder: Path) -> None:
    """Fail in one line when `user` cannot reach `folder` (a parent without search permission)."""
    account = pwd.getpwnam(user)
    for parent in [*reversed(folder.parents)]:
        mode = parent.stat()
        searchable = (
            mode.st_mode & 0o001
            or (mode.st_uid == account.pw_uid and mode.st_mode & 0o100)
            or (mode.st_gid == account.pw_gid and mode.st_mode & 0o010)
        )
        if not searchable:
            raise StackError(
                f"PostgreSQL runs as {user!r}, which cannot enter {parent}: allow it "
                f"(`chmod o+x {parent}`) or set DRIFTLOOP_STACK_DIR to a folder it can reach"
            )


def initialise(settings: StackSettings, secrets: StackSecrets, log: Path) -> bool:
    """Make the cluster once; False when it already exists."""
    data = data_dir(settings)
    if (data / "PG_VERSION").exists():
        return False
    user = os_user(settings)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    password_file = settings.state / ".pg-password"
    write_private(password_file, secrets.postgres_password.encode())
    try:
        if user:
            _reachable_by(user, data)
            account = pwd.getpwnam(user)
            for path in (data, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)
        command = [
            binary("initdb"),
            f"--pgdata={data}",
            f"--username={secrets.postgres_user}",
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
        with open(log.with_name("postgres-initdb.log"), "ab") as out:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, check=False, **as_account(user)
            )
        if done.returncode != 0:
            raise StackError(
                f"initdb failed (exit {done.returncode}): see {log.with_name('postgres-initdb.log')}"
            )
    finally:
        password_file.unlink(missing_ok=True)
    return True


def start(settings: StackSettings, log: Path, pid_file: Path) -> int:
    """`pg_ctl start` on 127.0.0.1 only, no Unix socket; returns the postmaster's pid."""
    data = data_dir(settings)
    user = os_user(settings)
    options = f"-c listen_addresses={LOOPBACK} -p {settings.postgres_port} -c unix_socket_directories=''"
    command = [binary("pg_ctl"), "start", f"--pgdata={data}", f"--log={log}", "--wait", "--timeout=60"]
    command += ["-o", options]
    log.touch(mode=0o640)
    if user:  # the server, not this process, writes its log
        account = pwd.getpwnam(user)
        os.chown(log, account.pw_uid, account.pw_gid)
    done = subprocess.run(command, capture_output=True, text=True, check=False, **as_account(user))
    if done.returncode != 0:
        raise StackError(f"PostgreSQL did not start (pg_ctl exit {done.returncode}): see {log}")
    pid = postmaster_pid(settings)
    if pid is None:
        raise StackError(f"PostgreSQL started but wrote no postmaster.pid: see {log}")
    try:
        record(pid_file, pid)
    except psutil.NoSuchProcess:
        raise StackError(f"PostgreSQL exited right after it started: see {log}") from None
    return pid


def postmaster_pid(settings: StackSettings) -> int | None:
    try:
        return int((data_dir(settings) / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stop(settings: StackSettings) -> None:
    """`pg_ctl stop -m fast`: connections closed, data flushed."""
    subprocess.run(
        [binary("pg_ctl"), "stop", f"--pgdata={data_dir(settings)}", "--mode=fast", "--wait", "--timeout=60"],
        capture_output=True,
        check=False,
        **as_account(os_user(settings)),
    )


def ensure_database(settings: StackSettings, secrets: StackSecrets) -> bool:
    """Create the Prefect database if missing; True when it answers a password login."""
    import asyncpg

    async def check() -> bool:
        connection = await asyncpg.connect(
            host=LOOPBACK,
            port=settings.postgres_port,
            user=secrets.postgres_user,
            password=secrets.postgres_password,
            database="postgres",
            timeout=3,
        )
        try:
            if not await connection.fetchval("select 1 from pg_database where datname = $1", DATABASE):
                await connection.execute(f'create database "{DATABASE}"')
        finally:
            await connection.close()
        return True

    try:
        return asyncio.run(check())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
