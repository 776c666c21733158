//! The command line: one subcommand per job. This file only parses arguments and calls the
//! library; every command's work lives in its module.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::*;
use cifar_model::{Layout, Precision, Tta};
use clap::{Args, Parser, Subcommand};

use crate::bench::{self, BenchSettings};
use crate::data::{self, Cifar10, Limits};
use crate::device::{self, DeviceChoice};
use crate::download::{self, Checksum, Download};
use crate::eval::{self, EvalRequest};
use crate::profile;
use crate::settings::{ModelPreset, Overrides, TrainingConfig};
use crate::training::{self, Run};
use crate::web_export::{self, WebExportRequest};
use crate::weights_file;

#[derive(Parser, Debug)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate and export CIFAR-10 ResNets (the report's ResNet-18 and its family)"
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
    /// Test-time augmentation: `none`, or `flip` (the mean over the image and its mirror);
    /// `--tta` alone means `flip`.
    #[arg(long, default_value = "none", num_args = 0..=1, default_missing_value = "flip")]
    pub tta: Tta,
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
    /// Test-time augmentation: `none`, `flip` or `multi` (default: the one the file's
    /// accuracy was measured with, `none` for files that do not say).
    #[arg(long)]
    pub tta: Option<cifar_model::Tta>,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Tensor layout: `burn` (BatchNorm gamma/beta, Linear [in, out]) or `pytorch` (the
    /// `state_dict` layout: loads with `load_state_dict(strict=True)`).
    #[arg(long, default_value = "burn")]
    pub format: Layout,
    /// Storage precision of the tensors: `f32` or `f16`.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
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
    /// The data the weights were trained on: names it by file name and SHA-256 in the
    /// metadata, for weights that name it by a path only (written before format version 2).
    #[arg(long)]
    pub training_data: Option<PathBuf>,
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
    /// Also (or, without --model, only) the model of this training config (e.g.
    /// configs/fast-cpu.json), named after the file (`fast-cpu`); repeatable.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Reference figures (JSON from bench/pytorch_reference.py --json) to print ratios against.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Also write the figures as JSON (the reference format) to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Instead of throughput, where one training step's time goes: each operation's forward,
    /// input gradient and parameter gradient, totals per kind, and the whole step beside them.
    #[arg(long, conflicts_with_all = ["reference", "json"])]
    pub profile: bool,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Download(args) => download_cmd(args),
        Command::Train(args) => train_cmd(args),
        Command::Eval(args) => eval::run(EvalRequest {
            device: choose_device(args.device),
            weights: args.weights,
            limits: limits(&args.data),
            data: args.data.data,
            out: args.out,
            train: args.train,
            tta: args.tta,
            batch_size: args.batch_size,
            progress: show_progress(),
        }),
        Command::Predict(args) => crate::predict::run(
            &args.weights,
            &args.images,
            args.top,
            args.json,
            args.tta,
            &device::select(args.device).device,
        ),
        Command::Export(args) => {
            weights_file::export(&args.weights, &args.out, args.format, args.precision)
        }
        Command::Bench(args) => {
            let models = bench::models(args.model, &args.config)?;
            let settings = BenchSettings {
                train_batch: args.train_batch,
                infer_batch: args.infer_batch,
                warmup: args.warmup,
                iterations: args.iterations,
            };
            let device = choose_device(args.device);
            if args.profile {
                settings.validate()?;
                for (name, config) in models {
                    let profile = profile::profile(&config, &settings, &device);
                    print!("{}", profile::report(&name, &profile));
                }
                Ok(())
            } else {
                bench::run(
                    &models,
                    &settings,
                    &device,
                    args.reference.as_deref(),
                    args.json.as_deref(),
                )
            }
        }
        Command::ExportWeb(args) => web_export::run(WebExportRequest {
            device: choose_device(args.device),
            weights: args.weights,
            data: args.data,
            test_limit: args.test_limit,
            ship: args.ship,
            out: args.out,
            training_data: args.training_data,
            progress: show_progress(),
        }),
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

fn limits(args: &DataArgs) -> Limits {
    Limits {
        train: args.train_limit,
        test: args.test_limit,
    }
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

fn train_cmd(args: TrainArgs) -> Result<()> {
    let overrides = Overrides {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        model: args.model,
    };
    let config =
        TrainingConfig::resolve(args.config.as_deref(), &overrides, &args.out, args.resume)?;
    let data = Cifar10::load(&args.data.data, limits(&args.data))?;
    println!(
        "data: {} training and {} test images from {}",
        data.train.len(),
        data.test.len(),
        args.data.data.display()
    );
    let outcome = training::train(Run {
        config,
        data_summary: data::summarize(&args.data.data, &data)?,
        data: &data,
        out: args.out,
        device: choose_device(args.device),
        resume: args.resume,
        stop_after: args.stop_after,
        progress: show_progress(),
    })?;
    training::print_outcome(&outcome);
    Ok(())
}
