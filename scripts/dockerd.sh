#!/usr/bin/env bash
# Start or stop a Docker daemon for praas-kit on machines without systemd.
#
#   scripts/dockerd.sh start   start dockerd in the background unless `docker info` already answers;
#                              waits up to 30 s for the engine
#   scripts/dockerd.sh stop    stop the daemon that this script started (and only that one)
#   scripts/dockerd.sh status  say whether the engine answers
#
# Idempotent. The daemon log goes to /var/log/praas-dockerd.log (or /tmp when /var/log is not
# writable); the pid of a daemon started here is kept in /run/praas-dockerd.pid (or /tmp).
set -euo pipefail

log() { printf '[dockerd] %s\n' "$*"; }

state_dir=/run
[[ -w $state_dir ]] || state_dir=${TMPDIR:-/tmp}
log_dir=/var/log
[[ -w $log_dir ]] || log_dir=${TMPDIR:-/tmp}
PID_FILE=${PRAAS_DOCKERD_PID_FILE:-$state_dir/praas-dockerd.pid}
LOG_FILE=${PRAAS_DOCKERD_LOG:-$log_dir/praas-dockerd.log}
WAIT_SECONDS=${PRAAS_DOCKERD_WAIT:-30}

engine_up() { docker info >/dev/null 2>&1; }

our_pid() {
  # The pid from our pid file, if that process is still a dockerd.
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "dockerd" ]] || return 1
  echo "$pid"
}

start() {
  if engine_up; then
    log "engine already running"
    return 0
  fi
  local dockerd
  dockerd=$(command -v dockerd || true)
  [[ -n $dockerd ]] || dockerd=/usr/sbin/dockerd
  if [[ ! -x $dockerd ]]; then
    log "dockerd not found: run scripts/install-system.sh first" >&2
    return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "starting dockerd needs root" >&2
    return 1
  fi
  if ! our_pid >/dev/null; then
    log "starting $dockerd (log: $LOG_FILE)"
    # setsid: the daemon must not die with the shell that started it.
    setsid "$dockerd" >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
  else
    log "dockerd $(our_pid) is starting, waiting"
  fi
  local t0 now
  t0=$(date +%s%N)
  until engine_up; do
    if ! our_pid >/dev/null; then
      log "dockerd exited; last log lines:" >&2
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      return 1
    fi
    now=$(date +%s%N)
    if (((now - t0) / 1000000000 >= WAIT_SECONDS)); then
      log "engine did not answer within ${WAIT_SECONDS} s; see $LOG_FILE" >&2
      return 1
    fi
    sleep 0.1
  done
  now=$(date +%s%N)
  log "engine up after $(((now - t0) / 1000000)) ms (pid $(cat "$PID_FILE"))"
}

stop() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PID_FILE"
    if engine_up; then
      log "engine running but not started by this script: left alone"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping dockerd $pid"
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 200)); then
      log "dockerd $pid did not stop in 20 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$PID_FILE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if engine_up; then log "engine running"; else log "engine not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
