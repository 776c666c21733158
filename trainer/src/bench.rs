//! `bench`: training and inference throughput of the default and the narrow model on a device,
//! with ratios against a reference (e.g. PyTorch on the same machine, from
//! `bench/pytorch_reference.py --json`) when one is given.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::{Classifier, ResNetConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
pub struct BenchSettings {
    pub train_batch: usize,
    pub infer_batch: usize,
    pub warmup: usize,
    pub iterations: usize,
}

/// Images per second of one model.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub train_images_per_second: f64,
    pub infer_images_per_second: f64,
    /// Inference with BatchNorm folded into the convolutions (what eval and predict run).
    #[serde(default)]
    pub infer_folded_images_per_second: Option<f64>,
}

pub fn models() -> Vec<(&'static str, ResNetConfig)> {
    vec![
        ("resnet18", ResNetConfig::new()),
        ("narrow", ResNetConfig::narrow()),
    ]
}

pub fn measure(config: &ResNetConfig, settings: &BenchSettings, device: &Device) -> Throughput {
    device.seed(0);
    // Training step: forward, backward, SGD update, as in the training loop.
    let train_device = device.clone().autodiff();
    let mut model = config.init(&train_device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let images = Tensor::<4>::random(
        [settings.train_batch, 3, 32, 32],
        Distribution::Normal(0.0, 1.0),
        &train_device,
    );
    let labels: Vec<i64> = (0..settings.train_batch as i64)
        .map(|i| i % config.num_classes as i64)
        .collect();
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new(labels, [settings.train_batch]),
        &train_device,
    );
    let mut elapsed = 0.0;
    for iteration in 0..settings.warmup + settings.iterations {
        let started = Instant::now();
        let loss = loss_fn.forward(model.forward(images.clone()), targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.01, model, grads);
        let _ = loss.into_scalar::<f32>(); // waits for the device
        if iteration >= settings.warmup {
            elapsed += started.elapsed().as_secs_f64();
        }
    }
    let train = (settings.iterations * settings.train_batch) as f64 / elapsed;

    let model = model.valid();
    let images = Tensor::<4>::random(
        [settings.infer_batch, 3, 32, 32],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let infer = inference_rate(&model, &images, settings);
    let infer_folded = inference_rate(&model.fold_batchnorm(), &images, settings);
    Throughput {
        train_images_per_second: train,
        infer_images_per_second: infer,
        infer_folded_images_per_second: Some(infer_folded),
    }
}

fn inference_rate(model: &impl Classifier, images: &Tensor<4>, settings: &BenchSettings) -> f64 {
    let mut elapsed = 0.0;
    for iteration in 0..settings.warmup + settings.iterations {
        let started = Instant::now();
        let _ = model.logits(images.clone()).sum().into_scalar::<f32>(); // waits for the device
        if iteration >= settings.warmup {
            elapsed += started.elapsed().as_secs_f64();
        }
    }
    (settings.iterations * images.dims()[0]) as f64 / elapsed
}

/// Reads `{"resnet18": {"train_images_per_second": …, "infer_images_per_second": …}, …}`.
pub fn read_reference(path: &Path) -> Result<BTreeMap<String, Throughput>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a benchmark reference", path.display()))
}
