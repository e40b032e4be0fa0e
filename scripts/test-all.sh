#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh Debian 12 machine as root:
#   1. install system packages (Docker engine, Compose, Redis, Swift S3, TeX, mmdebstrap),
#   2. create .venv with the test extras,
#   3. start the Docker engine and build the images from scratch (offline base if no registry),
#   4. ruff and mypy, then pytest on every backend with PRAAS_REQUIRE_ALL=1 (a skipped test fails the run),
#      then every notebook under nbval (docker backend, quick mode; cells marked NBVAL_CHECK_OUTPUT compared),
#   5. stop what it started (containers, networks, Swarm services and a Swarm the tests initialised, the engine)
#      also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n[test-all] %s\n' "$*"; }
started_dockerd=0
cleanup() {
  local rc=$?
  log "cleaning up"
  if docker info >/dev/null 2>&1; then
    # Swarm: services, secrets and configs the tests left, then the Swarm itself if praas-kit initialised it
    # (node label praas-kit.swarm-created; a Swarm that existed before is kept) and the docker_gwbridge it leaves
    if [[ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" == active ]]; then
      docker service ls -q --filter label=praas-kit=1 | xargs -r docker service rm >/dev/null 2>&1 || true
      docker stack ls --format '{{.Name}}' 2>/dev/null | grep '^praas-test-' | xargs -r -n1 docker stack rm >/dev/null 2>&1 || true
      sleep 2
      docker secret ls -q --filter label=praas-kit=1 | xargs -r docker secret rm >/dev/null 2>&1 || true
      docker config ls -q --filter label=praas-kit=1 | xargs -r docker config rm >/dev/null 2>&1 || true
      if docker node inspect self --format '{{index .Spec.Labels "praas-kit.swarm-created"}}' 2>/dev/null | grep -q 1; then
        docker swarm leave --force >/dev/null 2>&1 || true
        sleep 1
        docker network rm docker_gwbridge >/dev/null 2>&1 || true
      fi
    fi
    docker ps -aq --filter label=praas-kit=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker ps -aq --filter label=com.docker.compose.project=praas-test | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter label=praas-kit=1 | xargs -r docker network rm >/dev/null 2>&1 || true
  fi
  if [[ $started_dockerd -eq 1 ]]; then bash scripts/dockerd.sh stop || true; fi
  exit $rc
}
trap cleanup EXIT

log "system packages"
bash scripts/install-system.sh
log "python environment"
bash scripts/venv.sh test
if ! docker info >/dev/null 2>&1; then
  started_dockerd=1
fi
log "docker engine"
bash scripts/dockerd.sh start
log "images"
.venv/bin/praas images build --no-progress
log "ruff"
.venv/bin/ruff check praas_kit tests
log "mypy"
.venv/bin/mypy
log "pytest"
export PRAAS_REQUIRE_ALL=1
.venv/bin/python -m pytest tests -q -rs -p no:cacheprovider "$@"
log "notebooks: nbval on the docker backend, quick mode"
PRAAS_BACKEND=docker PRAAS_QUICK=1 .venv/bin/python -m pytest notebooks --nbval-lax \
  --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=900 -q -p no:cacheprovider
