//! Training throughput of candidate fast residual CIFAR nets on this machine's CPU (Burn flex),
//! to choose the second architecture of the family by measurement (issue: a fast residual net
//! and a modern recipe). Each candidate is Page's ResNet-9 layout — prep conv, three stages of
//! conv + BatchNorm + ReLU + 2×2 max-pool, a residual pair of convs after some stages, global
//! max-pool, linear — at other widths. Not the model crate's code: the chosen net will live in
//! `shared/` with PyTorch names, folding and the loader.
//!
//! `cargo test --release --workspace --no-run && BATCH=256 $CARGO_TARGET_DIR/release/examples/fast_candidates`
//! (forward, backward and an SGD step on random images; the first step untimed).
use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}
impl ConvBn {
    fn new(i: usize, o: usize, d: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(d),
            bn: BatchNormConfig::new(o).init(d),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

#[derive(Module, Debug)]
struct Stage {
    conv: ConvBn,
    pool: MaxPool2d,
    res: Vec<ConvBn>,
}
impl Stage {
    fn new(i: usize, o: usize, residual: bool, d: &Device) -> Self {
        Self {
            conv: ConvBn::new(i, o, d),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            res: if residual {
                vec![ConvBn::new(o, o, d), ConvBn::new(o, o, d)]
            } else {
                vec![]
            },
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.pool.forward(self.conv.forward(x));
        if self.res.is_empty() {
            return x;
        }
        let r = self.res[1].forward(self.res[0].forward(x.clone()));
        x + r
    }
}

#[derive(Module, Debug)]
struct Net {
    prep: ConvBn,
    stages: Vec<Stage>,
    linear: Linear,
}
impl Net {
    fn new(w: [usize; 4], residual: [bool; 3], d: &Device) -> Self {
        Self {
            prep: ConvBn::new(3, w[0], d),
            stages: vec![
                Stage::new(w[0], w[1], residual[0], d),
                Stage::new(w[1], w[2], residual[1], d),
                Stage::new(w[2], w[3], residual[2], d),
            ],
            linear: LinearConfig::new(w[3], 10).init(d),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.prep.forward(x);
        for s in &self.stages {
            x = s.forward(x);
        }
        let [b, c, _, _] = x.dims();
        let x = x.max_dim(3).max_dim(2).reshape([b, c]);
        self.linear.forward(x)
    }
}

fn main() {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let candidates: Vec<(&str, [usize; 4], [bool; 3])> = vec![
        (
            "resnet9 64/128/256/512 (Page)",
            [64, 128, 256, 512],
            [true, false, true],
        ),
        (
            "resnet9 32/64/128/256",
            [32, 64, 128, 256],
            [true, false, true],
        ),
        (
            "resnet9 24/48/96/192",
            [24, 48, 96, 192],
            [true, false, true],
        ),
        (
            "resnet9 16/32/64/128",
            [16, 32, 64, 128],
            [true, false, true],
        ),
        (
            "res-airbench 32/64/256/256",
            [32, 64, 256, 256],
            [true, true, true],
        ),
        (
            "res-airbench 24/64/128/128",
            [24, 64, 128, 128],
            [true, true, true],
        ),
    ];
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(256);
    for (name, w, r) in candidates {
        let mut model = Net::new(w, r, &ad);
        let params = model.num_params();
        let mut optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_nesterov(true)))
            .init();
        let loss_fn = CrossEntropyLossConfig::new().init(&ad);
        let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &ad);
        let labels: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &ad);
        let mut elapsed = 0.0;
        let iterations = 3;
        for it in 0..iterations + 1 {
            let started = Instant::now();
            let loss = loss_fn.forward(model.forward(images.clone()), targets.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.01, model, grads);
            let _ = loss.into_scalar::<f32>();
            if it > 0 {
                elapsed += started.elapsed().as_secs_f64();
            }
        }
        println!(
            "{name}: {params} params (incl. BN stats), train {:.1} img/s at batch {batch}",
            (iterations * batch) as f64 / elapsed
        );
    }
}
