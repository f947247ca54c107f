#!/usr/bin/env bash
# Command 2 of the README: set everything up, lint, check the import layers, and run the whole test suite.
# Prints how long it all took (set-up included) as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
trap 'echo "scripts/test.sh: $(( $(date +%s) - started )) s in total"' EXIT
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
.venv/bin/pytest "$@"
