"""The two members of the family in PyTorch: the standard CIFAR ResNet (kuangliu/pytorch-cifar
layout), any widths, and the fast residual net (`FastResNet`, airbench's layout with a residual
around each group's second convolution).

Parameter names match the Rust models' safetensors export in PyTorch layout
(`trainer export --format pytorch`), so `load_state_dict(strict=True)` takes it.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), num_classes=10):
        super().__init__()
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(widths[0], blocks[0], 1)
        self.layer2 = self._make_layer(widths[1], blocks[1], 2)
        self.layer3 = self._make_layer(widths[2], blocks[2], 2)
        self.layer4 = self._make_layer(widths[3], blocks[3], 2)
        self.linear = nn.Linear(widths[3], num_classes)

    def _make_layer(self, planes, count, stride):
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class ResidualGroup(nn.Module):
    """conv → 2×2 max-pool → BN → GELU, then x + GELU(BN(conv(x)))."""

    def __init__(self, channels_in, channels_out, eps):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels_out, eps=eps)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels_out, eps=eps)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return x + F.gelu(self.norm2(self.conv2(x)))


class FastResNet(nn.Module):
    """The Rust `FastResNetConfig` defaults: widths 64/256/256, 2×2 whitening, logits × 1/9."""

    def __init__(self, widths=(64, 256, 256), whiten_kernel=2, num_classes=10,
                 logit_scale=1 / 9, batchnorm_epsilon=1e-5):
        super().__init__()
        whiten_width = 2 * 3 * whiten_kernel ** 2
        self.whiten = nn.Conv2d(3, whiten_width, whiten_kernel, padding=0, bias=True)
        channels = [whiten_width, *widths]
        self.layers = nn.ModuleList(
            ResidualGroup(channels[i], channels[i + 1], batchnorm_epsilon) for i in range(len(widths)))
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.logit_scale = logit_scale

    def forward(self, x):
        x = F.gelu(self.whiten(x))
        for group in self.layers:
            x = group(x)
        return self.head(x.amax(dim=(2, 3))) * self.logit_scale


MODELS = {
    "resnet18": dict(widths=(64, 128, 256, 512)),
    "narrow": dict(widths=(16, 32, 64, 128)),
}
