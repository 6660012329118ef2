#!/usr/bin/env bash
# `make up` / `make down`: docker compose, or one clear line when there is no Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null 2>&1; then
  echo "compose: no docker client on PATH; install Docker, or run the native stack: make local-up" >&2
  exit 1
fi
if ! docker compose version >/dev/null 2>&1; then
  echo "compose: the docker compose plugin is missing; install it, or run the native stack: make local-up" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "compose: no Docker engine is reachable (docker info failed); start one, or run the native stack: make local-up" >&2
  exit 1
fi
if [ "$1" = "up" ] && [ ! -f .env ]; then
  echo "compose: no .env: cp .env.example .env and set GRAFANA_ADMIN_PASSWORD" >&2
  exit 1
fi
echo "compose: docker compose $*"
exec docker compose "$@"
