#!/usr/bin/env bash
# Installs the browser app's tools (idempotent): the wasm32 target, trunk 0.21.14 (0.22 needs a
# newer rustc), wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version, wasm-opt from npm
# binaryen 132 and playwright-core (tests/browser), and Debian's chromium for the browser tests.
# Afterwards put tests/browser/node_modules/.bin on PATH so that trunk finds wasm-opt 132.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v chromium >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
rustup target add wasm32-unknown-unknown >/dev/null 2>&1

if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
  cargo install trunk --version 0.21.14 --locked
fi
bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
  cargo install wasm-bindgen-cli --version "$bindgen"
fi
(cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
echo "setup-web: done (trunk 0.21.14, wasm-bindgen $bindgen, $(tests/browser/node_modules/.bin/wasm-opt --version))"
