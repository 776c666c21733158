#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (run as root, or with sudo
# available). Idempotent: quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Mesa's lavapipe gives wgpu a Vulkan adapter on machines without a GPU (tests the wgpu path).
apt_packages=(mesa-vulkan-drivers libvulkan1 ca-certificates)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Rust: the shared model crate must also build for the browser.
rustup component add clippy rustfmt >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown >/dev/null
echo "setup: done"
