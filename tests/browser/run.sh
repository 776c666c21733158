#!/usr/bin/env bash
# Builds the page with trunk and runs the browser end-to-end test (e2e.test.mjs) against weights
# and an image made here, compared with `trainer predict` on the same files.
# Needs scripts/setup-web.sh to have run. Screenshots land in $CARGO_TARGET_DIR/browser-artifacts.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PATH="$PWD/tests/browser/node_modules/.bin:$PATH"
trainer="$CARGO_TARGET_DIR/release/trainer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

trunk build --release
cargo build --release -p cifar-trainer

# Tiny CIFAR-10 binary data and one epoch of the narrow model: real trainer weights, quickly.
python3 - "$work/data" <<'PY'
import os, random, sys
folder = os.path.join(sys.argv[1], "cifar-10-batches-bin")
os.makedirs(folder)
rng = random.Random(0)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(folder, name), "wb") as f:
        for record in range(32):
            f.write(bytes([record % 10]) + bytes(rng.randrange(256) for _ in range(3072)))
PY
echo '{"model": {"widths": [16, 32, 64, 128]}, "epochs": 1, "batch_size": 32}' > "$work/config.json"
"$trainer" train --data "$work/data" --out "$work/run" --device cpu --config "$work/config.json" >/dev/null
python3 - "$work/image.png" <<'PY'
import struct, sys, zlib
# A 48×40 RGB gradient as PNG (not 32×32, so the page's resize and crop are exercised too).
width, height = 48, 40
rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 6 % 256, (x * y) % 256)) for y in range(height))
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$trainer" predict --weights "$work/run/model-f16.safetensors" --json "$work/image.png" > "$work/expected.json"

DIST="$PWD/dist" WEIGHTS="$work/run/model-f16.safetensors" IMAGE="$work/image.png" \
  EXPECTED="$work/expected.json" ARTIFACTS="$CARGO_TARGET_DIR/browser-artifacts" \
  node --test --test-reporter=spec tests/browser/e2e.test.mjs
