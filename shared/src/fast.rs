//! The fast residual CIFAR net: the layout of Keller Jordan's airbench (a frozen 2×2 whitening
//! convolution, then three groups of conv → max-pool → BatchNorm → GELU) with a residual
//! connection around the second convolution of every group, so that it is a ResNet.
//!
//! At widths 64/256/256 it costs 118 M multiply-adds per image against ResNet-18's 556 M; the
//! recipe that trains it in a few epochs is `configs/fast-cpu.json`.
//!
//! Field names are the PyTorch definition's in `bench/pytorch_resnet.py` (`whiten`,
//! `layers.{i}.conv1`, `layers.{i}.norm1`, …, `head`), so a `state_dict` maps 1:1.

use burn::config::Config;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::block::conv3x3;

/// Shape of a [`FastResNet`].
#[derive(Config, Debug, PartialEq)]
pub struct FastResNetConfig {
    /// Output channels of the three groups.
    #[config(default = "vec![64, 256, 256]")]
    pub widths: Vec<usize>,
    /// Side of the whitening convolution's square kernel; it has `2 · 3 · k²` output channels
    /// (each eigenvector of the patch covariance and its negative).
    #[config(default = 2)]
    pub whiten_kernel: usize,
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// The logits are the head's output times this (airbench's 1/9): it keeps the initial
    /// softmax soft without a bias or a special init of the head.
    #[config(default = "1.0 / 9.0")]
    pub logit_scale: f64,
    /// BatchNorm's ε. It is part of the function the net computes (and of the folded weights).
    #[config(default = 1e-5)]
    pub batchnorm_epsilon: f64,
}

/// Number of groups (the length of `widths`).
pub const GROUPS: usize = 3;

impl FastResNetConfig {
    /// Output channels of the whitening convolution.
    pub fn whiten_width(&self) -> usize {
        2 * 3 * self.whiten_kernel * self.whiten_kernel
    }

    /// Checks that the config describes a buildable network.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.len() != GROUPS {
            return Err(format!(
                "`widths` must have {GROUPS} entries (one per group), found {}",
                self.widths.len()
            ));
        }
        if self.widths.contains(&0) {
            return Err("every entry of `widths` must be at least 1".into());
        }
        if !(1..=4).contains(&self.whiten_kernel) {
            return Err(format!(
                "`whiten_kernel` must be 1 to 4, found {}",
                self.whiten_kernel
            ));
        }
        if self.num_classes == 0 {
            return Err("`num_classes` must be at least 1".into());
        }
        if !(self.logit_scale.is_finite() && self.logit_scale > 0.0) {
            return Err("`logit_scale` must be positive".into());
        }
        if !(self.batchnorm_epsilon.is_finite() && self.batchnorm_epsilon > 0.0) {
            return Err("`batchnorm_epsilon` must be positive".into());
        }
        Ok(())
    }

    /// Builds the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If the config is invalid; call [`FastResNetConfig::validate`] first for untrusted configs.
    pub fn init(&self, device: &Device) -> FastResNet {
        if let Err(problem) = self.validate() {
            panic!("invalid FastResNetConfig: {problem}");
        }
        let k = self.whiten_kernel;
        let mut in_channels = self.whiten_width();
        let layers = self
            .widths
            .iter()
            .map(|&width| {
                let group = ResidualGroup::new(in_channels, width, self.batchnorm_epsilon, device);
                in_channels = width;
                group
            })
            .collect();
        FastResNet {
            whiten: Conv2dConfig::new([3, self.whiten_width()], [k, k])
                .with_bias(true)
                .init(device),
            layers,
            head: LinearConfig::new(in_channels, self.num_classes)
                .with_bias(false)
                .init(device),
            logit_scale: self.logit_scale,
        }
    }
}

/// conv → 2×2 max-pool → BN → GELU, then `x + GELU(BN(conv(x)))`.
#[derive(Module, Debug)]
pub struct ResidualGroup {
    pub conv1: Conv2d,
    pub norm1: BatchNorm,
    pub conv2: Conv2d,
    pub norm2: BatchNorm,
    pub pool: MaxPool2d,
}

impl ResidualGroup {
    pub fn new(in_channels: usize, out_channels: usize, epsilon: f64, device: &Device) -> Self {
        let norm = || {
            BatchNormConfig::new(out_channels)
                .with_epsilon(epsilon)
                .init(device)
        };
        Self {
            conv1: conv3x3(in_channels, out_channels, 1, device),
            norm1: norm(),
            conv2: conv3x3(out_channels, out_channels, 1, device),
            norm2: norm(),
            pool: pool2x2(),
        }
    }

    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        // Pooling before the BatchNorm normalises a quarter of the pixels (airbench's order).
        let x = gelu(
            self.norm1
                .forward(self.pool.forward(self.conv1.forward(input))),
        );
        let residual = gelu(self.norm2.forward(self.conv2.forward(x.clone())));
        x + residual
    }
}

pub(crate) fn pool2x2() -> MaxPool2d {
    MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()
}

/// The fast residual net (see the module docs).
#[derive(Module, Debug)]
pub struct FastResNet {
    /// 2×2 convolution without padding (32×32 → 31×31), with a bias; its weights are meant to be
    /// set from the training images' patch covariance and kept frozen.
    pub whiten: Conv2d,
    pub layers: Vec<ResidualGroup>,
    /// No bias: the classes start symmetric.
    pub head: Linear,
    pub logit_scale: f64,
}

impl FastResNet {
    /// `[batch, 3, H, W]` normalised images → `[batch, classes]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = gelu(self.whiten.forward(images));
        for group in &self.layers {
            x = group.forward(x);
        }
        self.head.forward(global_max_pool(x)) * self.logit_scale
    }
}

/// `[batch, C, H, W]` → `[batch, C]`: the largest value of each channel (airbench's final 3×3
/// max-pool, for any image size).
pub fn global_max_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.max_dim(3).max_dim(2).reshape([batch, channels])
}
