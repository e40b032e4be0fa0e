# Debian's redis-server on 0.0.0.0:6379 without persistence (a baseline store for benchmarks); reachable only on
# the networks it is attached to (the stack and the lab publish no port of it).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
USER redis
WORKDIR /tmp
EXPOSE 6379
# With REDIS_PASSWORD_FILE (e.g. a Swarm secret) clients must AUTH with the password it holds; it goes into a
# config file only the redis user reads, never onto the command line.
ENTRYPOINT ["/bin/sh", "-c", "if [ -n \"$REDIS_PASSWORD_FILE\" ]; then umask 077; printf 'requirepass %s\\n' \"$(cat \"$REDIS_PASSWORD_FILE\")\" > /tmp/auth.conf || exit 1; exec redis-server /tmp/auth.conf \"$@\"; fi; exec redis-server \"$@\"", "redis-server"]
CMD ["--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", "/tmp"]
