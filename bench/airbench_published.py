"""The published airbench code (PyPI `airbench`, KellerJordan/cifar10-airbench) trained on our
CIFAR-10 archive, on the CPU in f32: whether its published accuracy (airbench93: 93.0 % with TTA)
holds on this data. Its code is not modified; only what ties it to CUDA is redirected:
`torch.load` to the CPU, `.half()` / `.cuda()` to f32 on the CPU, CUDA timing events to the wall
clock. The data is written in the layout its loader reads (`cifar10/{train,test}.pt`).

    bash bench/airbench_published.sh [--net 93|94] [--seed N]
"""
import argparse
import os
import tarfile
import time

import numpy as np
import torch
from torch import nn

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_dataset(archive, folder):
    """Our binary archive → airbench's `train.pt` / `test.pt` (uint8 NHWC, as torchvision gives)."""
    train, test = [], None
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = os.path.basename(member.name)
            if not name.endswith(".bin"):
                continue
            raw = np.frombuffer(tar.extractfile(member).read(), dtype=np.uint8).reshape(-1, 3073)
            images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy())
            labels = torch.from_numpy(raw[:, 0].astype(np.int64))
            if name == "test_batch.bin":
                test = (images, labels)
            elif name.startswith("data_batch"):
                train.append((images, labels))
    os.makedirs(folder, exist_ok=True)
    torch.save({"images": torch.cat([i for i, _ in train]), "labels": torch.cat([l for _, l in train]),
                "classes": CLASSES}, os.path.join(folder, "train.pt"))
    torch.save({"images": test[0], "labels": test[1], "classes": CLASSES}, os.path.join(folder, "test.pt"))


class WallClockEvent:
    """Stands in for `torch.cuda.Event(enable_timing=True)`: milliseconds of wall clock."""

    def __init__(self, **_):
        self.at = None

    def record(self):
        self.at = time.time()

    def elapsed_time(self, end):
        return 1000 * (end.at - self.at)


def run_on_cpu():
    """Redirects what ties airbench to CUDA and f16 to the CPU in f32."""
    load = torch.load
    torch.load = lambda *args, **kwargs: load(*args, **{**kwargs, "map_location": "cpu"})
    torch.Tensor.half = lambda self, *args, **kwargs: self.float()
    nn.Module.half = lambda self: self.float()
    nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.cuda.Event = WallClockEvent
    torch.cuda.synchronize = lambda *args, **kwargs: None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="cifar-10-binary.tar.gz")
    parser.add_argument("--work", required=True, help="folder for airbench's cifar10/*.pt")
    parser.add_argument("--net", choices=["93", "94"], default="93")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run_on_cpu()
    data = os.path.abspath(args.data)
    os.chdir(args.work)
    if not os.path.exists("cifar10/test.pt"):
        write_dataset(data, "cifar10")
    import airbench  # noqa: E402 (after the redirections)
    train = airbench.train93 if args.net == "93" else airbench.train94
    started = time.time()
    train(run=0)
    print(f"wall clock {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
