#!/usr/bin/env bash
# README command 2: installs the packages, builds, and runs the whole default test suite
# (unit + integration). Slow suites are labelled `soak` / `scale` and run only when asked:
#   CTEST_LABELS='soak|scale' scripts/test.sh      (run them too)
# In CI (CI=true, .ci/run), or with LIBFUZZER=1, it then builds the libFuzzer targets with clang
# and runs each coverage-guided for FUZZ_SECONDS (default 20), two at a time (scripts/fuzz.sh;
# docs/testing.md, "Fuzzing"); LIBFUZZER=0 skips that. A missing clang fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Local servers for the under-store integration tests (npm); a failure here only makes those
# tests skip, naming what is missing.
./scripts/install-test-servers.sh || echo "test.sh: install-test-servers failed; S3 signature tests will skip"
./scripts/build.sh
cd "${BUILD_DIR:-build}"
exclude='soak|scale'
if [ -n "${CTEST_LABELS:-}" ]; then exclude='^$'; fi
ctest --output-on-failure --timeout 900 -j "${CTEST_JOBS:-2}" -LE "$exclude"
cd - >/dev/null
if [ "${LIBFUZZER:-${CI:-false}}" = true ] || [ "${LIBFUZZER:-}" = 1 ]; then
  start=$(date +%s)
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} JOBS=${CTEST_JOBS:-2} ./scripts/fuzz.sh
  echo "test.sh: libFuzzer build and runs took $(( $(date +%s) - start )) s"
fi
