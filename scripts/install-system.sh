#!/usr/bin/env bash
# Install the system packages praas-kit needs on Debian 12 (bookworm): the Docker engine and
# Compose, redis-server, OpenStack Swift (for the real S3 server) with memcached, mmdebstrap (for
# the offline base image), python3-venv, and TeX Live with latexmk and pdftotext (the LaTeX
# microservice on the local backend and its tests), and Chromium with its driver (the browser test).
#
# Idempotent and non-interactive; run as root. Packages already installed are skipped, and
# `apt-get update` runs at most once (only when something is missing).
set -euo pipefail

# `install-system.sh local`: only what the local backend uses (no Docker engine, no image tooling).
LOCAL_PACKAGES=(
  redis-server swift swift-proxy swift-account swift-container swift-object memcached python3-venv
  latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-publishers
  texlive-fonts-recommended cm-super poppler-utils
)
PACKAGES=("${LOCAL_PACKAGES[@]}")
if [[ "${1:-all}" != "local" ]]; then
  PACKAGES+=(docker.io docker-compose mmdebstrap chromium chromium-driver)  # chromium: the JupyterLab browser test
fi

log() { printf '[install-system] %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  log "needs a Debian system with apt-get" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if installed "$pkg"; then
    log "ok: $pkg already installed"
  else
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "nothing to install"
  exit 0
fi

apt_log=$(mktemp -t praas-install-system.XXXXXX.log)
trap 'rm -f "$apt_log"' EXIT
run_quiet() {
  # Run a command with its output in $apt_log; show the output's end only if it fails.
  if ! "$@" >"$apt_log" 2>&1; then
    log "FAILED: $*" >&2
    tail -n 30 "$apt_log" >&2
    exit 1
  fi
}

log "apt-get update"
run_quiet apt-get update -qq

start=$SECONDS
log "installing: ${missing[*]}"
run_quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"
log "installed ${#missing[@]} package(s) in $((SECONDS - start)) s"

for pkg in "${missing[@]}"; do
  if ! installed "$pkg"; then
    log "FAILED: $pkg is still not installed" >&2
    exit 1
  fi
done
log "done"
