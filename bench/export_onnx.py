"""Exports our model to ONNX for the ONNX Runtime Web comparison (bench/browser.sh).

Loads a `trainer export --format pytorch` safetensors file into the PyTorch definition of its
architecture (bench/pytorch_resnet.py, strict): the standard CIFAR ResNet, or the fast residual
net when the file has its whitening convolution (its BatchNorm ε from the file's `model_config`).
Checks the ONNX graph with onnx.checker and writes it with a dynamic batch axis. One forward
pass, no test-time augmentation. Needs torch, safetensors and onnx (pip).
"""
import argparse
import json
import pathlib
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from pytorch_resnet import FastResNet, ResNet  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", required=True, help="PyTorch-layout safetensors from trainer export")
    parser.add_argument("--out", required=True, help="ONNX file to write")
    args = parser.parse_args()

    state = load_file(args.weights)
    with safe_open(args.weights, "pt") as f:
        config = json.loads((f.metadata() or {}).get("model_config", "{}"))
    if "whiten.weight" in state:
        widths = [state[f"layers.{i}.conv1.weight"].shape[0] for i in range(3)]
        model = FastResNet(widths=widths, batchnorm_epsilon=config.get("batchnorm_epsilon", 1e-5))
    else:
        widths = [state[f"layer{i}.0.conv1.weight"].shape[0] for i in range(1, 5)]
        model = ResNet(widths=widths)
    model.load_state_dict(state, strict=True)
    model.eval()
    example = torch.randn(2, 3, 32, 32)
    torch.onnx.export(
        model, (example,), args.out, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
    )
    import onnx
    onnx.checker.check_model(onnx.load(args.out))
    print(f"wrote {args.out} (widths {widths})")


if __name__ == "__main__":
    main()
