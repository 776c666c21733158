//! Running a model over a dataset in batches, through the shared inference path
//! (`cifar_model::inference`): the same probabilities, arg-max and scoring as the page.

use anyhow::{Context, Result};
use burn::prelude::*;
use cifar_model::inference::{self, Probabilities};
use cifar_model::{Classifier, NUM_CLASSES, Normalization, Scored, Tta};
use indicatif::ProgressBar;

use crate::data::Dataset;

/// The model's answers for every image of a dataset, scored against its labels.
pub type Predictions = Scored;

/// What the CIFAR-10 labels are called in class-count errors.
pub const CIFAR10_LABELS: &str = "the data (CIFAR-10 labels 0–9)";

/// Refuses a model whose class count is not CIFAR-10's, before any work is done.
pub fn check_cifar10_classes(model_classes: usize) -> Result<()> {
    inference::check_class_count(model_classes, NUM_CLASSES, CIFAR10_LABELS)?;
    Ok(())
}

/// Runs `model` (in inference mode) over `data` in batches, averaging `tta`'s views.
pub fn predict_dataset(
    model: &impl Classifier,
    data: &Dataset,
    normalization: &Normalization,
    batch_size: usize,
    tta: Tta,
    device: &Device,
    progress: Option<&ProgressBar>,
) -> Result<Predictions> {
    let mut probabilities = Probabilities::default();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let images = inference::planar_input(&data.gather(chunk), normalization, device)?;
        let batch = Probabilities::read(inference::probabilities(model, images, tta))?;
        probabilities.append(batch)?;
        if let Some(progress) = progress {
            progress.inc(chunk.len() as u64);
        }
    }
    if data.is_empty() {
        return Ok(Scored {
            probabilities,
            labels: Vec::new(),
        });
    }
    Scored::new(
        probabilities,
        data.labels.clone(),
        NUM_CLASSES,
        CIFAR10_LABELS,
    )
    .context("scoring the model's answers")
}
