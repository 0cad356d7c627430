#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14, ASan and UBSan into ${FUZZ_BUILD_DIR:-build-fuzz}
# and runs each for FUZZ_SECONDS (default 10) from its seed corpus, JOBS (default 2) at a time
# (docs/testing.md, "Fuzzing"). Only the libraries the targets link are built (`ninja fuzzers`,
# not the tests, tools or daemons), through ccache. `.ci/run` runs it after the default suite
# (scripts/test.sh).
#   scripts/fuzz.sh                 build, then run every target
#   scripts/fuzz.sh build           build only
#   scripts/fuzz.sh run [REGEX]     run the targets whose name matches REGEX (ctest -R)
# A target that finds a crash fails its test; the input is in build-fuzz/fuzz/artifacts/.
# Reproduce with: build-fuzz/fuzz/<target> build-fuzz/fuzz/artifacts/<file>
# The corpus each target grows is kept in build-fuzz/fuzz/work/<target>, so a later run in the
# same build directory starts from it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
JOBS=${JOBS:-2}
what=${1:-all}

# No clang or no fuzzer runtime is an error, never a skip: CI must not pass without fuzzing.
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz.sh: clang++-14 is missing (scripts/install-deps.sh installs clang-14, libclang-rt-14-dev and llvm-14)" >&2
  exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe/p.cc"
if ! clang++-14 -fsanitize=address,undefined,fuzzer "$probe/p.cc" -o "$probe/p" 2>"$probe/err"; then
  echo "fuzz.sh: clang++-14 cannot link a libFuzzer binary (is libclang-rt-14-dev installed? scripts/install-deps.sh installs it):" >&2
  cat "$probe/err" >&2
  exit 2
fi
# ASan reports name source lines only with a symbolizer.
if command -v llvm-symbolizer-14 >/dev/null; then export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer-14); fi
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_COMPRESS=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

configure=(-DCISTERN_FUZZ_SECONDS="$SECONDS_PER_TARGET")
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  configure+=(-S . -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14
    -DCISTERN_BUILD_TESTS=OFF -DCISTERN_BUILD_FUZZERS=ON
    -DCISTERN_SANITIZE=address,undefined,fuzzer-no-link)
fi
cmake -B "$BUILD_DIR" "${configure[@]}" >/dev/null

if [ "$what" = all ] || [ "$what" = build ]; then
  ninja -C "$BUILD_DIR" -j "$JOBS" fuzzers
fi
if [ "$what" = all ] || [ "$what" = run ]; then
  cd "$BUILD_DIR"
  ctest -L fuzz-libfuzzer --output-on-failure -j "$JOBS" ${2:+-R "$2"}
fi
