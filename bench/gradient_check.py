"""Compares one training step of the fast net on Burn's CPU backend with PyTorch's.

Reads what `trainer/examples/gradient_dump` wrote (initial weights, batch, weights after one SGD
step with learning rate 1), repeats the step in PyTorch with `pytorch_resnet.FastResNet`, and
prints, per tensor, the largest difference of the gradients (and of BatchNorm's running
statistics) relative to the largest PyTorch value.

    $CARGO_TARGET_DIR/release/examples/gradient_dump /tmp/gd && python bench/gradient_check.py /tmp/gd
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_resnet import FastResNet  # noqa: E402


def main():
    folder = sys.argv[1]
    w0 = load_file(os.path.join(folder, "w0.safetensors"))
    w1 = load_file(os.path.join(folder, "w1.safetensors"))
    images = torch.from_numpy(np.fromfile(os.path.join(folder, "images.f32"), dtype="<f4")).reshape(-1, 3, 32, 32)
    labels = torch.from_numpy(np.fromfile(os.path.join(folder, "labels.i64"), dtype="<i8"))
    widths = [w0[f"layers.{i}.conv1.weight"].shape[0] for i in range(3)]
    model = FastResNet(widths=widths).double()
    model.load_state_dict({k: v.double() for k, v in w0.items()}, strict=True)
    model.train()
    loss = F.cross_entropy(model(images.double()), labels, label_smoothing=0.2)
    loss.backward()
    print(f"loss {loss.item():.6f}")
    state = model.state_dict()
    params = dict(model.named_parameters())
    worst = 0.0
    for name in sorted(w0):
        if name in params:
            ours = (w0[name] - w1[name]).double()
            theirs = params[name].grad
            what = "grad"
        elif name.endswith("num_batches_tracked"):
            continue
        else:
            ours = w1[name].double()
            theirs = state[name]
            what = "stat"
        scale = theirs.abs().max().item()
        error = (ours - theirs).abs().max().item() / max(scale, 1e-30)
        worst = max(worst, error)
        print(f"{what} {name:28s} max|ref| {scale:.3e}  rel.err {error:.2e}")
    print(f"worst relative error {worst:.2e}")


if __name__ == "__main__":
    main()
