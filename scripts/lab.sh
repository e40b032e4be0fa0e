#!/usr/bin/env bash
# Open the notebooks in JupyterLab on this machine: installs the notebooks' environment into .venv if it is not
# there (scripts/venv.sh notebooks), then runs `jupyter lab notebooks/`, with --allow-root when run as root (the
# README's Debian machine). Further arguments go to jupyter lab, e.g. --no-browser --port 8889.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/jupyter ]]; then
  bash scripts/venv.sh notebooks
fi
root=()
if [[ $(id -u) -eq 0 ]]; then
  root=(--allow-root)
fi
exec .venv/bin/jupyter lab "${root[@]}" "$@" notebooks/
