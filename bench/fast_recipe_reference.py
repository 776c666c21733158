"""The `configs/fast-cpu.json` recipe in PyTorch, as a second implementation to compare the
trainer's accuracy with: the same net (`pytorch_resnet.FastResNet`), data, schedule, parameter
groups, whitening and identity init, alternating flip, reflect-padded translation, Lookahead and
multi-view TTA, following the published airbench recipe (KellerJordan/cifar10-airbench).

    python bench/fast_recipe_reference.py --config configs/fast-cpu.json \
        --data ../shared/data/cifar-10-binary.tar.gz [--epochs N] [--widths 64,128,128] [--plain]

`--plain` drops the residual connections (airbench's own net). Prints one line per epoch.
"""
import argparse
import io
import json
import math
import os
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_resnet  # noqa: E402
from pytorch_resnet import FastResNet  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def read_cifar(path):
    """The binary archive → (train images uint8 [N,3,32,32], labels), (test …)."""
    train, test = [], None
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            name = os.path.basename(member.name)
            if not name.endswith(".bin") or not (name.startswith("data_batch") or name == "test_batch.bin"):
                continue
            raw = np.frombuffer(archive.extractfile(member).read(), dtype=np.uint8).reshape(-1, 3073)
            part = (torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy()), torch.from_numpy(raw[:, 0].astype(np.int64)))
            if name == "test_batch.bin":
                test = part
            else:
                train.append((name, part))
    train.sort(key=lambda item: item[0])
    images = torch.cat([p[0] for _, p in train])
    labels = torch.cat([p[1] for _, p in train])
    return (images, labels), test


def normalise(images):
    return (images.float() / 255 - MEAN) / STD


def whitening_filters(images, kernel, eps):
    patches = images.unfold(2, kernel, 1).unfold(3, kernel, 1).transpose(1, 3).reshape(-1, 3 * kernel * kernel)
    covariance = patches.double().T @ patches.double() / len(patches)
    values, vectors = torch.linalg.eigh(covariance)
    values, vectors = values.flip(0), vectors.T.flip(0)
    scaled = (vectors / torch.sqrt(values + eps).view(-1, 1)).reshape(-1, 3, kernel, kernel).float()
    return torch.cat((scaled, -scaled))


def dirac(conv):
    with torch.no_grad():
        w = conv.weight
        torch.nn.init.dirac_(w[: w.size(1)])


def translate(padded, pad, size=32):
    shifts = torch.randint(0, 2 * pad + 1, (len(padded), 2))
    out = torch.empty(len(padded), 3, size, size)
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            mask = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            out[mask] = padded[mask, :, dy:dy + size, dx:dx + size]
    return out


def tta_logits(model, images):
    def mirror(x):
        return 0.5 * model(x) + 0.5 * model(x.flip(-1))
    padded = F.pad(images, (1,) * 4, "reflect")
    shifted = [padded[:, :, 0:32, 0:32], padded[:, :, 2:34, 2:34]]
    return 0.5 * mirror(images) + 0.25 * mirror(shifted[0]) + 0.25 * mirror(shifted[1])


def evaluate(model, images, labels, tta):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            x = images[start:start + 500]
            logits = tta_logits(model, x) if tta else model(x)
            correct += (logits.argmax(1) == labels[start:start + 500]).sum().item()
    return correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--widths")
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        cfg = json.load(f)
    epochs = args.epochs or cfg["epochs"]
    widths = [int(w) for w in args.widths.split(",")] if args.widths else cfg["model"]["widths"]
    eps = cfg["model"].get("batchnorm_epsilon", 1e-5)
    batch, momentum = cfg["batch_size"], cfg["momentum"]

    (train_x, train_y), (test_x, test_y) = read_cifar(args.data)
    train_x, test_x = normalise(train_x), normalise(test_x)

    model = FastResNet(widths=widths, batchnorm_epsilon=eps)
    if args.plain:
        def plain_forward(self, x):
            x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
            return F.gelu(self.norm2(self.conv2(x)))
        pytorch_resnet.ResidualGroup.forward = plain_forward
    for group in model.layers:
        for norm in (group.norm1, group.norm2):
            norm.momentum = cfg["batchnorm"]["momentum"]
            norm.weight.requires_grad = False
        dirac(group.conv1)
        dirac(group.conv2)
    with torch.no_grad():
        model.whiten.weight[:] = whitening_filters(train_x[: cfg["whitening"]["images"]], 2, cfg["whitening"]["epsilon"])
        model.whiten.bias.zero_()
    model.whiten.weight.requires_grad = False

    # airbench's units: lr and wd per 1024 examples of a summed loss, decoupled from momentum.
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr = cfg["learning_rate"] / kilostep
    wd = cfg["weight_decay"] * batch / kilostep
    lr_bias = lr * cfg["batchnorm"]["bias_lr_multiplier"]
    biases = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=biases, lr=lr_bias, weight_decay=wd / lr_bias),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)],
                                momentum=momentum, nesterov=True)
    steps_per_epoch = math.ceil(len(train_x) / batch)
    total = epochs * steps_per_epoch
    tri = cfg["lr_shape"]["triangular"]
    peak = int(tri["peak"] * total)

    def factor(step):
        if step < peak:
            return tri["start"] + (1 - tri["start"]) * step / peak
        return 1 + (tri["end"] - 1) * (step - peak) / (total - peak)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"], reduction="sum")
    look = cfg["lookahead"]
    slow = {k: v.clone() for k, v in model.state_dict().items()}

    pad = cfg["augment"]["padding"]
    base_flip = torch.rand(len(train_x)) < 0.5
    based = torch.where(base_flip.view(-1, 1, 1, 1), train_x.flip(-1), train_x)
    padded = F.pad(based, (pad,) * 4, "reflect")
    step = 0
    started = time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        model.whiten.bias.requires_grad = epoch <= cfg["whitening"]["bias_epochs"]
        images = translate(padded, pad)
        if epoch % 2 == 0:
            images = images.flip(-1)
        order = torch.randperm(len(images))
        seen, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            outputs = model(images[idx])
            loss = loss_fn(outputs, train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % look["every"] == 0:
                decay = look["decay"] * (step / total) ** look["power"]
                with torch.no_grad():
                    for (k, s), v in zip(slow.items(), model.state_dict().values()):
                        if v.dtype.is_floating_point:
                            s.lerp_(v, 1 - decay)
                            v.copy_(s)
            seen += len(idx)
            correct += (outputs.argmax(1) == train_y[idx]).sum().item()
            loss_sum += loss.item()
        with torch.no_grad():
            for (k, s), v in zip(slow.items(), model.state_dict().values()):
                if v.dtype.is_floating_point:
                    v.copy_(s)
        last = epoch == epochs
        test = evaluate(model, test_x, test_y, tta=last)
        print(json.dumps(dict(epoch=epoch, train_loss=loss_sum / seen, train_accuracy=correct / seen,
                              test_accuracy=test, tta=last, seconds=time.time() - started)), flush=True)


if __name__ == "__main__":
    main()
