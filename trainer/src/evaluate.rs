//! Running a model over a dataset: class probabilities, loss, accuracy and the confusion matrix.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use cifar_model::preprocess::{IMAGE_SIZE, planar_batch_to_tensor};
use cifar_model::report::{argmax, confusion_matrix, per_class_accuracy};
use cifar_model::{Classifier, Normalization};
use indicatif::ProgressBar;

use crate::data::Dataset;

/// The model's output for every image of a dataset.
#[derive(Clone, Debug)]
pub struct Predictions {
    pub num_classes: usize,
    /// Row-major `[images, classes]` softmax probabilities.
    pub probabilities: Vec<f32>,
    pub labels: Vec<u8>,
    /// Mean cross-entropy of the true labels.
    pub loss: f64,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn probabilities_of(&self, index: usize) -> &[f32] {
        &self.probabilities[index * self.num_classes..(index + 1) * self.num_classes]
    }

    /// Arg-max class of image `index` (first of equal maxima).
    pub fn predicted(&self, index: usize) -> usize {
        argmax(self.probabilities_of(index))
    }

    pub fn correct(&self) -> usize {
        (0..self.len())
            .filter(|&i| self.predicted(i) == self.labels[i] as usize)
            .count()
    }

    pub fn accuracy(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.correct() as f64 / self.len() as f64
    }

    /// `matrix[true][predicted]` counts.
    pub fn confusion(&self) -> Vec<Vec<usize>> {
        confusion_matrix(
            self.num_classes,
            (0..self.len()).map(|i| (self.labels[i] as usize, self.predicted(i))),
        )
    }

    /// Accuracy of each true class (`None` for a class with no images).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        per_class_accuracy(&self.confusion())
    }
}

/// Softmax probabilities for a batch of normalised images; with `tta` the average over the
/// image and its mirror.
pub fn batch_probabilities(model: &impl Classifier, images: Tensor<4>, tta: bool) -> Tensor<2> {
    let probabilities = softmax(model.logits(images.clone()), 1);
    if !tta {
        return probabilities;
    }
    let mirrored = images.flip([3]);
    (probabilities + softmax(model.logits(mirrored), 1)) / 2.0
}

/// Runs `model` (in inference mode) over `data` in batches.
pub fn predict_dataset(
    model: &impl Classifier,
    data: &Dataset,
    normalization: &Normalization,
    batch_size: usize,
    tta: bool,
    device: &Device,
    progress: Option<&ProgressBar>,
) -> Predictions {
    let mut probabilities = Vec::new();
    let mut num_classes = 0;
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let images = planar_batch_to_tensor(&data.gather(chunk), normalization, device);
        debug_assert_eq!(images.dims()[2], IMAGE_SIZE);
        let batch = batch_probabilities(model, images, tta);
        num_classes = batch.dims()[1];
        let batch = batch.into_data().convert::<f32>();
        probabilities.extend_from_slice(batch.as_slice::<f32>().expect("f32 after convert"));
        if let Some(progress) = progress {
            progress.inc(chunk.len() as u64);
        }
    }
    let loss = data
        .labels
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            -(probabilities[i * num_classes + label as usize].max(1e-12) as f64).ln()
        })
        .sum::<f64>()
        / data.len().max(1) as f64;
    Predictions {
        num_classes,
        probabilities,
        labels: data.labels.clone(),
        loss,
    }
}
