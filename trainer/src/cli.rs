//! The command line: one subcommand per job, each a thin call into the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::config::Config;
use burn::prelude::*;
use cifar_model::{Layout, ModelInfo, Precision, ResNet, ResNetConfig};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bench::{self, BenchSettings};
use crate::data::{Cifar10, Dataset, Limits};
use crate::device::{self, DeviceChoice};
use crate::download::{self, Checksum, Download};
use crate::evaluate::predict_dataset;
use crate::report;
use crate::settings::TrainingConfig;
use crate::training::{self, Run};

#[derive(Parser, Debug)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate and export the CIFAR-10 ResNet-18"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download the CIFAR-10 binary archive, verify it and unpack it.
    Download(DownloadArgs),
    /// Train a model; writes checkpoints, metrics.jsonl, curves.png and safetensors exports.
    Train(TrainArgs),
    /// Evaluate weights: accuracy, per-class accuracy, confusion matrix, per-image log.
    Eval(EvalArgs),
    /// Top-5 classes for image files.
    Predict(PredictArgs),
    /// Re-save weights in another precision or layout (e.g. PyTorch names for load_state_dict).
    Export(ExportArgs),
    /// Measure training and inference throughput.
    Bench(BenchArgs),
    /// Write the browser's assets: f16 weights, test images and the model's predictions on them.
    ExportWeb(ExportWebArgs),
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Folder to put `cifar-10-batches-bin/` in.
    #[arg(long, default_value = "data")]
    pub to: PathBuf,
    #[arg(long, default_value = download::OFFICIAL_URL)]
    pub url: String,
    /// Expected SHA-256 of the archive (for a mirror); overrides --md5.
    #[arg(long)]
    pub sha256: Option<String>,
    /// Expected MD5 of the archive (default: the official archive's).
    #[arg(long, default_value = download::OFFICIAL_MD5)]
    pub md5: String,
    /// Skip checksum verification.
    #[arg(long, conflicts_with = "sha256")]
    pub no_verify: bool,
}

#[derive(Args, Debug)]
pub struct DataArgs {
    /// CIFAR-10 binary folder, its .tar.gz archive, or an image-folder tree.
    #[arg(long)]
    pub data: PathBuf,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run directory (config, checkpoints, metrics, plots, weights).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Training config JSON (see `config.json` of any run); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Epochs to train (default 30). With --resume, raising it extends the run.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training batch size (default 128).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate after warm-up (default 0.1).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed for initialisation, shuffling and augmentation (default 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Model width preset (overrides the config's model).
    #[arg(long, value_enum)]
    pub model: Option<ModelPreset>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this epoch (checkpoint kept, no final weights); continue later with --resume.
    /// For training in slices on a machine that is not yours for long.
    #[arg(long)]
    pub stop_after: Option<usize>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModelPreset {
    /// The report's ResNet-18 (64/128/256/512).
    Resnet18,
    /// Widths 16/32/64/128, for CPU training.
    Narrow,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Folder for the report files.
    #[arg(long)]
    pub out: PathBuf,
    /// Also measure training-set accuracy.
    #[arg(long)]
    pub train: bool,
    /// Average predictions over the image and its mirror.
    #[arg(long)]
    pub tta: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub weights: PathBuf,
    /// Image files (PNG, JPEG, GIF, BMP, WebP; any size).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print JSON (all probabilities) instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "burn")]
    pub format: ExportFormat,
    #[arg(long)]
    pub f16: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// Burn layout (BatchNorm gamma/beta, Linear [in, out]).
    Burn,
    /// PyTorch `state_dict` layout: loads with `load_state_dict(strict=True)`.
    Pytorch,
}

#[derive(Args, Debug)]
pub struct ExportWebArgs {
    #[arg(long)]
    pub weights: PathBuf,
    /// The CIFAR-10 data: the f16 weights are evaluated on its test set (their accuracy goes
    /// into their metadata) and its first --ship test images are shipped.
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluate on only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// How many test images (the first ones) to ship for the error browser and the in-browser
    /// evaluation: 3 KB each.
    #[arg(long, default_value_t = 2000)]
    pub ship: usize,
    /// Folder for model-f16.safetensors, test-report.json and test-images.bin (e.g. assets).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 64)]
    pub train_batch: usize,
    #[arg(long, default_value_t = 256)]
    pub infer_batch: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    /// Only this model.
    #[arg(long, value_enum)]
    pub model: Option<ModelPreset>,
    /// Reference figures (JSON from bench/pytorch_reference.py --json) to print ratios against.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Also write the figures as JSON (the reference format) to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Download(args) => download_cmd(args),
        Command::Train(args) => train_cmd(args),
        Command::Eval(args) => eval_cmd(args),
        Command::Predict(args) => predict_cmd(args),
        Command::Export(args) => export_cmd(args),
        Command::Bench(args) => bench_cmd(args),
        Command::ExportWeb(args) => export_web_cmd(args),
    }
}

fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}

fn choose_device(choice: DeviceChoice) -> Device {
    let selected = device::select(choice);
    println!("device: {}", selected.description);
    selected.device
}

fn download_cmd(args: DownloadArgs) -> Result<()> {
    let checksum = match (args.no_verify, args.sha256) {
        (true, _) => Checksum::None,
        (false, Some(sha256)) => Checksum::Sha256(sha256),
        (false, None) => Checksum::Md5(args.md5),
    };
    download::run(&Download {
        url: args.url,
        to: args.to,
        checksum,
        progress: show_progress(),
    })?;
    Ok(())
}

fn load_data(args: &DataArgs) -> Result<Cifar10> {
    let data = Cifar10::load(
        &args.data,
        Limits {
            train: args.train_limit,
            test: args.test_limit,
        },
    )?;
    println!(
        "data: {} training and {} test images from {}",
        data.train.len(),
        data.test.len(),
        args.data.display()
    );
    Ok(data)
}

fn train_cmd(args: TrainArgs) -> Result<()> {
    let config = training_config(&args)?;
    let data = load_data(&args.data)?;
    let device = choose_device(args.device);
    let outcome = training::train(Run {
        config,
        data: &data,
        data_description: args.data.data.display().to_string(),
        out: args.out.clone(),
        device,
        resume: args.resume,
        stop_after: args.stop_after,
        progress: show_progress(),
    })?;
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
    Ok(())
}

/// The config from `--config` (or the defaults) with the flags applied; on `--resume`, the run's
/// saved config, of which only `epochs` may be changed (to extend a run).
fn training_config(args: &TrainArgs) -> Result<TrainingConfig> {
    let saved_path = args.out.join(training::CONFIG_FILE);
    let saved = if args.resume {
        Some(TrainingConfig::load(&saved_path).map_err(|err| {
            anyhow::anyhow!("--resume: cannot read {}: {err}", saved_path.display())
        })?)
    } else {
        None
    };
    let mut config = match (&args.config, &saved) {
        (Some(path), _) => TrainingConfig::load_partial(path)?,
        (None, Some(saved)) => saved.clone(),
        (None, None) => TrainingConfig::new(),
    };
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        config.batch_size = batch_size;
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    match args.model {
        Some(ModelPreset::Resnet18) => config.model = ResNetConfig::new(),
        Some(ModelPreset::Narrow) => config.model = ResNetConfig::narrow(),
        None => {}
    }
    if let Some(saved) = saved {
        let mut comparable = config.clone();
        comparable.epochs = saved.epochs;
        if comparable != saved {
            bail!(
                "--resume: these settings differ from the run's saved {} — only --epochs may \
                 change when resuming (start a new --out for other settings)",
                saved_path.display()
            );
        }
    }
    Ok(config)
}

/// Reads a weights file and builds its model on `device`; errors name the file.
pub fn load_weights(path: &Path, device: &Device) -> Result<(ResNet, ModelInfo)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))?;
    cifar_model::load_model(&bytes, device).with_context(|| format!("weights {}", path.display()))
}

fn eval_cmd(args: EvalArgs) -> Result<()> {
    let device = choose_device(args.device);
    let (model, info) = load_weights(&args.weights, &device)?;
    let model = model.fold_batchnorm();
    let mut limits = Limits {
        train: args.data.train_limit,
        test: args.data.test_limit,
    };
    if !args.train {
        limits.train = Some(0);
    }
    let data = Cifar10::load(&args.data.data, limits)?;
    let evaluate = |split: &Dataset, name: &str| {
        evaluate_split(
            &model,
            split,
            &info,
            args.batch_size,
            args.tta,
            &device,
            name,
        )
    };
    let test = evaluate(&data.test, "test");
    println!(
        "test accuracy: {:.2}% ({}/{}), loss {:.4}{}",
        100.0 * test.accuracy(),
        test.correct(),
        test.len(),
        test.loss,
        if args.tta { " (flip TTA)" } else { "" }
    );
    let mut written = report::write_test_report(&test, &data.test, &info.class_names, &args.out)?;
    let mut summary = serde_json::json!({
        "weights": args.weights.display().to_string(),
        "tta": args.tta,
        "test": report::split_summary(&test),
    });
    if args.train {
        let train = evaluate(&data.train, "train");
        println!(
            "train accuracy: {:.2}% ({}/{})",
            100.0 * train.accuracy(),
            train.correct(),
            train.len()
        );
        summary["train"] = serde_json::to_value(report::split_summary(&train))?;
    }
    let summary_path = args.out.join(report::SUMMARY_JSON);
    crate::fsutil::write_atomic(
        &summary_path,
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    written.push(summary_path);
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn predict_cmd(args: PredictArgs) -> Result<()> {
    let device = device::select(args.device).device;
    let (model, info) = load_weights(&args.weights, &device)?;
    let model = model.fold_batchnorm();
    let mut results = Vec::new();
    for path in &args.images {
        results.push(crate::predict::predict_file(
            &model, &info, path, args.top, &device,
        )?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    for result in results {
        println!("{}", result.file);
        for (name, probability) in &result.top {
            println!("  {name:<12} {:6.2}%", 100.0 * probability);
        }
    }
    Ok(())
}

fn export_cmd(args: ExportArgs) -> Result<()> {
    let device = Device::flex();
    let (model, info) = load_weights(&args.weights, &device)?;
    let layout = match args.format {
        ExportFormat::Burn => Layout::Burn,
        ExportFormat::Pytorch => Layout::PyTorch,
    };
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    training::write_weights_as(&model, &info, precision, layout, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// `predict_dataset` over one split, with a progress bar named `name`.
fn evaluate_split(
    model: &impl cifar_model::Classifier,
    split: &Dataset,
    info: &ModelInfo,
    batch_size: usize,
    tta: bool,
    device: &Device,
    name: &str,
) -> crate::evaluate::Predictions {
    let bar = training::progress_bar(show_progress(), split.len() as u64, name);
    let predictions = predict_dataset(
        model,
        split,
        &info.normalization,
        batch_size,
        tta,
        device,
        Some(&bar),
    );
    bar.finish_and_clear();
    predictions
}

fn export_web_cmd(args: ExportWebArgs) -> Result<()> {
    let device = choose_device(args.device);
    let (model, info) = load_weights(&args.weights, &device)?;
    let limits = Limits {
        train: Some(0),
        test: args.test_limit,
    };
    let data = Cifar10::load(&args.data, limits)?;
    let bar = training::progress_bar(show_progress(), data.test.len() as u64, "test");
    let (f16, info, predictions) = crate::half_precision::f16_with_own_accuracy(
        &model,
        &info,
        &data.test,
        256,
        &device,
        Some(&bar),
    )?;
    bar.finish_and_clear();
    println!(
        "test accuracy of the f16 weights: {:.2}% ({}/{}), stored in their metadata",
        100.0 * predictions.accuracy(),
        predictions.correct(),
        predictions.len()
    );
    let shipped = args.ship.min(data.test.len());
    let paths =
        crate::web_export::export(&f16, &info, &data.test, &predictions, shipped, &args.out)?;
    for path in paths {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn bench_cmd(args: BenchArgs) -> Result<()> {
    let device = choose_device(args.device);
    let settings = BenchSettings {
        train_batch: args.train_batch,
        infer_batch: args.infer_batch,
        warmup: args.warmup,
        iterations: args.iterations,
    };
    if settings.iterations == 0 || settings.train_batch < 2 || settings.infer_batch == 0 {
        bail!("--iterations must be ≥ 1, --train-batch ≥ 2 and --infer-batch ≥ 1");
    }
    let reference = args
        .reference
        .as_deref()
        .map(bench::read_reference)
        .transpose()?;
    let selected: Vec<_> = bench::models()
        .into_iter()
        .filter(|(name, _)| match args.model {
            Some(ModelPreset::Resnet18) => *name == "resnet18",
            Some(ModelPreset::Narrow) => *name == "narrow",
            None => true,
        })
        .collect();
    let mut results = std::collections::BTreeMap::new();
    for (name, config) in selected {
        let result = bench::measure(&config, &settings, &device);
        println!(
            "{name}: train {:.1} img/s (batch {}), inference {:.1} img/s, BatchNorm folded {:.1} img/s (batch {})",
            result.train_images_per_second,
            settings.train_batch,
            result.infer_images_per_second,
            result.infer_folded_images_per_second.unwrap_or(f64::NAN),
            settings.infer_batch
        );
        if let Some(reference) = reference.as_ref().and_then(|r| r.get(name)) {
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
        results.insert(name.to_string(), result);
    }
    if let Some(path) = &args.json {
        crate::fsutil::write_atomic(path, serde_json::to_string_pretty(&results)?.as_bytes())?;
    }
    Ok(())
}
