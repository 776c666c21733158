#!/usr/bin/env bash
# Browser benchmark (BENCHMARKS.md "Browser"): builds the page (trunk, release) and the trainer,
# makes full ResNet-18 weights (one epoch on tiny data: speed does not depend on the values),
# measures native `trainer bench --device cpu` at batch 1 and 64, exports both models to ONNX
# (needs a Python with torch, safetensors and onnx: $PYTHON, default the venv of
# tests/pytorch-interop.sh), then runs bench/browser/bench.mjs in headless Chromium: our page on
# CPU and WebGPU, and ONNX Runtime Web on wasm and WebGPU. Prints a table; JSON in $OUT.
#
#   bash bench/browser.sh            # everything except the slowest case (below)
#   ALL=1 bash bench/browser.sh      # also ResNet-18 at batch 64 on the software WebGPU adapter
#   SKIP_BUILD=1 DIST=/some/dist LABEL="no simd" bash bench/browser.sh   # an existing build
#   FEATURES=ndarray-cpu DIST=/tmp/dist-ndarray bash bench/browser.sh   # CPU backend on ndarray
#   NO_ONNX=1 …                      # without the ONNX Runtime Web part
#   MODELS=shipped …                 # only these models (shipped = assets/, resnet18)
#   FIRST_RUNS=5 …                   # navigations timed to the first prediction on the CPU (3)
#
# Needs scripts/setup.sh and scripts/setup-web.sh; nothing else may run on the machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PATH="$PWD/tests/browser/node_modules/.bin:$PATH"
trainer="$CARGO_TARGET_DIR/release/trainer"
dist="${DIST:-$PWD/dist}"
out="${OUT:-$CARGO_TARGET_DIR/browser-bench}"
python="${PYTHON:-/var/cache/cifar-resnet/venv/bin/python}"
threads="${THREADS:-$(nproc)}"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${SKIP_BUILD:-}" ]; then
  trunk build --release --dist "$dist" ${FEATURES:+--features "$FEATURES"}
fi
# The trainer as the test step builds it (same features): `-p cifar-trainer` alone resolves
# Burn's features differently and would compile the native stack a second time.
cargo test --release --workspace --no-run --quiet
(cd bench/browser && npm ci --no-audit --no-fund --loglevel=error)

mkdir -p "$work/files"
python3 tests/browser/make_tiny_cifar.py "$work/data"
python3 tests/browser/make_png.py "$work/image.png"
echo '{"epochs": 1, "batch_size": 32}' > "$work/config.json"
"$trainer" train --data "$work/data" --out "$work/resnet18" --device cpu --config "$work/config.json" >/dev/null
cp "$work/resnet18/model-f16.safetensors" "$work/files/resnet18-f16.safetensors"

echo "native trainer bench (cpu device)…" >&2
"$trainer" bench --device cpu --train-batch 2 --warmup 2 --infer-batch 1 --iterations 50 --json "$work/native-1.json" >&2
"$trainer" bench --device cpu --train-batch 2 --warmup 1 --infer-batch 64 --iterations 5 --json "$work/native-64.json" >&2

onnx=false
if [ -n "${NO_ONNX:-}" ]; then
  echo "NO_ONNX: the ONNX Runtime Web comparison is not run" >&2
elif "$python" -c "import torch, safetensors, onnx" 2>/dev/null; then
  "$trainer" export --weights "$work/resnet18/model.safetensors" --format pytorch --out "$work/resnet18-pt.safetensors" >/dev/null
  "$trainer" export --weights assets/model-f16.safetensors --format pytorch --out "$work/shipped-pt.safetensors" >/dev/null
  "$python" bench/export_onnx.py --weights "$work/resnet18-pt.safetensors" --out "$work/files/resnet18.onnx" >&2
  "$python" bench/export_onnx.py --weights "$work/shipped-pt.safetensors" --out "$work/files/shipped.onnx" >&2
  onnx=true
else
  echo "NOTE: $python has no torch/safetensors/onnx: the ONNX Runtime Web comparison is SKIPPED" >&2
fi

# Iterations per backend and batch (0 = not measured): the software WebGPU adapter is slow.
resnet_gpu_64=$([ -n "${ALL:-}" ] && echo 1 || echo 0)
python3 - "$work/bench.json" <<PY
import json, sys
native = {1: json.load(open("$work/native-1.json")), 64: json.load(open("$work/native-64.json"))}
config = {
    "label": "${LABEL:-$(git rev-parse --short HEAD) $(date -u +%Y-%m-%d)}",
    "dist": "$dist", "files": "$work/files", "image": "$work/image.png", "out": "$out/results.json",
    "threads": $threads, "onnx": "$onnx" == "true", "native": native,
    "models": [
        {"name": "shipped", "weights": "shipped", "onnx": "shipped.onnx",
         "iterations": {"cpu": {"1": 50, "64": 5}, "webgpu": {"1": 10, "64": 2}}},
        {"name": "resnet18", "weights": "resnet18-f16.safetensors", "onnx": "resnet18.onnx",
         "iterations": {"cpu": {"1": 10, "64": 2}, "webgpu": {"1": 3, "64": $resnet_gpu_64}}},
    ],
}
only = "${MODELS:-}".split(",") if "${MODELS:-}" else None
config["models"] = [m for m in config["models"] if only is None or m["name"] in only]
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
node bench/browser/bench.mjs "$work/bench.json"
