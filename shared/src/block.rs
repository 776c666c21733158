//! The residual basic block.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// 3×3 conv + BN + ReLU, 3×3 conv + BN, plus a shortcut, then ReLU.
///
/// Field names mirror kuangliu/pytorch-cifar's `BasicBlock` so a `state_dict` maps 1:1:
/// `conv1`, `bn1`, `conv2`, `bn2`, and `shortcut.0` (1×1 conv) / `shortcut.1` (BN) — the
/// shortcut is a tuple so that its parts are named `0` and `1` like PyTorch's `Sequential`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    /// Projection when the stride or width changes; identity otherwise.
    pub shortcut: Option<(Conv2d, BatchNorm)>,
    pub relu: Relu,
}

/// 3×3 convolution without bias (a BatchNorm follows every convolution).
pub(crate) fn conv3x3(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

impl BasicBlock {
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || in_channels != out_channels).then(|| {
            let conv = Conv2dConfig::new([in_channels, out_channels], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device);
            (conv, BatchNormConfig::new(out_channels).init(device))
        });
        Self {
            conv1: conv3x3(in_channels, out_channels, stride, device),
            bn1: BatchNormConfig::new(out_channels).init(device),
            conv2: conv3x3(out_channels, out_channels, 1, device),
            bn2: BatchNormConfig::new(out_channels).init(device),
            shortcut,
            relu: Relu::new(),
        }
    }

    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let out = self
            .relu
            .forward(self.bn1.forward(self.conv1.forward(input.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let identity = match &self.shortcut {
            Some((conv, bn)) => bn.forward(conv.forward(input)),
            None => input,
        };
        self.relu.forward(out + identity)
    }
}
