#!/usr/bin/env bash
# README command 1: installs the packages, builds, and starts a local cluster (1 master +
# 1 worker, the namespace root on a local directory, a MEM tier in /dev/shm).
# Stop it with: build/bin/cistern local stop
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec ./build/bin/cistern local start "$@"
