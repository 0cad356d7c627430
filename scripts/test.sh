#!/usr/bin/env bash
# README command 2: installs the packages, builds, and runs the whole default test suite
# (unit + integration). Slow suites are labelled `soak` / `scale` and run only when asked:
#   CTEST_LABELS='soak|scale' scripts/test.sh      (run them too)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
cd "${BUILD_DIR:-build}"
exclude='soak|scale'
if [ -n "${CTEST_LABELS:-}" ]; then exclude='^$'; fi
ctest --output-on-failure --timeout 900 -j "${CTEST_JOBS:-2}" -LE "$exclude"
