//! The training loop: SGD with momentum, warm-up + cosine schedule, on-device augmentation,
//! per-epoch evaluation, metrics, curves, checkpoints and the final exports.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use cifar_model::preprocess::IMAGE_SIZE;
use cifar_model::{Layout, ModelInfo, Normalization, Precision, ResNet, TrainingSummary};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment;
use crate::checkpoint::{self, LoopState};
use crate::data::Cifar10;
use crate::evaluate::predict_dataset;
use crate::fsutil::write_atomic;
use crate::half_precision::f16_with_own_accuracy;
use crate::metrics::{self, EpochRecord};
use crate::plot;
use crate::settings::TrainingConfig;

pub const CONFIG_FILE: &str = "config.json";
pub const CURVES_FILE: &str = "curves.png";
pub const BEST_FILE: &str = "best.safetensors";
pub const FINAL_FILE: &str = "model.safetensors";
pub const FINAL_F16_FILE: &str = "model-f16.safetensors";

/// Everything a run needs besides its config.
pub struct Run<'a> {
    pub config: TrainingConfig,
    pub data: &'a Cifar10,
    pub data_description: String,
    pub out: PathBuf,
    pub device: Device,
    pub resume: bool,
    /// Stop after this epoch, before the run's end (checkpoint kept, no final weights).
    pub stop_after: Option<usize>,
    /// Show progress bars (off in tests and when output is not a terminal).
    pub progress: bool,
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Outcome {
    pub records: Vec<EpochRecord>,
    /// `None` when the run stopped early (`stop_after`).
    pub final_weights: Option<PathBuf>,
}

fn optimizer(config: &TrainingConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(config.momentum)
                .with_dampening(0.0)
                .with_nesterov(config.nesterov),
        ))
        .with_weight_decay(
            (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32)),
        )
        .init()
}

pub fn train(run: Run) -> Result<Outcome> {
    let config = &run.config;
    config
        .validate()
        .map_err(|problem| anyhow::anyhow!("invalid training config: {problem}"))?;
    let out = &run.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    if !run.resume && checkpoint::find(out).is_some() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        );
    }
    write_atomic(&out.join(CONFIG_FILE), config.to_string().as_bytes())?;

    let train_data = &run.data.train;
    let test_data = &run.data.test;
    let steps_per_epoch = train_data.len().div_ceil(config.batch_size);
    let schedule = config.schedule(steps_per_epoch);
    let device = run.device.clone();
    let train_device = device.clone().autodiff();
    device.seed(config.seed);

    let mut model: ResNet = config.model.init(&train_device);
    let mut optim = optimizer(config);
    let mut state = LoopState {
        epoch: 0,
        step: 0,
        best_test_accuracy: None,
        best_epoch: None,
    };
    let mut records = Vec::new();
    if run.resume {
        let (loaded_model, loaded_optim, loaded_state) = checkpoint::load(out, model, optim)?;
        model = loaded_model;
        optim = loaded_optim;
        state = loaded_state;
        records = metrics::truncate_after(out, state.epoch)?;
        println!("resuming after epoch {} (step {})", state.epoch, state.step);
    }
    if state.epoch >= config.epochs {
        println!("all {} epochs are done already", config.epochs);
    }

    let normalization = Normalization::CIFAR10;
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(config.label_smoothing)
        .init(&train_device);
    let info = ModelInfo::cifar10(config.model.clone());

    for epoch in state.epoch + 1..=config.epochs {
        let started = Instant::now();
        // Each epoch's shuffle and augmentation come from (seed, epoch): a resumed run draws
        // exactly what an uninterrupted one would have.
        let mut rng = StdRng::seed_from_u64(
            config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as u64),
        );
        let mut order: Vec<usize> = (0..train_data.len()).collect();
        order.shuffle(&mut rng);

        let bar = progress_bar(
            run.progress,
            train_data.len() as u64,
            &format!("epoch {epoch}/{}", config.epochs),
        );
        let mut loss_sum = Tensor::<1>::zeros([1], &train_device).detach();
        let mut correct_sum = Tensor::<1, Int>::zeros([1], &train_device);
        let mut seen = 0usize;
        let mut lr = schedule.lr(state.step);
        for (batch_index, batch) in order.chunks(config.batch_size).enumerate() {
            lr = schedule.lr(state.step);
            let images = batch_images(&train_data.gather(batch), batch.len(), &train_device);
            let transforms = config.augment.sample(batch.len(), &mut rng);
            let images = normalization.normalize_tensor(augment::apply(images, &transforms));
            let labels: Vec<i64> = batch.iter().map(|&i| train_data.labels[i] as i64).collect();
            let targets =
                Tensor::<1, Int>::from_data(TensorData::new(labels, [batch.len()]), &train_device);

            let logits = model.forward(images);
            let loss = loss_fn.forward(logits.clone(), targets.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);

            loss_sum = loss_sum + loss.detach() * batch.len() as f32;
            correct_sum = correct_sum
                + logits
                    .detach()
                    .argmax(1)
                    .squeeze_dim::<1>(1)
                    .equal(targets)
                    .int()
                    .sum();
            seen += batch.len();
            state.step += 1;

            // Reading values back synchronises the device, so do it every few batches only.
            let last = batch_index + 1 == steps_per_epoch;
            if batch_index % 20 == 19 || last {
                let loss_total = loss_sum.clone().into_scalar::<f32>() as f64;
                if !loss_total.is_finite() {
                    bail!(
                        "the training loss became {} in epoch {epoch} (learning rate {lr:.4}): \
                         training stopped; the last good checkpoint (epoch {}) is kept in {}",
                        loss_total,
                        state.epoch,
                        out.display()
                    );
                }
                let correct = correct_sum.clone().into_scalar::<i64>() as f64;
                let rate = seen as f64 / started.elapsed().as_secs_f64();
                bar.set_position(seen as u64);
                bar.set_message(format!(
                    "loss {:.4}  acc {:.2}%  {:.0} img/s  lr {lr:.4}",
                    loss_total / seen as f64,
                    100.0 * correct / seen as f64,
                    rate
                ));
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let train_loss = loss_sum.into_scalar::<f32>() as f64 / seen as f64;
        let train_accuracy = correct_sum.into_scalar::<i64>() as f64 / seen as f64;
        bar.finish_and_clear();

        let eval_model = model.valid();
        // Evaluated exactly as `eval` does (BatchNorm folded), so that the accuracy stored in
        // the weights' metadata is what `eval` reproduces.
        let test = predict_dataset(
            &eval_model.fold_batchnorm(),
            test_data,
            &normalization,
            config.eval_batch_size,
            false,
            &device,
            None,
        );
        let record = EpochRecord {
            epoch,
            train_loss,
            train_accuracy,
            test_loss: test.loss,
            test_accuracy: test.accuracy(),
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: seen as f64 / train_seconds,
        };
        println!(
            "epoch {epoch}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | lr {:.4} | {:.0} img/s | {:.1}s",
            config.epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            record.test_loss,
            100.0 * record.test_accuracy,
            record.learning_rate,
            record.images_per_second,
            record.seconds
        );

        state.epoch = epoch;
        let summary = summary(&run, epoch, &record, test_data.len());
        if state
            .best_test_accuracy
            .is_none_or(|best| record.test_accuracy > best)
        {
            state.best_test_accuracy = Some(record.test_accuracy);
            state.best_epoch = Some(epoch);
            let best_info = info.clone().with_training(summary.clone());
            write_weights(
                &eval_model,
                &best_info,
                Precision::F32,
                &out.join(BEST_FILE),
            )?;
        }
        // Checkpoint first, then the log: a crash in between only repeats an epoch on resume.
        checkpoint::save(out, &model, &optim, &state)?;
        metrics::append(out, &record)?;
        records.push(record);
        plot::training_curves(&records, &out.join(CURVES_FILE))?;
        if run.stop_after == Some(epoch) && epoch < config.epochs {
            return Ok(Outcome {
                records,
                final_weights: None,
            });
        }
    }

    let final_model = model.valid();
    let last = records.last().context("no epoch was recorded")?;
    let final_info = info.with_training(summary(&run, state.epoch, last, test_data.len()));
    let final_weights = out.join(FINAL_FILE);
    write_weights(&final_model, &final_info, Precision::F32, &final_weights)?;
    let (f16, _, _) = f16_with_own_accuracy(
        &final_model,
        &final_info,
        test_data,
        config.eval_batch_size,
        &device,
        None,
    )?;
    write_atomic(&out.join(FINAL_F16_FILE), &f16)?;
    Ok(Outcome {
        records,
        final_weights: Some(final_weights),
    })
}

fn summary(run: &Run, epochs: usize, record: &EpochRecord, test_images: usize) -> TrainingSummary {
    TrainingSummary {
        epochs,
        test_accuracy: Some(record.test_accuracy),
        train_accuracy: Some(record.train_accuracy),
        test_images: Some(test_images),
        data: run.data_description.clone(),
        train_images: run.data.train.len(),
        seed: run.config.seed,
        date: now_rfc3339(),
        git_commit: option_env!("CIFAR_GIT_COMMIT").map(str::to_string),
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Saves `model` as safetensors with metadata, atomically.
pub fn write_weights(
    model: &ResNet,
    info: &ModelInfo,
    precision: Precision,
    path: &Path,
) -> Result<()> {
    write_weights_as(model, info, precision, Layout::Burn, path)
}

pub fn write_weights_as(
    model: &ResNet,
    info: &ModelInfo,
    precision: Precision,
    layout: Layout,
    path: &Path,
) -> Result<()> {
    let bytes = cifar_model::to_safetensors(model, info, precision, layout)
        .with_context(|| format!("serialising {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Raw bytes → `[batch, 3, 32, 32]` values in `[0, 1]` (normalised after augmentation, so that
/// the crop's zero padding is black as in torchvision).
fn batch_images(planar: &[u8], batch: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = planar.iter().map(|&byte| byte as f32 / 255.0).collect();
    Tensor::from_data(
        TensorData::new(values, [batch, 3, IMAGE_SIZE, IMAGE_SIZE]),
        device,
    )
}

pub fn progress_bar(enabled: bool, length: u64, prefix: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
