#!/usr/bin/env bash
# Re-pin constraints.txt to what the project's test environment (.venv, `scripts/venv.sh test`) resolved:
# scripts/venv.sh, CI and `praas images build` install from it, so every machine gets the same versions.
# Run after changing a dependency in pyproject.toml, then commit constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# The resolved versions every environment installs (pip -c): scripts/venv.sh, CI, praas images build."
  echo "# Made by scripts/lock.sh from the test environment; do not edit by hand."
  .venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check | grep -v -i '^praas-kit' | LC_ALL=C sort -f
} > constraints.txt
echo "[lock] constraints.txt: $(grep -c '==' constraints.txt) pinned distributions"
