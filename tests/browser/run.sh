#!/usr/bin/env bash
# Builds the page with trunk and runs the browser end-to-end test (e2e.test.mjs) against weights
# and an image made here, compared with `trainer predict` on the same files.
# Needs scripts/setup-web.sh to have run. Screenshots land in $CARGO_TARGET_DIR/browser-artifacts.
# TEST_PATTERN=regex runs only the tests whose names match.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PATH="$PWD/tests/browser/node_modules/.bin:$PATH"
trainer="$CARGO_TARGET_DIR/release/trainer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

trunk build --release
# The trainer as the test step builds it (same features): `-p cifar-trainer` alone resolves
# Burn's features differently and would compile the native stack a second time.
cargo test --release --workspace --no-run --quiet

# Tiny CIFAR-10 binary data and one epoch of the narrow model: real trainer weights, quickly.
python3 tests/browser/make_tiny_cifar.py "$work/data"
echo '{"model": {"widths": [16, 32, 64, 128]}, "epochs": 1, "batch_size": 32}' > "$work/config.json"
"$trainer" train --data "$work/data" --out "$work/run" --device cpu --config "$work/config.json" >/dev/null
python3 tests/browser/make_png.py "$work/image.png"
"$trainer" predict --weights "$work/run/model-f16.safetensors" --json "$work/image.png" > "$work/expected.json"
# The same weights as a PyTorch user's file: PyTorch names and layouts, no metadata.
"$trainer" export --weights "$work/run/model-f16.safetensors" --format pytorch --out "$work/pytorch.safetensors" >/dev/null
python3 tests/browser/strip_metadata.py "$work/pytorch.safetensors" "$work/pytorch-state-dict.safetensors"
# The fast residual net with its recipe (small widths, one epoch): its file says its accuracy was
# measured with multi TTA, which `trainer predict` (and the page) then use by default.
python3 - "$work/fast.json" <<'PY'
import json, sys
recipe = json.load(open("configs/fast-cpu.json"))
recipe["model"]["widths"] = [8, 16, 16]
recipe.update(epochs=1, batch_size=32)
recipe["whitening"]["images"] = 64
json.dump(recipe, open(sys.argv[1], "w"))
PY
"$trainer" train --data "$work/data" --out "$work/fast" --device cpu --config "$work/fast.json" >/dev/null
"$trainer" predict --weights "$work/fast/model-f16.safetensors" --json "$work/image.png" > "$work/expected-fast.json"
"$trainer" predict --weights "$work/fast/model-f16.safetensors" --tta none --json "$work/image.png" > "$work/expected-fast-none.json"
# Models of 5 and 12 classes (a PyTorch user's, no metadata), with the trainer's answers.
for classes in 5 12; do
  python3 tests/browser/reclass.py "$work/pytorch-state-dict.safetensors" "$work/classes-$classes.safetensors" "$classes"
  "$trainer" predict --weights "$work/classes-$classes.safetensors" --json "$work/image.png" > "$work/expected-$classes.json"
done

DIST="$PWD/dist" WEIGHTS="$work/run/model-f16.safetensors" IMAGE="$work/image.png" \
  PYTORCH_WEIGHTS="$work/pytorch-state-dict.safetensors" \
  EXPECTED="$work/expected.json" ARTIFACTS="$CARGO_TARGET_DIR/browser-artifacts" VARIANTS="$work" \
  node --test --test-reporter=spec ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} tests/browser/e2e.test.mjs
