//! The f16 weights the trainer ships (half the download). Rounding to f16 can flip a prediction
//! or two, so the file states the accuracy of the f16 weights themselves, measured here: the
//! figure that `trainer eval` on the same images reproduces.

use anyhow::Result;
use burn::prelude::*;
use cifar_model::{Layout, Model, ModelInfo, Precision, Tta, load_model, to_safetensors};
use indicatif::ProgressBar;

use crate::data::Dataset;
use crate::evaluate::{Predictions, predict_dataset};

/// Serialises `model` as f16, evaluates exactly those weights (BatchNorm folded, as `eval`, with
/// the TTA the metadata names) on `test`, and returns the file with that accuracy in its training summary, and the predictions.
pub fn f16_with_own_accuracy(
    model: &Model,
    info: &ModelInfo,
    test: &Dataset,
    batch_size: usize,
    device: &Device,
    progress: Option<&ProgressBar>,
) -> Result<(Vec<u8>, ModelInfo, Predictions)> {
    let f16 = to_safetensors(model, info, Precision::F16, Layout::Burn)?;
    let (rounded, _) = load_model(&f16, device)?;
    let predictions = predict_dataset(
        &rounded.fold_batchnorm(),
        test,
        &info.normalization,
        batch_size,
        info.training
            .as_ref()
            .and_then(|training| training.tta)
            .unwrap_or(Tta::None),
        device,
        progress,
    )?;
    let mut info = info.clone();
    if let Some(training) = info.training.as_mut() {
        training.test_accuracy = Some(predictions.accuracy());
        training.test_images = Some(predictions.len());
    }
    // The same tensors (f16 of f16 is exact); only the metadata changed.
    let f16 = to_safetensors(&rounded, &info, Precision::F16, Layout::Burn)?;
    Ok((f16, info, predictions))
}
