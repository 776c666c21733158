"""Writes a tiny CIFAR-10 in the official binary layout (32 random images per batch file), enough
for `trainer train` to make real weights quickly. Standard library only: used by
tests/browser/run.sh and bench/browser.sh. Usage: python3 make_tiny_cifar.py OUT_FOLDER
"""
import os
import random
import sys

folder = os.path.join(sys.argv[1], "cifar-10-batches-bin")
os.makedirs(folder)
rng = random.Random(0)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(folder, name), "wb") as f:
        for record in range(32):
            f.write(bytes([record % 10]) + bytes(rng.randrange(256) for _ in range(3072)))
