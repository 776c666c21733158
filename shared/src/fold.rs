//! Inference with BatchNorm folded into the convolutions.
//!
//! In inference mode a BatchNorm is an affine map per channel, `y = γ (x − μ) / √(σ² + ε) + β`,
//! so it merges into the convolution before it: `w' = w · s`, `b' = β − μ · s` with
//! `s = γ / √(σ² + ε)`. The folded network computes the same logits (up to rounding) with one
//! pass over each activation instead of two.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, MaxPool2d};
use burn::nn::{BatchNorm, Linear, Relu};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::block::BasicBlock;
use crate::fast::{FastResNet, ResidualGroup, global_max_pool};
use crate::inference::Classifier;
use crate::resnet::ResNet;

impl Classifier for ResNet {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

impl Classifier for FastResNet {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

#[derive(Module, Debug)]
pub struct FoldedBlock {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub shortcut: Option<Conv2d>,
    pub relu: Relu,
}

/// A [`ResNet`] with every BatchNorm folded away, for inference only.
#[derive(Module, Debug)]
pub struct FoldedResNet {
    pub conv1: Conv2d,
    pub blocks: Vec<FoldedBlock>,
    pub avgpool: AdaptiveAvgPool2d,
    pub linear: Linear,
    pub relu: Relu,
}

/// `conv` followed by `bn` (inference mode) as one convolution with a bias.
pub fn fold(conv: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let [channels] = scale.dims();
    let weight = conv.weight.val() * scale.clone().reshape([channels, 1, 1, 1]);
    let conv_bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([channels], &scale.device()),
    };
    let bias = (conv_bias - bn.running_mean.value()) * scale + bn.beta.val();
    let mut folded = conv.clone();
    folded.weight = Param::from_tensor(weight);
    folded.bias = Some(Param::from_tensor(bias));
    folded
}

fn fold_block(block: &BasicBlock) -> FoldedBlock {
    FoldedBlock {
        conv1: fold(&block.conv1, &block.bn1),
        conv2: fold(&block.conv2, &block.bn2),
        shortcut: block.shortcut.as_ref().map(|(conv, bn)| fold(conv, bn)),
        relu: Relu::new(),
    }
}

impl ResNet {
    /// The same network with BatchNorm folded into the convolutions (use on a model in
    /// inference mode, e.g. after `valid()` or loading).
    pub fn fold_batchnorm(&self) -> FoldedResNet {
        FoldedResNet {
            conv1: fold(&self.conv1, &self.bn1),
            blocks: self
                .stages()
                .into_iter()
                .flatten()
                .map(fold_block)
                .collect(),
            avgpool: self.avgpool.clone(),
            linear: self.linear.clone(),
            relu: Relu::new(),
        }
    }
}

impl FoldedBlock {
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let out = self.relu.forward(self.conv1.forward(input.clone()));
        let out = self.conv2.forward(out);
        let identity = match &self.shortcut {
            Some(conv) => conv.forward(input),
            None => input,
        };
        self.relu.forward(out + identity)
    }
}

impl Classifier for FoldedResNet {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.relu.forward(self.conv1.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.avgpool.forward(x).flatten::<2>(1, 3);
        self.linear.forward(x)
    }
}

/// A [`ResidualGroup`] with its second BatchNorm folded. The first one follows the max-pool,
/// and max commutes with a per-channel scale only when the scale is positive, which only the
/// weights' values can tell (and the page must not read them back synchronously to decide), so
/// it stays, in inference mode, on the pooled quarter of the pixels.
#[derive(Module, Debug)]
pub struct FoldedGroup {
    pub conv1: Conv2d,
    pub norm1: BatchNorm,
    pub conv2: Conv2d,
    pub pool: MaxPool2d,
}

/// A [`FastResNet`] with the foldable BatchNorms folded away and the logit scale in the head.
#[derive(Module, Debug)]
pub struct FoldedFastResNet {
    pub whiten: Conv2d,
    pub layers: Vec<FoldedGroup>,
    pub head: Linear,
}

fn fold_group(group: &ResidualGroup) -> FoldedGroup {
    FoldedGroup {
        conv1: group.conv1.clone(),
        norm1: group.norm1.clone(),
        conv2: fold(&group.conv2, &group.norm2),
        pool: group.pool.clone(),
    }
}

impl FastResNet {
    /// The same network with BatchNorm folded into the convolutions (use on a model in
    /// inference mode, e.g. after `valid()` or loading).
    pub fn fold_batchnorm(&self) -> FoldedFastResNet {
        let mut head = self.head.clone();
        head.weight = Param::from_tensor(self.head.weight.val() * self.logit_scale);
        FoldedFastResNet {
            whiten: self.whiten.clone(),
            layers: self.layers.iter().map(fold_group).collect(),
            head,
        }
    }
}

impl FoldedGroup {
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = gelu(
            self.norm1
                .forward(self.pool.forward(self.conv1.forward(input))),
        );
        let residual = gelu(self.conv2.forward(x.clone()));
        x + residual
    }
}

impl Classifier for FoldedFastResNet {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = gelu(self.whiten.forward(images));
        for group in &self.layers {
            x = group.forward(x);
        }
        self.head.forward(global_max_pool(x))
    }
}
