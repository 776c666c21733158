//! `predict`: top-5 classes for image files of any size and format.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use cifar_model::inference::{self, Probabilities};
use cifar_model::preprocess::image_to_tensor;
use cifar_model::{Classifier, ModelInfo, Tta};
use serde::Serialize;

use crate::weights_file;

/// `predict`: loads the weights once, then prints each file's top classes (or JSON). The
/// probabilities use `tta`, by default the one the file's stated accuracy was measured with.
pub fn run(
    weights: &Path,
    images: &[std::path::PathBuf],
    top: usize,
    json: bool,
    tta: Option<Tta>,
    device: &Device,
) -> Result<()> {
    let (model, info) = weights_file::load(weights, device)?;
    let model = model.fold_batchnorm();
    let tta = tta.unwrap_or_else(|| {
        info.training
            .as_ref()
            .and_then(|training| training.tta)
            .unwrap_or_default()
    });
    if !json && tta != Tta::None {
        println!("(test-time augmentation: {tta})");
    }
    let results = images
        .iter()
        .map(|path| predict_file(&model, &info, path, top, tta, device))
        .collect::<Result<Vec<_>>>()?;
    if json {
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

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub file: String,
    /// `(class name, probability)`, most likely first.
    pub top: Vec<(String, f32)>,
    /// Probabilities of every class, in label order, with `tta`.
    pub probabilities: Vec<f32>,
    /// The test-time augmentation of `probabilities`.
    pub tta: Tta,
    /// The raw logits of the image alone (what a PyTorch model returns), in label order.
    pub logits: Vec<f32>,
}

pub fn predict_file(
    model: &impl Classifier,
    info: &ModelInfo,
    path: &Path,
    top_k: usize,
    tta: Tta,
    device: &Device,
) -> Result<Prediction> {
    let image = image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?
        .decode()
        .with_context(|| format!("{} is not a readable image", path.display()))?;
    let input = image_to_tensor(&image, &info.normalization, device);
    // Without TTA one forward pass: the probabilities are the softmax of the printed logits
    // (what `inference::probabilities` computes). With TTA the views' mean.
    let logits = model.logits(input.clone());
    let probabilities = match tta {
        Tta::None => Probabilities::read(softmax(logits.clone(), 1))?,
        tta => Probabilities::read(inference::probabilities(model, input, tta))?,
    };
    // The names and the output must agree before one indexes the other.
    inference::check_class_count(
        info.class_names.len(),
        probabilities.classes(),
        "the model's output",
    )?;
    let probabilities = probabilities.into_values();
    let logits = Probabilities::read(logits)?.into_values();
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
        tta,
        logits,
    })
}
