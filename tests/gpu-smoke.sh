#!/usr/bin/env bash
# GPU smoke test: on a machine with a GPU, build the trainer (unless $TRAINER names a built one),
# check that wgpu finds the GPU, benchmark it, train the report's ResNet-18 with the GPU preset
# (configs/resnet18-gpu.json, its one-cycle schedule squeezed into EPOCHS) on wgpu and evaluate
# the result with flip TTA. Prints img/s and accuracy; exits non-zero if any step fails or if the
# trainer would not pick the GPU by itself.
#
# A headless NVIDIA server needs the NVIDIA driver with its Vulkan ICD (the driver's
# `nvidia_icd.json` under /usr/share/vulkan/icd.d or /etc/vulkan/icd.d, shipped with the driver's
# GL/Vulkan libraries) and the Vulkan loader (Debian `libvulkan1`, which scripts/setup.sh
# installs); `vulkaninfo --summary` (Debian `vulkan-tools`) should list the GPU.
#
#   tests/gpu-smoke.sh DATA [OUT]
#
# DATA: the CIFAR-10 .tar.gz, its binary folder, or an image-folder tree.
# Environment: EPOCHS (default 3), TRAIN_LIMIT / TEST_LIMIT (default: all), TRAINER.
set -euo pipefail
data=${1:?usage: tests/gpu-smoke.sh DATA [OUT]}
out=${2:-runs/gpu-smoke}
epochs=${EPOCHS:-3}
cd "$(dirname "$0")/.."

trainer=${TRAINER:-}
if [ -z "$trainer" ]; then
  cargo build --release -p cifar-trainer
  trainer="${CARGO_TARGET_DIR:-target}/release/trainer"
fi
limits=()
[ -n "${TRAIN_LIMIT:-}" ] && limits+=(--train-limit "$TRAIN_LIMIT")
[ -n "${TEST_LIMIT:-}" ] && limits+=(--test-limit "$TEST_LIMIT")

echo "== benchmark (wgpu)"
"$trainer" bench --device wgpu --warmup 5 --iterations 20 --train-batch 64 --infer-batch 256

echo "== train $epochs epochs (device auto: must choose the GPU)"
rm -rf "$out"
"$trainer" train --data "$data" --out "$out" --device auto --config configs/resnet18-gpu.json \
  --epochs "$epochs" "${limits[@]}" | tee "$out.train.log"
grep -q "^device: wgpu" "$out.train.log" || { echo "FAIL: auto did not choose a wgpu GPU" >&2; exit 1; }

echo "== evaluate"
test_limit=()
[ -n "${TEST_LIMIT:-}" ] && test_limit+=(--test-limit "$TEST_LIMIT")
"$trainer" eval --weights "$out/model.safetensors" --data "$data" --out "$out/eval" --device auto \
  --tta flip "${test_limit[@]}" | grep -E "device|accuracy"
echo "== metrics.jsonl"
cat "$out/metrics.jsonl"
