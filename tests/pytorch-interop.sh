#!/usr/bin/env bash
# PyTorch interop test (both directions; see tests/pytorch_interop.py). Separate from
# tests/run-all.sh because it needs PyTorch: the PyPI wheel with its CUDA dependencies is
# about 5 GB, too much to install on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${PYTORCH_VENV:-$CARGO_TARGET_DIR/../pytorch-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, safetensors, PIL" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch safetensors numpy pillow
fi
# The trainer as the test step builds it (same features): `-p cifar-trainer` alone resolves
# Burn's features differently and would compile the native stack a second time.
cargo test --release --workspace --no-run --quiet
"$venv/bin/python" tests/pytorch_interop.py
