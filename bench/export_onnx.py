"""Exports our model to ONNX for the ONNX Runtime Web comparison (bench/browser.sh).

Loads a `trainer export --format pytorch` safetensors file into the standard PyTorch CIFAR
ResNet (bench/pytorch_resnet.py, strict), checks the ONNX graph with onnx.checker and
writes it with a dynamic batch axis. Needs torch, safetensors and onnx (pip).
"""
import argparse
import pathlib
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from pytorch_resnet import ResNet  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", required=True, help="PyTorch-layout safetensors from trainer export")
    parser.add_argument("--out", required=True, help="ONNX file to write")
    args = parser.parse_args()

    state = load_file(args.weights)
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
