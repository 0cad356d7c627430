#!/usr/bin/env bash
# Configures and builds Cistern with Ninja and ccache into ${BUILD_DIR:-build}.
# Usage: scripts/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
# ccache hits across build directories and checkouts (CI builds in a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_COMPRESS=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >/dev/null
fi
JOBS=${JOBS:-$(nproc)}
ninja -C "$BUILD_DIR" -j "$JOBS"
