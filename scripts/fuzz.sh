#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14, ASan and UBSan into ${FUZZ_BUILD_DIR:-build-fuzz}
# and runs each for FUZZ_SECONDS (default 10) from its seed corpus (docs/testing.md, "Fuzzing").
#   scripts/fuzz.sh                 build, then run every target
#   scripts/fuzz.sh build           build only
#   scripts/fuzz.sh run [REGEX]     run the targets whose name matches REGEX (ctest -R)
# A target that finds a crash fails its test; the input is in build-fuzz/fuzz/artifacts/.
# Reproduce with: build-fuzz/bin/<target> build-fuzz/fuzz/artifacts/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
JOBS=${JOBS:-2}
what=${1:-all}

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz.sh: clang++-14 is missing (scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 2
fi
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_COMPRESS=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

if [ "$what" = all ] || [ "$what" = build ]; then
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
      -DCISTERN_BUILD_TESTS=OFF -DCISTERN_BUILD_FUZZERS=ON \
      -DCISTERN_SANITIZE=address,undefined,fuzzer-no-link >/dev/null
  fi
  cmake "$BUILD_DIR" -DCISTERN_FUZZ_SECONDS="$SECONDS_PER_TARGET" >/dev/null
  ninja -C "$BUILD_DIR" -j "$JOBS" fuzzers
fi
if [ "$what" = all ] || [ "$what" = run ]; then
  cmake "$BUILD_DIR" -DCISTERN_FUZZ_SECONDS="$SECONDS_PER_TARGET" >/dev/null
  cd "$BUILD_DIR"
  ctest -L fuzz-libfuzzer --output-on-failure -j "$JOBS" ${2:+-R "$2"}
fi
