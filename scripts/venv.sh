#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install praas-kit into it.
#   scripts/venv.sh            runtime (with the Docker SDK)
#   scripts/venv.sh notebooks  with JupyterLab, papermill, matplotlib and the baselines' clients (the notebooks)
#   scripts/venv.sh test       with the test, docker and baseline extras (JupyterLab too)
# Installs the versions pinned in constraints.txt (scripts/lock.sh re-pins them).
# Prints progress lines only (pip's own output goes to .venv/pip.log, shown if pip fails); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
log() { printf '[venv] %s\n' "$*"; }
if [[ ! -x .venv/bin/python ]]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      log "installing python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv
      python3 -m venv .venv
    else
      log "python3 -m venv failed: install python3-venv" >&2
      exit 1
    fi
  fi
fi
pip_quiet() {
  if ! .venv/bin/python -m pip --disable-pip-version-check "$@" >.venv/pip.log 2>&1; then
    log "pip $* failed:" >&2
    tail -n 30 .venv/pip.log >&2
    exit 1
  fi
}
log "installing praas-kit${extras:+[$extras]} into .venv"
pip_quiet install -q --upgrade pip
pip_quiet install -q -c constraints.txt -e ".${extras:+[$extras]}"  # the locked versions (scripts/lock.sh)
log "done: run commands as .venv/bin/praas ..., or activate the environment first: source .venv/bin/activate"
