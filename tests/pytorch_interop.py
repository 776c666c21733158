"""PyTorch interop, both directions, against the `trainer` binary.

1. Ours → PyTorch: train a narrow model for one epoch on generated images, export it with
   `trainer export --format pytorch`, load it into the standard PyTorch CIFAR ResNet
   (bench/pytorch_resnet.py) with load_state_dict(strict=True), and compare its logits with
   `trainer predict --json` on the same image files: within 1e-4.
2. PyTorch → ours: a PyTorch ResNet with non-trivial BatchNorm statistics, saved as a plain
   state_dict with safetensors.torch.save_file (no metadata), goes through `trainer predict`:
   the same logits within 1e-4.
3. Both directions again for the fast residual net (FastResNet): one epoch of the
   `configs/fast-cpu.json` recipe at small widths (whitening, identity init, frozen BatchNorm
   scales, Lookahead) exported and loaded into PyTorch; a PyTorch FastResNet read by `trainer`.

Run it with `bash tests/pytorch-interop.sh` (it makes a virtual environment with torch).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from pytorch_resnet import FastResNet, ResNet  # noqa: E402

TRAINER = os.environ.get("TRAINER") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target")), "release", "trainer")
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32)
NARROW = dict(widths=(16, 32, 64, 128))
TOLERANCE = 1e-4


def run(*args):
    result = subprocess.run([TRAINER, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"trainer {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def write_images(folder, count):
    """32×32 RGB images (no resizing, so preprocessing is only the normalisation)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        path = os.path.join(folder, f"image{i}.png")
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def write_binary_data(folder, per_batch=64, test=32):
    """A tiny CIFAR-10 binary folder (records: label byte + planar RGB)."""
    rng = np.random.default_rng(1)
    batches = os.path.join(folder, "cifar-10-batches-bin")
    os.makedirs(batches)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        count = test if name == "test_batch.bin" else per_batch
        labels = (np.arange(count) % 10).astype(np.uint8)[:, None]
        images = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        np.concatenate([labels, images], axis=1).tofile(os.path.join(batches, name))


def torch_logits(model, paths):
    batch = []
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        batch.append(((pixels - MEAN) / STD).transpose(2, 0, 1))
    with torch.no_grad():
        return model(torch.from_numpy(np.stack(batch))).numpy()


def trainer_logits(weights, paths):
    out = json.loads(run("predict", "--weights", weights, "--json", *paths))
    return np.array([entry["logits"] for entry in out], dtype=np.float32)


def compare(name, ours, theirs):
    difference = float(np.abs(ours - theirs).max())
    same_top1 = bool((ours.argmax(1) == theirs.argmax(1)).all())
    print(f"{name}: max |Δlogit| = {difference:.3e}, same top-1 on all {len(ours)} images: {same_top1}")
    assert difference < TOLERANCE, f"{name}: logits differ by {difference}"
    assert same_top1, f"{name}: top-1 differs"


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as temp:
        paths = write_images(temp, 8)

        # 1. Ours → PyTorch.
        write_binary_data(os.path.join(temp, "data"))
        config = os.path.join(temp, "config.json")
        with open(config, "w") as f:
            json.dump({"model": {"widths": list(NARROW["widths"])}, "epochs": 1, "batch_size": 32}, f)
        run("train", "--data", os.path.join(temp, "data"), "--out", os.path.join(temp, "run"),
            "--device", "cpu", "--config", config)
        exported = os.path.join(temp, "pytorch.safetensors")
        run("export", "--weights", os.path.join(temp, "run", "model.safetensors"), "--out", exported,
            "--format", "pytorch")
        model = ResNet(**NARROW)
        model.load_state_dict(load_file(exported), strict=True)
        model.eval()
        compare("ours narrow → PyTorch", trainer_logits(exported, paths), torch_logits(model, paths))

        # The report's ResNet-18, one epoch on the same tiny data.
        config18 = os.path.join(temp, "config18.json")
        with open(config18, "w") as f:
            json.dump({"epochs": 1, "batch_size": 32}, f)
        run("train", "--data", os.path.join(temp, "data"), "--out", os.path.join(temp, "run18"),
            "--device", "cpu", "--config", config18)
        exported18 = os.path.join(temp, "pytorch18.safetensors")
        run("export", "--weights", os.path.join(temp, "run18", "model.safetensors"), "--out", exported18,
            "--format", "pytorch")
        model = ResNet()
        model.load_state_dict(load_file(exported18), strict=True)
        model.eval()
        compare("ours ResNet-18 → PyTorch", trainer_logits(exported18, paths), torch_logits(model, paths))

        # The shipped weights (assets/), exported the same way.
        shipped = os.path.join(temp, "shipped-pytorch.safetensors")
        run("export", "--weights", os.path.join(HERE, "..", "assets", "model-f16.safetensors"), "--out", shipped,
            "--format", "pytorch")
        model = ResNet(**NARROW)
        model.load_state_dict(load_file(shipped), strict=True)
        model.eval()
        compare("shipped weights → PyTorch", trainer_logits(shipped, paths), torch_logits(model, paths))

        # 2. PyTorch → ours, the narrow model and the report's ResNet-18: BatchNorm statistics
        # from a few training-mode passes, saved as a plain state_dict.
        for name, widths in [("narrow", NARROW), ("ResNet-18", {})]:
            model = ResNet(**widths)
            model.train()
            with torch.no_grad():
                for _ in range(3):
                    model(torch.randn(16, 3, 32, 32) * 1.5 + 0.3)
            model.eval()
            saved = os.path.join(temp, f"from-pytorch-{name}.safetensors")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, saved)
            compare(f"PyTorch {name} → ours", trainer_logits(saved, paths), torch_logits(model, paths))

        # 3. The fast residual net, both ways. Ours: the fast-cpu recipe at small widths.
        with open(os.path.join(HERE, "..", "configs", "fast-cpu.json")) as f:
            fast = json.load(f)
        fast["model"]["widths"] = [8, 16, 16]
        fast.update(epochs=1, batch_size=32, eval_tta="none")
        fast["whitening"]["images"] = 64
        config_fast = os.path.join(temp, "fast.json")
        with open(config_fast, "w") as f:
            json.dump(fast, f)
        run("train", "--data", os.path.join(temp, "data"), "--out", os.path.join(temp, "run-fast"),
            "--device", "cpu", "--config", config_fast)
        exported_fast = os.path.join(temp, "pytorch-fast.safetensors")
        run("export", "--weights", os.path.join(temp, "run-fast", "model.safetensors"), "--out",
            exported_fast, "--format", "pytorch")
        model = FastResNet(widths=(8, 16, 16), batchnorm_epsilon=1e-12)
        model.load_state_dict(load_file(exported_fast), strict=True)
        model.eval()
        compare("ours fast net → PyTorch", trainer_logits(exported_fast, paths), torch_logits(model, paths))

        model = FastResNet(widths=(8, 16, 16))
        model.train()
        with torch.no_grad():
            for norm in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
                norm.weight.uniform_(-1.5, 1.5)  # negative scales too: the first BN stays unfolded
            for _ in range(3):
                model(torch.randn(16, 3, 32, 32) * 1.5 + 0.3)
        model.eval()
        saved = os.path.join(temp, "from-pytorch-fast.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, saved)
        compare("PyTorch fast net → ours", trainer_logits(saved, paths), torch_logits(model, paths))
    print("7 passed, 0 failed")


if __name__ == "__main__":
    main()
