//! The training loop: SGD with momentum, warm-up + cosine schedule, on-device augmentation,
//! per-epoch evaluation, metrics, curves, checkpoints and the final exports.
//!
//! [`train`] reads as its steps: [`prepare`] (validate, resume), then per epoch
//! [`train_epoch`], [`evaluate_epoch`] and [`persist_epoch`], then [`finish`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use cifar_model::preprocess::IMAGE_SIZE;
use cifar_model::{
    DataSummary, Layout, Model, ModelInfo, Normalization, Precision, TrainingSummary, Tta,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment::{self, BatchPosition};
use crate::averaging::{assign, ema_update};
use crate::checkpoint::{self, LoopState};
use crate::data::Cifar10;
use crate::evaluate::{check_cifar10_classes, predict_dataset};
use crate::fsutil::write_atomic;
use crate::half_precision::f16_with_own_accuracy;
use crate::metrics::{self, EpochRecord};
use crate::param_groups::{GradientPolicy, ParamGroups};
use crate::plot;
use crate::schedule::LrSchedule;
use crate::settings::TrainingConfig;
use crate::weights_file;

pub const CONFIG_FILE: &str = "config.json";
pub const CURVES_FILE: &str = "curves.png";
pub const BEST_FILE: &str = "best.safetensors";
pub const FINAL_FILE: &str = "model.safetensors";
pub const FINAL_F16_FILE: &str = "model-f16.safetensors";

/// Everything a run needs besides its config.
pub struct Run<'a> {
    pub config: TrainingConfig,
    pub data: &'a Cifar10,
    /// How the training summary names the data (name and digest, no path).
    pub data_summary: DataSummary,
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
            (config.weight_decay > 0.0)
                .then(|| WeightDecayConfig::new(config.coupled_weight_decay() as f32)),
        )
        .init()
}

/// Trains as `run` says: prepare (or resume), then per epoch train, evaluate and persist, then
/// write the final weights.
pub fn train(run: Run) -> Result<Outcome> {
    let mut session = prepare(&run)?;
    for epoch in session.state.epoch + 1..=run.config.epochs {
        let trained;
        (session, trained) = train_epoch(&run, session, epoch)?;
        let record = evaluate_epoch(&run, &session, epoch, trained)?;
        persist_epoch(&run, &mut session, record)?;
        if run.stop_after == Some(epoch) && epoch < run.config.epochs {
            return Ok(Outcome {
                records: session.records,
                final_weights: None,
            });
        }
    }
    finish(&run, session)
}

/// The closing line of `train`.
pub fn print_outcome(outcome: &Outcome) {
    match (outcome.records.last(), &outcome.final_weights) {
        (Some(last), Some(weights)) => println!(
            "done: test accuracy {:.2}% after {} epochs; weights in {}",
            100.0 * last.test_accuracy,
            last.epoch,
            weights.display()
        ),
        (Some(last), None) => println!(
            "stopped after epoch {} as asked (test accuracy {:.2}%); continue with --resume",
            last.epoch,
            100.0 * last.test_accuracy
        ),
        (None, _) => {}
    }
}

/// What the loop carries from epoch to epoch.
struct Session {
    model: Model,
    optim: ModuleOptimizer,
    /// The weight average (on the evaluation device) when the run keeps one (EMA or
    /// Lookahead's slow weights).
    average: Option<Model>,
    groups: ParamGroups,
    state: LoopState,
    records: Vec<EpochRecord>,
    schedule: LrSchedule,
    steps_per_epoch: usize,
    train_device: Device,
    info: ModelInfo,
}

/// Checks the settings against the data, writes `config.json`, and builds the model and the
/// optimiser, from the checkpoint when resuming.
fn prepare(run: &Run) -> Result<Session> {
    let config = &run.config;
    config
        .validate()
        .map_err(|problem| anyhow::anyhow!("invalid training config: {problem}"))?;
    check_cifar10_classes(config.model.num_classes()).context("`model.num_classes`")?;
    let out = &run.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if !run.resume && checkpoint::find(out).is_some() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        );
    }
    write_atomic(&out.join(CONFIG_FILE), config.to_string().as_bytes())?;

    let steps_per_epoch = run.data.train.len().div_ceil(config.batch_size);
    let train_device = run.device.clone().autodiff();
    run.device.seed(config.seed);
    let model = initialise(config, config.model.init(&train_device), run.data);
    let averages = config.ema_decay.is_some() || config.lookahead.is_some();
    let mut session = Session {
        average: averages.then(|| model.valid()),
        groups: ParamGroups::of(&model),
        model,
        optim: optimizer(config),
        state: LoopState {
            epoch: 0,
            step: 0,
            best_test_accuracy: None,
            best_epoch: None,
        },
        records: Vec::new(),
        schedule: config.schedule(steps_per_epoch),
        steps_per_epoch,
        train_device,
        info: ModelInfo::cifar10(config.model.clone()),
    };
    if run.resume {
        let restored = checkpoint::load(out, session.model, session.optim, session.average)?;
        session.model = restored.model;
        session.optim = restored.optimizer;
        session.average = restored.average;
        session.records = metrics::truncate_after(out, restored.state.epoch)?;
        println!(
            "resuming after epoch {} (step {})",
            restored.state.epoch, restored.state.step
        );
        session.state = restored.state;
    }
    if session.state.epoch >= config.epochs {
        println!("all {} epochs are done already", config.epochs);
    }
    Ok(session)
}

/// The recipe's changes to a fresh model: BatchNorm momentum, identity and whitening init.
fn initialise(config: &TrainingConfig, mut model: Model, data: &Cifar10) -> Model {
    if let Some(momentum) = config.batchnorm.momentum {
        for norm in model.batchnorms_mut() {
            norm.momentum = momentum;
        }
    }
    if config.identity_init {
        model = crate::init::identity_init(model);
    }
    if let (Some(whitening), Some(conv)) = (&config.whitening, model.whitening_mut()) {
        let count = whitening.images.min(data.train.len());
        let indices: Vec<usize> = (0..count).collect();
        let bytes = data.train.gather(&indices);
        let size = IMAGE_SIZE * IMAGE_SIZE;
        let (mean, std) = (Normalization::CIFAR10.mean, Normalization::CIFAR10.std);
        let values: Vec<f32> = bytes
            .iter()
            .enumerate()
            .map(|(i, &byte)| {
                let channel = (i / size) % 3;
                (byte as f32 / 255.0 - mean[channel]) / std[channel]
            })
            .collect();
        conv.weight = crate::init::set_whitening(
            conv.weight.clone(),
            &values,
            count,
            [3, IMAGE_SIZE, IMAGE_SIZE],
            whitening.epsilon,
        );
    }
    model
}

impl Session {
    /// The weights that are evaluated and saved: the average when the run keeps one.
    fn evaluated(&self) -> Model {
        self.average.clone().unwrap_or_else(|| self.model.valid())
    }

    /// The parameter groups' treatment in `epoch` (the whitening bias freezes after its epochs).
    fn gradient_policy(&self, config: &TrainingConfig, epoch: usize) -> GradientPolicy {
        let mut policy = GradientPolicy::default();
        if config.batchnorm.frozen_scale {
            policy.frozen_1d.extend(&self.groups.batchnorm_scales);
        }
        if config.batchnorm.bias_lr_multiplier != 1.0 {
            policy.scaled.push((
                self.groups.batchnorm_biases.clone(),
                config.batchnorm.bias_lr_multiplier,
            ));
        }
        if let Some(whitening) = &config.whitening {
            policy.frozen_4d.extend(&self.groups.whiten_weight);
            if epoch > whitening.bias_epochs {
                policy.frozen_1d.extend(&self.groups.whiten_bias);
            }
        }
        policy
    }
}

/// Totals of one epoch of training.
struct EpochTraining {
    loss: f64,
    accuracy: f64,
    images: usize,
    seconds: f64,
    last_lr: f64,
}

/// One pass over the shuffled, augmented training set.
/// Takes the session by value so that the model moves through the optimiser without a copy.
fn train_epoch(run: &Run, mut session: Session, epoch: usize) -> Result<(Session, EpochTraining)> {
    let config = &run.config;
    let train_data = &run.data.train;
    let device = session.train_device.clone();
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

    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(config.label_smoothing)
        .init(&device);
    let bar = progress_bar(
        run.progress,
        train_data.len() as u64,
        &format!("epoch {epoch}/{}", config.epochs),
    );
    // Sums stay on the device: reading them back synchronises it, so that happens rarely.
    let mut loss_sum = Tensor::<1>::zeros([1], &device).detach();
    let mut correct_sum = Tensor::<1, Int>::zeros([1], &device);
    let mut seen = 0usize;
    let mut lr = session.schedule.lr(session.state.step);
    let policy = session.gradient_policy(config, epoch);
    session.model = policy.freeze(session.model);
    let total_steps = config.epochs * session.steps_per_epoch;
    for (batch_index, batch) in order.chunks(config.batch_size).enumerate() {
        lr = session.schedule.lr(session.state.step);
        let images = batch_images(&train_data.gather(batch), batch.len(), &device);
        let position = BatchPosition {
            indices: batch,
            epoch,
            seed: config.seed,
        };
        let transforms = config.augment.sample_for(position, &mut rng);
        let augmented = augment::apply_with(
            images,
            &transforms,
            config.augment.fill,
            config.augment.padding,
        );
        let mut images = Normalization::CIFAR10.normalize_tensor(augmented);
        if let Some(centres) = config.augment.sample_cutout(batch.len(), &mut rng) {
            images = augment::cutout(images, &centres, config.augment.cutout);
        }
        let labels: Vec<i64> = batch.iter().map(|&i| train_data.labels[i] as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch.len()]), &device);

        let logits = session.model.forward(images);
        let loss = loss_fn.forward(logits.clone(), targets.clone());
        let mut grads = GradientsParams::from_grads(loss.backward(), &session.model);
        policy.apply(&mut grads);
        session.model = session.optim.step(lr, session.model, grads);
        let step = session.state.step + 1;
        if let Some(average) = session.average.take() {
            session.average = Some(match (config.ema_decay, &config.lookahead) {
                (Some(decay), _) => ema_update(average, &session.model.valid(), decay),
                (None, Some(lookahead)) if step.is_multiple_of(lookahead.every) => {
                    let decay = lookahead.decay_at(step, total_steps);
                    let slow = ema_update(average, &session.model.valid(), decay);
                    session.model = assign(session.model, &slow);
                    slow
                }
                _ => average,
            });
        }

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
        session.state.step += 1;

        let last = batch_index + 1 == session.steps_per_epoch;
        if batch_index % 20 == 19 || last {
            let loss_total = loss_sum.clone().into_scalar::<f32>() as f64;
            if !loss_total.is_finite() {
                bail!(
                    "the training loss became {loss_total} in epoch {epoch} (learning rate \
                     {lr:.4}): training stopped; the last good checkpoint (epoch {}) is kept in {}",
                    session.state.epoch,
                    run.out.display()
                );
            }
            let correct = correct_sum.clone().into_scalar::<i64>() as f64;
            bar.set_position(seen as u64);
            bar.set_message(format!(
                "loss {:.4}  acc {:.2}%  {:.0} img/s  lr {lr:.4}",
                loss_total / seen as f64,
                100.0 * correct / seen as f64,
                seen as f64 / started.elapsed().as_secs_f64()
            ));
        }
    }
    bar.finish_and_clear();
    let trained = EpochTraining {
        loss: loss_sum.into_scalar::<f32>() as f64 / seen as f64,
        accuracy: correct_sum.into_scalar::<i64>() as f64 / seen as f64,
        images: seen,
        seconds: started.elapsed().as_secs_f64(),
        last_lr: lr,
    };
    Ok((session, trained))
}

/// Test-set accuracy after an epoch, evaluated exactly as `eval` does (BatchNorm folded), so
/// that the accuracy stored in the weights' metadata is what `eval` reproduces.
fn evaluate_epoch(
    run: &Run,
    session: &Session,
    epoch: usize,
    trained: EpochTraining,
) -> Result<EpochRecord> {
    let evaluation_started = Instant::now();
    let tta = if epoch == run.config.epochs {
        run.config.eval_tta
    } else {
        Tta::None
    };
    let test = predict_dataset(
        &session.evaluated().fold_batchnorm(),
        &run.data.test,
        &Normalization::CIFAR10,
        run.config.eval_batch_size,
        tta,
        &run.device,
        None,
    )?;
    let record = EpochRecord {
        epoch,
        train_loss: trained.loss,
        train_accuracy: trained.accuracy,
        test_loss: test.loss(),
        test_accuracy: test.accuracy(),
        test_tta: tta,
        learning_rate: trained.last_lr,
        seconds: trained.seconds + evaluation_started.elapsed().as_secs_f64(),
        images_per_second: trained.images as f64 / trained.seconds,
    };
    println!(
        "epoch {epoch}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}%{} | lr {:.4} | {:.0} img/s | {:.1}s",
        run.config.epochs,
        record.train_loss,
        100.0 * record.train_accuracy,
        record.test_loss,
        100.0 * record.test_accuracy,
        match tta {
            Tta::None => String::new(),
            tta => format!(" (TTA {tta})"),
        },
        record.learning_rate,
        record.images_per_second,
        record.seconds
    );
    Ok(record)
}

/// After an epoch: `best.safetensors` when the test accuracy improved, the checkpoint, the
/// metrics line and the curves.
fn persist_epoch(run: &Run, session: &mut Session, record: EpochRecord) -> Result<()> {
    let out = &run.out;
    session.state.epoch = record.epoch;
    session.records.push(record.clone());
    if session
        .state
        .best_test_accuracy
        .is_none_or(|best| record.test_accuracy > best)
    {
        session.state.best_test_accuracy = Some(record.test_accuracy);
        session.state.best_epoch = Some(record.epoch);
        let info = session
            .info
            .clone()
            .with_training(summary(run, &session.records));
        weights_file::write(
            &session.evaluated(),
            &info,
            Precision::F32,
            Layout::Burn,
            &out.join(BEST_FILE),
        )?;
    }
    // Checkpoint first, then the log: a crash in between only repeats an epoch on resume.
    checkpoint::save(
        out,
        &session.model,
        &session.optim,
        session.average.as_ref(),
        &session.state,
    )?;
    metrics::append(out, &record)?;
    plot::training_curves(&session.records, &out.join(CURVES_FILE))
}

/// The final weights: f32, and f16 whose metadata states the f16 weights' own accuracy.
fn finish(run: &Run, session: Session) -> Result<Outcome> {
    let out = &run.out;
    let final_model = session.evaluated();
    if session.records.is_empty() {
        bail!("no epoch was recorded");
    }
    let info = session.info.with_training(summary(run, &session.records));
    let final_weights = out.join(FINAL_FILE);
    weights_file::write(
        &final_model,
        &info,
        Precision::F32,
        Layout::Burn,
        &final_weights,
    )?;
    let (f16, _, _) = f16_with_own_accuracy(
        &final_model,
        &info,
        &run.data.test,
        run.config.eval_batch_size,
        &run.device,
        None,
    )?;
    write_atomic(&out.join(FINAL_F16_FILE), &f16)?;
    Ok(Outcome {
        records: session.records,
        final_weights: Some(final_weights),
    })
}

/// The training summary after the last of `records` (every epoch so far, resumed ones too).
fn summary(run: &Run, records: &[EpochRecord]) -> TrainingSummary {
    let record = records.last().expect("called after an epoch");
    let epochs = record.epoch;
    TrainingSummary {
        epochs,
        seconds: Some(records.iter().map(|r| r.seconds).sum()),
        images_processed: Some((epochs * run.data.train.len()) as u64),
        test_accuracy: Some(record.test_accuracy),
        tta: Some(record.test_tta),
        train_accuracy: Some(record.train_accuracy),
        test_images: Some(run.data.test.len()),
        data: run.data_summary.clone(),
        train_images: run.data.train.len(),
        seed: run.config.seed,
        date: now_rfc3339(),
        git_commit: option_env!("CIFAR_GIT_COMMIT").map(str::to_string),
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
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
