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
# Supply chain: the locked versions against PyPI's vulnerability feed (https://pypi.org/pypi/NAME/VERSION/json).
# --strict: a package the feed does not answer for fails the audit instead of passing unaudited. Where the
# feed does not answer at all (a mirror that serves only the packages), the audit says so and is skipped.
# Accepted findings, each with its reason: security/accepted-vulnerabilities.txt.
accepted_file=security/accepted-vulnerabilities.txt
feed=https://pypi.org/pypi/pip-audit/2.10.1/json
if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" "$feed" \
    2>/dev/null; then
  mapfile -t accepted < <(awk '!/^[[:space:]]*(#|$)/ {print "--ignore-vuln=" $1}' "$accepted_file")
  if ! PIP_AUDIT_LOGLEVEL=ERROR .venv/bin/pip-audit --strict --requirement requirements.lock --no-deps \
      --disable-pip --progress-spinner off "${accepted[@]}"; then
    echo "scripts/test.sh: pip-audit failed: bump the vulnerable package's pin in requirements.lock, or" \
      "accept the finding with its reason in $accepted_file" >&2
    exit 1
  fi
else
  echo "pip-audit: NOT audited: PyPI's vulnerability feed ($feed) does not answer from this machine" >&2
fi
# The code's own security smells; the checks skipped, and why, are in pyproject.toml's [tool.bandit].
.venv/bin/bandit --configfile pyproject.toml --quiet --recursive driftloop flows tasks deployments bench
echo "bandit: no issues in driftloop, flows, tasks, deployments, bench"
.venv/bin/pytest "$@"
