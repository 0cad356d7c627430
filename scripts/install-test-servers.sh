#!/usr/bin/env bash
# Installs the local servers the under-store integration tests run against (npm packages) into
# ${CISTERN_TEST_SERVERS_DIR:-$HOME/.cache/cistern/test-servers}. Idempotent and quick when they are
# already there. moto_server (S3) comes from the machine's Python (pip package moto); this script
# does not install it, and the tests that need it skip, naming it, when it is missing.
#   @20minutes/s3rver  S3 server that verifies AWS Signature V4 (catches signing bugs moto ignores)
#   azurite            Azure Storage emulator (its Blob service, azurite-blob, checks Shared Key and SAS)
#   @azure/storage-blob  the Azure SDK for JavaScript: an outside Azure client for interop tests
set -euo pipefail
DIR=${CISTERN_TEST_SERVERS_DIR:-$HOME/.cache/cistern/test-servers}
PACKAGES=("@20minutes/s3rver@5.0.0" "azurite@3.37.0" "@azure/storage-blob@12.34.0")
if ! command -v npm >/dev/null 2>&1; then
  echo "install-test-servers: npm not found; installing nodejs and npm"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
mkdir -p "$DIR"
missing=()
for p in "${PACKAGES[@]}"; do
  name=${p%@*}
  if [ ! -f "$DIR/node_modules/$name/package.json" ]; then missing+=("$p"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-servers: ${PACKAGES[*]} already in $DIR"
  exit 0
fi
echo "install-test-servers: installing ${missing[*]} into $DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"cistern-test-servers","private":true}' > package.json
npm install --no-audit --no-fund --loglevel=error "${missing[@]}"
