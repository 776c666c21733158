//! `predict`: top-5 classes for image files of any size and format.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use cifar_model::preprocess::image_to_tensor;
use cifar_model::{Classifier, ModelInfo};
use serde::Serialize;

use crate::evaluate::batch_probabilities;

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub file: String,
    /// `(class name, probability)`, most likely first.
    pub top: Vec<(String, f32)>,
    /// Probabilities of every class, in label order.
    pub probabilities: Vec<f32>,
}

pub fn predict_file(
    model: &impl Classifier,
    info: &ModelInfo,
    path: &Path,
    top_k: usize,
    device: &Device,
) -> Result<Prediction> {
    let image = image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?
        .decode()
        .with_context(|| format!("{} is not a readable image", path.display()))?;
    let input = image_to_tensor(&image, &info.normalization, device);
    let probabilities: Vec<f32> = batch_probabilities(model, input, false)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert");
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    let top = order
        .into_iter()
        .take(top_k)
        .map(|class| (info.class_names[class].clone(), probabilities[class]))
        .collect();
    Ok(Prediction {
        file: path.display().to_string(),
        top,
        probabilities,
    })
}
