"""PyTorch CPU reference for `trainer bench`: the same models, shapes and steps.

    python3 bench/pytorch_reference.py --threads 2 --json bench/pytorch-reference.json
    (add `--model resnet18 --config configs/fast-cpu.json` for ResNet-18 and a preset's model)
    cargo run --release -p cifar-trainer -- bench --device cpu --reference bench/pytorch-reference.json

Training step = forward + cross-entropy + backward + SGD(momentum) update at batch 64;
inference = forward in eval mode under no_grad at batch 256. Inputs are random, as in Rust.
PyTorch runs with the allocator settings the trainer gives itself (glibc's mmap threshold at
1 GiB, no heap trimming; `--system-allocator` keeps glibc's defaults), so that the ratio
compares the kernels, not the two processes' malloc settings.
"""
import argparse
import ctypes
import json
import os
import sys
import time

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
ALLOCATOR_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def pin_allocator():
    """Gives PyTorch the allocator settings the trainer gives itself (`trainer/src/allocator.rs`):
    glibc's mmap threshold pinned at 1 GiB and the heap never trimmed, unless the environment
    sets glibc's own variables. Without them glibc maps each activation-sized buffer afresh and
    faults it in again, which slowed PyTorch's ResNet-18 inference here from about 185 to about
    120 img/s. Returns what was done, for the printout."""
    if any(name in os.environ for name in ALLOCATOR_VARIABLES):
        return "allocator: left to the environment"
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "allocator: not glibc, left alone"
    if libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) != 1 or libc.mallopt(M_TRIM_THRESHOLD, -1) != 1:
        sys.exit("glibc refused mallopt(M_MMAP_THRESHOLD, 1 GiB) or mallopt(M_TRIM_THRESHOLD, -1)")
    return "allocator: mmap threshold 1 GiB, no trimming (as the trainer)"


# Before torch allocates anything. `--system-allocator` is read here, ahead of argparse, for that.
ALLOCATOR = ("allocator: glibc's defaults (--system-allocator)" if "--system-allocator" in sys.argv
             else pin_allocator())

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_resnet import MODELS, FastResNet, ResNet  # noqa: E402

# The trainer's `bench` presets: the two ResNets and the fast net at its default widths.
NETS = {**{name: (lambda kw=kw: ResNet(**kw)) for name, kw in MODELS.items()}, "fast": FastResNet}


def net_of_config(path):
    """The model section of a trainer config (`configs/*.json`) as a PyTorch constructor."""
    with open(path) as f:
        model = json.load(f).get("model", {})
    architecture = model.get("architecture", "resnet")
    if architecture == "fast-resnet":
        keys = ("widths", "whiten_kernel", "num_classes", "logit_scale", "batchnorm_epsilon")
        return lambda: FastResNet(**{k: model[k] for k in keys if k in model})
    if architecture == "resnet":
        return lambda: ResNet(**{k: model[k] for k in ("widths", "blocks", "num_classes") if k in model})
    sys.exit(f"{path}: `model.architecture` {architecture!r} is neither resnet nor fast-resnet")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name, train_batch, infer_batch, warmup, iterations, device):
    torch.manual_seed(0)
    model = NETS[name]().to(device)
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(train_batch, 3, 32, 32, device=device)
    labels = torch.arange(train_batch, device=device) % 10
    model.train()
    elapsed = 0.0
    for i in range(warmup + iterations):
        start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optim.step()
        loss.item()
        if i >= warmup:
            elapsed += time.perf_counter() - start
    train = iterations * train_batch / elapsed

    model.eval()
    images = torch.randn(infer_batch, 3, 32, 32, device=device)
    elapsed = 0.0
    with torch.no_grad():
        for i in range(warmup + iterations):
            start = time.perf_counter()
            model(images).sum().item()
            if i >= warmup:
                elapsed += time.perf_counter() - start
    infer = iterations * infer_batch / elapsed
    return {"train_images_per_second": train, "infer_images_per_second": infer}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--infer-batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--model", choices=sorted(NETS), action="append")
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="also (or, without --model, only) the model of this training config, "
                             "named after the file as `trainer bench --config` names it")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--system-allocator", action="store_true",
                        help="keep glibc's default mmap and trim thresholds (the figures before "
                             "2026-11-30 were measured so); by default PyTorch gets the trainer's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    configs = {os.path.splitext(os.path.basename(path))[0]: net_of_config(path) for path in args.config}
    NETS.update(configs)
    names = (args.model or ([] if configs else ["resnet18", "narrow", "fast"])) + list(configs)
    for name in names:
        results[name] = measure(name, args.train_batch, args.infer_batch, args.warmup, args.iterations,
                                torch.device(args.device))
        r = results[name]
        print(f"{name}: train {r['train_images_per_second']:.1f} img/s (batch {args.train_batch}), "
              f"inference {r['infer_images_per_second']:.1f} img/s (batch {args.infer_batch}) "
              f"[PyTorch {torch.__version__}, {args.device}, {args.threads} threads; {ALLOCATOR}]")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
