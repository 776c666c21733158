//! `export-web`: the browser's assets for a weights file — the f16 weights, the shipped test
//! images (the first `shipped` of the test set) and the model's stored predictions for them
//! (`cifar_model::report::TestReport`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cifar_model::ModelInfo;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;

use crate::data::Dataset;
use crate::evaluate::Predictions;
use crate::fsutil::write_atomic;

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
            .map(|i| predictions.probabilities_of(i).to_vec())
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
