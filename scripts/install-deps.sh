#!/usr/bin/env bash
# Installs every Debian 12 package Cistern needs to build, run and test. Idempotent: packages
# already present are skipped by apt, and apt-get update runs only when something is missing.
#   CISTERN_DEPS=build scripts/install-deps.sh    only what building needs (docker/Dockerfile)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache mold git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libpugixml-dev libxxhash-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  procps psmisc iproute2
)
# Servers and tools the test suite runs: a real Prometheus that scrapes the daemons, Chromium for
# the web UI test, iptables for network fault tests in namespaces, openssl to make the TLS test's
# certificates, clang with its sanitizer and libFuzzer runtimes (and llvm-symbolizer) for the
# coverage-guided fuzzing CI runs (scripts/fuzz.sh).
TEST_PACKAGES=(prometheus chromium iptables openssl clang-14 libclang-rt-14-dev llvm-14)
if [ "${CISTERN_DEPS:-all}" != "build" ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
