//! From a model to answers, one way for the trainer and the page alike: images (planar bytes or
//! tensors) → class probabilities (optionally averaged over test-time augmentation views) →
//! read back (blocking natively, `async` in the browser, which must never block on a GPU) →
//! arg-max, accuracy, per-class accuracy and the confusion matrix.
//!
//! Class counts are checked wherever two sources meet ([`check_class_count`]): a model with 5
//! outputs scored against CIFAR-10 labels is an error naming both numbers, never an index out
//! of range or a row read from the next image.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::ops::PadMode;

use crate::preprocess::{IMAGE_BYTES, Normalization, planar_batch_to_tensor};

/// Anything that maps normalised `[batch, 3, 32, 32]` images to `[batch, classes]` logits.
pub trait Classifier {
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;
}

/// Two things that should agree on the number of classes do not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the model has {model} classes but {other} has {found}")]
pub struct ClassCountMismatch {
    /// Classes of the model (its output width, or its class names).
    pub model: usize,
    /// What the other side is, e.g. "the data (CIFAR-10 labels 0–9)".
    pub other: String,
    pub found: usize,
}

/// `Ok` when `other` (described by `what`) has as many classes as the model.
pub fn check_class_count(model: usize, found: usize, what: &str) -> Result<(), ClassCountMismatch> {
    if model == found {
        Ok(())
    } else {
        Err(ClassCountMismatch {
            model,
            other: what.to_string(),
            found,
        })
    }
}

/// Why answers could not be computed or scored.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The user's request: bytes that are not whole images, labels out of range, a class count
    /// that does not match.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Classes(#[from] ClassCountMismatch),
    /// The device failed while computing or reading back the result.
    #[error("reading the result from the device failed: {0}")]
    Device(String),
}

/// Test-time augmentation: which views of each image are averaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tta {
    /// The image alone.
    #[default]
    None,
    /// The mean of the image's and its mirror image's probabilities.
    Flip,
    /// Flip × translation: the flip mean of the image (weight ½) and of the image moved by one
    /// pixel down-right and up-left (¼ each; reflected at the border), as airbench's multi-crop
    /// test-time augmentation (which averages logits; we average probabilities, as for `Flip`).
    Multi,
}

impl std::str::FromStr for Tta {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Tta::None),
            "flip" => Ok(Tta::Flip),
            "multi" => Ok(Tta::Multi),
            other => Err(format!(
                "unknown test-time augmentation `{other}` (none, flip, multi)"
            )),
        }
    }
}

impl std::fmt::Display for Tta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tta::None => "none",
            Tta::Flip => "flip",
            Tta::Multi => "multi",
        })
    }
}

/// Softmax probabilities `[batch, classes]` of normalised images, averaged over `tta`'s views.
pub fn probabilities(model: &impl Classifier, images: Tensor<4>, tta: Tta) -> Tensor<2> {
    match tta {
        Tta::None => softmax(model.logits(images), 1),
        Tta::Flip => {
            let mirrored = images.clone().flip([3]);
            (softmax(model.logits(images), 1) + softmax(model.logits(mirrored), 1)) / 2.0
        }
        Tta::Multi => {
            let [batch, channels, height, width] = images.dims();
            let padded = images.clone().pad((1, 1, 1, 1), PadMode::Reflect);
            // Output pixel (y, x) of `down_right` is input (y − 1, x − 1); of `up_left`, (y + 1,
            // x + 1).
            let down_right = padded
                .clone()
                .slice([0..batch, 0..channels, 0..height, 0..width]);
            let up_left = padded.slice([0..batch, 0..channels, 2..height + 2, 2..width + 2]);
            let flip = |views: Tensor<4>| probabilities(model, views, Tta::Flip);
            flip(images) * 0.5 + (flip(down_right) + flip(up_left)) * 0.25
        }
    }
}

/// Planar `3×32×32` images back to back → normalised input tensor, refusing partial images.
pub fn planar_input(
    planar: &[u8],
    normalization: &Normalization,
    device: &Device,
) -> Result<Tensor<4>, InferenceError> {
    if planar.is_empty() || !planar.len().is_multiple_of(IMAGE_BYTES) {
        return Err(InferenceError::Input(format!(
            "expected whole 32×32 images ({IMAGE_BYTES} bytes each), got {} bytes",
            planar.len()
        )));
    }
    Ok(planar_batch_to_tensor(planar, normalization, device))
}

/// Class probabilities of a batch or of a whole set, `len() × classes`, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probabilities {
    classes: usize,
    values: Vec<f32>,
}

impl Probabilities {
    /// `values` must hold whole rows of `classes`.
    pub fn new(classes: usize, values: Vec<f32>) -> Result<Self, InferenceError> {
        if classes == 0 || !values.len().is_multiple_of(classes) {
            return Err(InferenceError::Input(format!(
                "{} values are not whole rows of {classes} classes",
                values.len()
            )));
        }
        Ok(Self { classes, values })
    }

    /// Reads a `[batch, classes]` tensor back, blocking until the device is done (native only).
    pub fn read(tensor: Tensor<2>) -> Result<Self, InferenceError> {
        let [_, classes] = tensor.dims();
        let data = tensor
            .try_into_data()
            .map_err(|err| InferenceError::Device(device_reason(&err)))?;
        Self::from_data(classes, data)
    }

    /// Reads a `[batch, classes]` tensor back without blocking (what the browser must do).
    pub async fn read_async(tensor: Tensor<2>) -> Result<Self, InferenceError> {
        let [_, classes] = tensor.dims();
        let data = tensor
            .into_data_async()
            .await
            .map_err(|err| InferenceError::Device(device_reason(&err)))?;
        Self::from_data(classes, data)
    }

    fn from_data(classes: usize, data: TensorData) -> Result<Self, InferenceError> {
        let values = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|err| InferenceError::Device(format!("unexpected result: {err:?}")))?;
        Self::new(classes, values)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of rows (images).
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.classes).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.classes..(index + 1) * self.classes]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks(self.classes.max(1))
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    /// Predicted class of row `index`.
    pub fn predicted(&self, index: usize) -> usize {
        argmax(self.row(index))
    }

    /// Appends another batch of the same class count.
    pub fn append(&mut self, other: Probabilities) -> Result<(), ClassCountMismatch> {
        if self.values.is_empty() {
            *self = other;
            return Ok(());
        }
        check_class_count(self.classes, other.classes, "the next batch")?;
        self.values.extend(other.values);
        Ok(())
    }
}

/// The reasons in a backend's execution error, on one line: Burn nests "An error happened during
/// execution / Caused by:" headers and a "Backtrace:" section around the words that say what
/// went wrong, which are all a person needs to read.
pub fn device_reason(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let reasons: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Backtrace"))
        .filter(|line| {
            !line.is_empty()
                && *line != "Caused by:"
                && *line != "An error happened during execution"
        })
        .collect();
    if reasons.is_empty() {
        text.trim().to_string()
    } else {
        reasons.join("; ")
    }
}

/// Index of the largest value, the first of equal maxima: the predicted class everywhere.
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

/// Answers scored against true labels, every label checked to be one of the model's classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub probabilities: Probabilities,
    pub labels: Vec<u8>,
}

impl Scored {
    /// `labels_classes` is how many classes the labels' source has (10 for CIFAR-10): it must
    /// equal the model's, and every label must be below it.
    pub fn new(
        probabilities: Probabilities,
        labels: Vec<u8>,
        labels_classes: usize,
        labels_source: &str,
    ) -> Result<Self, InferenceError> {
        check_class_count(probabilities.classes(), labels_classes, labels_source)?;
        if probabilities.len() != labels.len() {
            return Err(InferenceError::Input(format!(
                "{} answers for {} labels",
                probabilities.len(),
                labels.len()
            )));
        }
        if let Some((index, label)) = labels
            .iter()
            .enumerate()
            .find(|(_, label)| **label as usize >= labels_classes)
        {
            return Err(InferenceError::Input(format!(
                "{labels_source}: label {label} of image {index} is not one of its {labels_classes} classes"
            )));
        }
        Ok(Self {
            probabilities,
            labels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn classes(&self) -> usize {
        self.probabilities.classes()
    }

    pub fn predicted(&self, index: usize) -> usize {
        self.probabilities.predicted(index)
    }

    pub fn is_correct(&self, index: usize) -> bool {
        self.predicted(index) == self.labels[index] as usize
    }

    pub fn correct(&self) -> usize {
        (0..self.len()).filter(|&i| self.is_correct(i)).count()
    }

    /// Fraction correct in `[0, 1]` (0 for no images).
    pub fn accuracy(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.correct() as f64 / self.len() as f64
        }
    }

    /// Mean cross-entropy of the true labels (probabilities clamped at 1e-12).
    pub fn loss(&self) -> f64 {
        let total: f64 = (0..self.len())
            .map(|i| -(self.probabilities.row(i)[self.labels[i] as usize].max(1e-12) as f64).ln())
            .sum();
        total / self.len().max(1) as f64
    }

    /// `matrix[true][predicted]` counts.
    pub fn confusion(&self) -> Vec<Vec<usize>> {
        confusion_matrix(
            self.classes(),
            (0..self.len()).map(|i| (self.labels[i] as usize, self.predicted(i))),
        )
    }

    /// Accuracy of each true class (`None` for a class with no images).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        per_class_accuracy(&self.confusion())
    }
}

/// `matrix[true][predicted]` counts of `(true, predicted)` pairs. Callers pass pairs already
/// checked to be below `classes` ([`Scored::new`], `TestReport::parse`).
pub fn confusion_matrix(
    classes: usize,
    pairs: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<Vec<usize>> {
    let mut matrix = vec![vec![0; classes]; classes];
    for (label, predicted) in pairs {
        matrix[label][predicted] += 1;
    }
    matrix
}

/// Accuracy of each true class from a confusion matrix (`None` for a class with no images).
pub fn per_class_accuracy(matrix: &[Vec<usize>]) -> Vec<Option<f64>> {
    matrix
        .iter()
        .enumerate()
        .map(|(class, row)| {
            let total: usize = row.iter().sum();
            (total > 0).then(|| row[class] as f64 / total as f64)
        })
        .collect()
}
