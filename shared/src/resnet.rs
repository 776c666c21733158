//! The whole network: stem, residual stages, pooling and the classifier.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;

use crate::block::{BasicBlock, conv3x3};
use crate::config::ResNetConfig;

/// CIFAR ResNet with four stages. Field names follow kuangliu/pytorch-cifar exactly (`conv1`,
/// `bn1`, `layer1`…`layer4`, `linear`), so parameter paths such as `layer2.0.shortcut.0.weight`
/// are the PyTorch `state_dict` keys (up to BatchNorm `gamma/beta` ↔ `weight/bias` and the
/// transposed Linear weight, see `weights`).
#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub layer1: Vec<BasicBlock>,
    pub layer2: Vec<BasicBlock>,
    pub layer3: Vec<BasicBlock>,
    pub layer4: Vec<BasicBlock>,
    pub avgpool: AdaptiveAvgPool2d,
    pub linear: Linear,
    pub relu: Relu,
}

impl ResNetConfig {
    /// Builds the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If the config is invalid; call [`ResNetConfig::validate`] first for untrusted configs.
    pub fn init(&self, device: &Device) -> ResNet {
        if let Err(problem) = self.validate() {
            panic!("invalid ResNetConfig: {problem}");
        }
        let mut in_channels = self.widths[0];
        let mut stages: Vec<Vec<BasicBlock>> = self
            .widths
            .iter()
            .zip(&self.blocks)
            .enumerate()
            .map(|(stage, (&width, &count))| {
                // Every stage after the first halves the image in its first block.
                let first_stride = if stage == 0 { 1 } else { 2 };
                (0..count)
                    .map(|i| {
                        let stride = if i == 0 { first_stride } else { 1 };
                        let block = BasicBlock::new(in_channels, width, stride, device);
                        in_channels = width;
                        block
                    })
                    .collect()
            })
            .collect();
        let layer4 = stages.pop().expect("validated: four stages");
        let layer3 = stages.pop().expect("validated: four stages");
        let layer2 = stages.pop().expect("validated: four stages");
        let layer1 = stages.pop().expect("validated: four stages");
        ResNet {
            conv1: conv3x3(3, self.widths[0], 1, device),
            bn1: BatchNormConfig::new(self.widths[0]).init(device),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            linear: LinearConfig::new(in_channels, self.num_classes).init(device),
            relu: Relu::new(),
        }
    }
}

impl ResNet {
    /// `[batch, 3, H, W]` normalised images → `[batch, classes]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self
            .relu
            .forward(self.bn1.forward(self.conv1.forward(images)));
        for block in self.stages().into_iter().flatten() {
            x = block.forward(x);
        }
        let x = self.avgpool.forward(x).flatten::<2>(1, 3);
        self.linear.forward(x)
    }

    /// Learnable parameters, counted as PyTorch's `sum(p.numel() for p in model.parameters())`:
    /// BatchNorm running statistics are buffers there, while Burn's `num_params` includes them.
    pub fn num_learnable_params(&self) -> usize {
        crate::model::learnable_params(self)
    }

    /// The four stages in order.
    pub fn stages(&self) -> [&Vec<BasicBlock>; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }
}
