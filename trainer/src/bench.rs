//! `bench`: training and inference throughput of the models the trainer names, on a device,
//! with ratios against a reference (e.g. PyTorch on the same machine, from
//! `bench/pytorch_reference.py --json`) when one is given.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::{Classifier, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::settings::{ModelPreset, TrainingConfig};

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

impl BenchSettings {
    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.train_batch < 2 || self.infer_batch == 0 {
            bail!("--iterations must be ≥ 1, --train-batch ≥ 2 and --infer-batch ≥ 1");
        }
        Ok(())
    }
}

/// The models a `bench` command names, each with the name its figures carry: `preset` (all
/// presets when neither it nor a config is given), then the model section of each training
/// config in `configs`, named after the file without its extension (`configs/fast-cpu.json` →
/// `fast-cpu`, as `bench/pytorch_reference.py --config` names it).
pub fn models(
    preset: Option<ModelPreset>,
    configs: &[std::path::PathBuf],
) -> Result<Vec<(String, ModelConfig)>> {
    let presets = match preset {
        Some(preset) => vec![preset],
        None if configs.is_empty() => ModelPreset::ALL.to_vec(),
        None => Vec::new(),
    };
    let mut models: Vec<(String, ModelConfig)> = presets
        .into_iter()
        .map(|preset| (preset.name().to_string(), preset.config()))
        .collect();
    for path in configs {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .with_context(|| format!("--config {}: the file has no name", path.display()))?;
        let model = TrainingConfig::load_partial(path)?.model;
        model.validate().map_err(|problem| {
            anyhow::anyhow!("the config {}: `model`: {problem}", path.display())
        })?;
        models.push((name.to_string(), model));
    }
    Ok(models)
}

/// `bench`: measures each model, prints the figures (and the ratios against `reference`, JSON
/// from `bench/pytorch_reference.py --json`), and writes them as JSON to `json` if given.
pub fn run(
    models: &[(String, ModelConfig)],
    settings: &BenchSettings,
    device: &Device,
    reference: Option<&Path>,
    json: Option<&Path>,
) -> Result<()> {
    settings.validate()?;
    let reference = reference.map(read_reference).transpose()?;
    let mut results = BTreeMap::new();
    for (name, config) in models {
        let result = measure(config, settings, device);
        println!(
            "{name}: train {:.1} img/s (batch {}), inference {:.1} img/s, BatchNorm folded {:.1} img/s (batch {})",
            result.train_images_per_second,
            settings.train_batch,
            result.infer_images_per_second,
            result.infer_folded_images_per_second.unwrap_or(f64::NAN),
            settings.infer_batch
        );
        if let Some(reference) = reference.as_ref().and_then(|r| r.get(name.as_str())) {
            println!(
                "{name}: vs reference: train {:.2}× ({:.1} img/s), inference {:.2}×, folded {:.2}× ({:.1} img/s)",
                result.train_images_per_second / reference.train_images_per_second,
                reference.train_images_per_second,
                result.infer_images_per_second / reference.infer_images_per_second,
                result.infer_folded_images_per_second.unwrap_or(f64::NAN)
                    / reference.infer_images_per_second,
                reference.infer_images_per_second
            );
        }
        results.insert(name.clone(), result);
    }
    if let Some(path) = json {
        write_atomic(path, serde_json::to_string_pretty(&results)?.as_bytes())?;
    }
    Ok(())
}

pub fn measure(config: &ModelConfig, settings: &BenchSettings, device: &Device) -> Throughput {
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
        .map(|i| i % config.num_classes() as i64)
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
