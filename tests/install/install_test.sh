#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds examples/ out of tree against it, with
# find_package(Cistern) and with pkg-config, then checks the installed files.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/cistern-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/cistern/file_system.h include/cistern/cistern_c.h lib/libcistern_client.a lib/libcistern_c.so \
         lib/cmake/Cistern/CisternConfig.cmake lib/cmake/Cistern/CisternConfigVersion.cmake lib/pkgconfig/cistern.pc; do
  [ -f "$prefix/$f" ] || { echo "not installed: $f"; cat "$work/install.log"; exit 1; }
done
# Linking the examples below proves the bundle carries every Cistern module.
# The C library exports the C API and nothing of C++ Cistern.
nm -D --defined-only "$prefix/lib/libcistern_c.so" | grep -q ' T cistern_connect$' || { echo "cistern_connect not exported"; exit 1; }
if nm -DC --defined-only "$prefix/lib/libcistern_c.so" | grep -q 'cistern::'; then
  echo "libcistern_c.so exports C++ symbols"; exit 1
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$src/examples" -B "$work/example" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/example" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
[ -x "$work/example/hello_cistern" ] && [ -x "$work/example/hello_cistern_c" ]
# Without a cluster the example must fail cleanly (not crash): it reports the master unreachable.
set +e
out=$("$work/example/hello_cistern_c" 127.0.0.1:1 2>&1)
code=$?
set -e
[ "$code" = 1 ] || { echo "hello_cistern_c against no master exited $code: $out"; exit 1; }

# pkg-config: the .pc names the install prefix and its flags build the C++ example.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --variable=prefix cistern)" = "$prefix" ] || { echo "cistern.pc has the wrong prefix"; exit 1; }
# shellcheck disable=SC2046
c++ -std=c++20 -o "$work/hello_pc" "$src/examples/hello_cistern.cc" $(pkg-config --cflags --libs cistern) \
  || { echo "pkg-config build failed"; exit 1; }
echo "install test passed: $prefix"
