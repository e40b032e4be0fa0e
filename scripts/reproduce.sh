#!/usr/bin/env bash
# The kit's main job, on the embedded default (local backend, no Docker): run the whole notebook series in
# quick mode into results/notebooks/, draw every figure into results/figures/ (PNG and PDF) and write the
# paper-vs-machine table to results/paper_vs_machine.md.
#
# As root on Debian it first installs what the local backend uses (TeX, Redis, the Swift S3 server) with
# apt; otherwise it checks for them and says what it cannot run without them.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[reproduce] %s\n' "$*"; }
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  log "installing system packages for the local backend (TeX, Redis, Swift S3)"
  bash scripts/install-system.sh local
else
  missing=()
  for exe in latexmk pdftoppm redis-server swift-proxy-server memcached; do
    command -v "$exe" >/dev/null 2>&1 || [[ -x /usr/bin/$exe ]] || missing+=("$exe")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "not root on Debian, and missing: ${missing[*]}"
    log "the notebooks that need them (02 state, 03 channels, 04 swap: Redis/S3 baselines; 06 LaTeX) will fail;"
    log "install them (scripts/install-system.sh local, as root) or run the series on a machine that has them"
  fi
fi
bash scripts/venv.sh notebooks
log "running the notebook series (quick mode, local backend)"
exec .venv/bin/praas notebooks --backend local "$@"
