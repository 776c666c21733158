#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy (native, and wasm32 for the
# shared crate and the web app), all Rust tests (unit, integration, end-to-end on generated data
# and, when ../shared/data/cifar-10-binary.tar.gz or $CIFAR10_ARCHIVE exists, on real data; wgpu
# on lavapipe), and the browser end-to-end test. Needs scripts/setup.sh and scripts/setup-web.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { echo; echo "== $* ($(date +%H:%M:%S))"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native)"
cargo clippy --release --workspace --all-targets -- -D warnings

step "clippy (wasm32: the shared model crate and the web app's CPU-only and WebGPU modules)"
cargo clippy --release -p cifar-model -p cifar-web --target wasm32-unknown-unknown -- -D warnings
cargo clippy --release -p cifar-web-gpu --target wasm32-unknown-unknown -- -D warnings

step "tests"
archive="${CIFAR10_ARCHIVE:-../shared/data/cifar-10-binary.tar.gz}"
if [ ! -e "$archive" ]; then
  echo "NOTE: $archive not found (set CIFAR10_ARCHIVE): the end-to-end test on real images and the" \
    "shipped-weights check are SKIPPED (under CI=true they fail); the one on generated data runs"
fi
# Tests share the release build with the trainer (one build instead of two).
cargo test --release --workspace -- --test-threads=2

step "browser end-to-end (headless Chromium: WebGPU and CPU fallback)"
bash tests/browser/run.sh
