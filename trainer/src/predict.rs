//! `predict`: top-5 classes for image files of any size and format.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use cifar_model::preprocess::image_to_tensor;
use cifar_model::{Classifier, ModelInfo};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub file: String,
    /// `(class name, probability)`, most likely first.
    pub top: Vec<(String, f32)>,
    /// Probabilities of every class, in label order.
    pub probabilities: Vec<f32>,
    /// The raw logits (what a PyTorch model returns), in label order.
    pub logits: Vec<f32>,
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
    let logits = model.logits(input);
    let to_vec = |tensor: Tensor<2>| -> Vec<f32> {
        tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 after convert")
    };
    let probabilities = to_vec(softmax(logits.clone(), 1));
    let logits = to_vec(logits);
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
        logits,
    })
}
