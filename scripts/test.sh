#!/usr/bin/env bash
# Command 2 of the README: set everything up, lint, check the import layers, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
