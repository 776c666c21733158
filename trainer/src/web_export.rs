//! `export-web`: the browser's assets for a weights file — the f16 weights, the shipped test
//! images and the model's stored predictions for them (`cifar_model::report::TestReport`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cifar_model::ModelInfo;
use cifar_model::report::{REPORT_FORMAT, REPORT_VERSION, TestReport};

use crate::data::Dataset;
use crate::evaluate::Predictions;
use crate::fsutil::write_atomic;

pub const WEIGHTS_FILE: &str = "model-f16.safetensors";
pub const REPORT_FILE: &str = "test-report.json";
pub const IMAGES_FILE: &str = "test-images.bin";

/// Writes the three files into `out` (each atomically) and returns their paths. `weights_f16`
/// is the serialised f16 file the predictions were made with.
pub fn export(
    weights_f16: &[u8],
    info: &ModelInfo,
    test: &Dataset,
    predictions: &Predictions,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let report = TestReport {
        format: REPORT_FORMAT.into(),
        version: REPORT_VERSION,
        weights: WEIGHTS_FILE.into(),
        class_names: info.class_names.clone(),
        image_file: IMAGES_FILE.into(),
        labels: predictions.labels.clone(),
        predictions: (0..predictions.len())
            .map(|i| predictions.predicted(i) as u8)
            .collect(),
        probabilities: (0..predictions.len())
            .map(|i| predictions.probabilities_of(i).to_vec())
            .collect(),
        accuracy: predictions.accuracy(),
    };
    let paths = [
        out.join(WEIGHTS_FILE),
        out.join(REPORT_FILE),
        out.join(IMAGES_FILE),
    ];
    write_atomic(&paths[0], weights_f16)?;
    write_atomic(&paths[1], serde_json::to_string(&report)?.as_bytes())?;
    write_atomic(&paths[2], &test.images)?;
    Ok(paths.to_vec())
}
