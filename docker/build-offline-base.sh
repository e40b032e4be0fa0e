#!/usr/bin/env bash
# Build the base image `praas-base:local` from scratch, without any container registry:
# mmdebstrap makes a minimal Debian bookworm root file system (merged /usr, python3, python3-venv,
# python3-pip, python3-zmq, ca-certificates) and `docker import` turns it into an image.
#
#   docker/build-offline-base.sh [--force] [--tag IMAGE] [--suite SUITE]
#
# The Debian mirror is read at run time from this machine's apt sources; it is never stored here.
# Skips the build when the image exists already, unless --force. Needs root, mmdebstrap, docker.
set -euo pipefail

TAG=praas-base:local
SUITE=bookworm
FORCE=0
INCLUDE=python3,python3-venv,python3-pip,python3-zmq,ca-certificates

log() { printf '[offline-base] %s\n' "$*"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) TAG=$2; shift ;;
    --suite) SUITE=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG exists already (use --force to rebuild)"
  exit 0
fi

for tool in mmdebstrap docker; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "$tool is missing: run scripts/install-system.sh" >&2
    exit 1
  fi
done
HOOK_DIR=/usr/share/mmdebstrap/hooks/merged-usr
if [[ ! -d $HOOK_DIR ]]; then
  log "mmdebstrap hook directory $HOOK_DIR is missing" >&2
  exit 1
fi

# The first Debian archive URI of the machine's apt sources (deb822 `URIs:` or one-line format),
# skipping security archives.
mirror_from_sources() {
  local f uri
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" \
      | grep -v -- '-security' | head -n 1 || true)
    if [[ -n $uri ]]; then echo "$uri"; return 0; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" \
      | grep -v -- '-security' | head -n 1 || true)
    if [[ -n $uri ]]; then echo "$uri"; return 0; fi
  done
  return 1
}

MIRROR=${PRAAS_DEBIAN_MIRROR:-$(mirror_from_sources || true)}
if [[ -z $MIRROR ]]; then
  log "no Debian mirror found in the apt sources; set PRAAS_DEBIAN_MIRROR" >&2
  exit 1
fi

log "building $TAG ($SUITE: $INCLUDE)"
start=$SECONDS
build_log=$(mktemp -t praas-offline-base.XXXXXX.log)
trap 'rm -f "$build_log"' EXIT
if ! mmdebstrap --quiet --variant=minbase --hook-dir="$HOOK_DIR" --include="$INCLUDE" \
  "$SUITE" - "$MIRROR" 2>"$build_log" \
  | docker import -c 'CMD ["python3"]' -c 'ENV LANG=C.UTF-8' - "$TAG" >/dev/null; then
  log "build failed; last lines of mmdebstrap's output:" >&2
  tail -n 30 "$build_log" >&2
  exit 1
fi
size=$(docker image inspect -f '{{.Size}}' "$TAG")
log "built $TAG in $((SECONDS - start)) s ($((size / 1000000)) MB)"
