//! `export-web`: the browser's assets for a weights file — the f16 weights, the shipped test
//! images (the first `shipped` of the test set) and the model's stored predictions for them
//! (`cifar_model::report::TestReport`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use cifar_model::ModelInfo;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;

use crate::data::{Cifar10, Dataset, Limits};
use crate::evaluate::{Predictions, check_cifar10_classes};
use crate::fsutil::write_atomic;
use crate::{training, weights_file};

pub struct WebExportRequest {
    pub weights: PathBuf,
    /// The data whose test split is evaluated and shipped.
    pub data: PathBuf,
    pub test_limit: Option<usize>,
    pub ship: usize,
    pub out: PathBuf,
    /// The data the weights were trained on, to name it by file name and SHA-256 in the
    /// metadata when the weights name it by a path only (format version 1).
    pub training_data: Option<PathBuf>,
    pub device: Device,
    pub progress: bool,
}

/// `export-web`: evaluates the f16 weights on the test set (their accuracy goes into their
/// metadata) and writes them with the first `ship` test images and the report on them.
pub fn run(request: WebExportRequest) -> Result<()> {
    let device = &request.device;
    let (model, mut info) = weights_file::load(&request.weights, device)?;
    check_cifar10_classes(info.config.num_classes())
        .with_context(|| format!("weights {}", request.weights.display()))?;
    if let (Some(path), Some(training)) = (&request.training_data, info.training.as_mut()) {
        // A file is hashed as it is; a folder's records are hashed as loaded.
        let data = if path.is_file() {
            Cifar10::default()
        } else {
            Cifar10::load(path, Limits::default())?
        };
        training.data = crate::data::summarize(path, &data)?;
    }
    let limits = Limits {
        train: Some(0),
        test: request.test_limit,
    };
    let data = Cifar10::load(&request.data, limits)?;
    let bar = training::progress_bar(request.progress, data.test.len() as u64, "test");
    let (f16, info, predictions) = crate::half_precision::f16_with_own_accuracy(
        &model,
        &info,
        &data.test,
        256,
        device,
        Some(&bar),
    )?;
    bar.finish_and_clear();
    println!(
        "test accuracy of the f16 weights: {:.2}% ({}/{}), stored in their metadata",
        100.0 * predictions.accuracy(),
        predictions.correct(),
        predictions.len()
    );
    let shipped = request.ship.min(data.test.len());
    for path in export(&f16, &info, &data.test, &predictions, shipped, &request.out)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

pub const WEIGHTS_FILE: &str = "model-f16.safetensors";
pub const REPORT_FILE: &str = "test-report.json";
pub const IMAGES_FILE: &str = "test-images.bin";

/// Writes the three files into `out` (each atomically) and returns their paths. `weights_f16`
/// is the serialised f16 file the predictions (on `test`, in order) were made with.
pub fn export(
    weights_f16: &[u8],
    info: &ModelInfo,
    test: &Dataset,
    predictions: &Predictions,
    shipped: usize,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let shipped = shipped.min(predictions.len());
    if shipped == 0 {
        bail!("no test images to ship");
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let report = TestReport::new(
        WEIGHTS_FILE,
        IMAGES_FILE,
        info.class_names.clone(),
        predictions.labels[..shipped].to_vec(),
        (0..shipped)
            .map(|i| predictions.probabilities.row(i).to_vec())
            .collect(),
    );
    let paths = [
        out.join(WEIGHTS_FILE),
        out.join(REPORT_FILE),
        out.join(IMAGES_FILE),
    ];
    write_atomic(&paths[0], weights_f16)?;
    write_atomic(&paths[1], serde_json::to_string(&report)?.as_bytes())?;
    write_atomic(&paths[2], &test.images[..shipped * IMAGE_BYTES])?;
    Ok(paths.to_vec())
}
