#!/usr/bin/env bash
# The published airbench code (PyPI airbench==0.1.8) trained on our CIFAR-10 archive on the CPU
# in f32 (bench/airbench_published.py says what is redirected and why). Needs a Python with
# torch ($PYTHON, e.g. the venv tests/pytorch-interop.sh makes); airbench and the torchvision
# its loader imports go into a folder of their own under $WORK (default /tmp/airbench-published).
#   bash bench/airbench_published.sh [--net 93|94] [--seed N]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WORK="${WORK:-/tmp/airbench-published}"
mkdir -p "$WORK/packages"
[ -d "$WORK/packages/airbench" ] || "$PYTHON" -m pip install --quiet --no-deps --target "$WORK/packages" airbench==0.1.8 torchvision==0.29.2
PYTHONPATH="$WORK/packages" "$PYTHON" bench/airbench_published.py \
  --data ../shared/data/cifar-10-binary.tar.gz --work "$WORK" "$@"
