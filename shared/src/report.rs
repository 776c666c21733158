//! The test-set report the trainer exports for the browser's error browser and in-browser
//! evaluation (`trainer export-web`): the model's stored prediction for every shipped test image,
//! beside the images themselves in a separate binary file (planar 3×32×32 bytes per image, in
//! report order).

use serde::{Deserialize, Serialize};

use crate::inference::{
    ClassCountMismatch, argmax, check_class_count, confusion_matrix, per_class_accuracy,
};
use crate::preprocess::IMAGE_BYTES;

/// Value of `format` in a report.
pub const REPORT_FORMAT: &str = "cifar-resnet-test-report";
pub const REPORT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub format: String,
    pub version: u32,
    /// The weights file the predictions were made with (its name only).
    pub weights: String,
    pub class_names: Vec<String>,
    /// File name of the images, beside the report.
    pub image_file: String,
    /// True label of each image.
    pub labels: Vec<u8>,
    /// The trainer's predicted class of each image.
    pub predictions: Vec<u8>,
    /// Softmax probabilities per image (`classes` values each), as the trainer computed them.
    pub probabilities: Vec<Vec<f32>>,
    /// Accuracy over these images, in `[0, 1]`.
    pub accuracy: f64,
}

impl TestReport {
    /// A report of the current format: predictions are the arg-max of each probability row.
    pub fn new(
        weights: &str,
        image_file: &str,
        class_names: Vec<String>,
        labels: Vec<u8>,
        probabilities: Vec<Vec<f32>>,
    ) -> Self {
        let predictions: Vec<u8> = probabilities.iter().map(|row| argmax(row) as u8).collect();
        let correct = labels
            .iter()
            .zip(&predictions)
            .filter(|(l, p)| l == p)
            .count();
        Self {
            format: REPORT_FORMAT.into(),
            version: REPORT_VERSION,
            weights: weights.into(),
            class_names,
            image_file: image_file.into(),
            accuracy: correct as f64 / labels.len().max(1) as f64,
            labels,
            predictions,
            probabilities,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `matrix[true][predicted]` counts.
    pub fn confusion(&self) -> Vec<Vec<usize>> {
        confusion_matrix(
            self.class_names.len(),
            self.labels
                .iter()
                .zip(&self.predictions)
                .map(|(&l, &p)| (l as usize, p as usize)),
        )
    }

    /// The stored probability of the predicted class of image `index`.
    pub fn confidence(&self, index: usize) -> f32 {
        self.probabilities[index][self.predictions[index] as usize]
    }

    /// Accuracy per true class (`None` for a class with no image), in `[0, 1]`.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        per_class_accuracy(&self.confusion())
    }

    /// Checks that a model with these class names can be compared with this report: the same
    /// number of classes, and the same names in the same order.
    pub fn check_model_classes(&self, model_class_names: &[String]) -> Result<(), String> {
        check_class_count(
            model_class_names.len(),
            self.class_names.len(),
            "the test report",
        )
        .map_err(|err: ClassCountMismatch| err.to_string())?;
        if let Some((index, (model, report))) = model_class_names
            .iter()
            .zip(&self.class_names)
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            return Err(format!(
                "class {index} is `{model}` for the model but `{report}` in the test report"
            ));
        }
        Ok(())
    }

    /// Indices of the misclassified images.
    pub fn errors(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels[i] != self.predictions[i])
            .collect()
    }

    /// Parses and checks a report; `image_bytes` is the size of its image file, if known.
    pub fn parse(json: &str, image_bytes: Option<usize>) -> Result<Self, String> {
        let report: TestReport =
            serde_json::from_str(json).map_err(|err| format!("not a test report: {err}"))?;
        report.validate(image_bytes)?;
        Ok(report)
    }

    fn validate(&self, image_bytes: Option<usize>) -> Result<(), String> {
        if self.format != REPORT_FORMAT || self.version != REPORT_VERSION {
            return Err(format!(
                "unsupported report format `{}` version {} (expected `{REPORT_FORMAT}` {REPORT_VERSION})",
                self.format, self.version
            ));
        }
        let classes = self.class_names.len();
        if classes == 0 {
            return Err("`class_names` is empty".into());
        }
        let count = self.labels.len();
        if self.predictions.len() != count || self.probabilities.len() != count {
            return Err(format!(
                "{count} labels but {} predictions and {} probability rows",
                self.predictions.len(),
                self.probabilities.len()
            ));
        }
        for (index, ((&label, &predicted), row)) in self
            .labels
            .iter()
            .zip(&self.predictions)
            .zip(&self.probabilities)
            .enumerate()
        {
            if label as usize >= classes || predicted as usize >= classes {
                return Err(format!(
                    "image {index}: class index out of range ({classes} classes)"
                ));
            }
            if row.len() != classes {
                return Err(format!(
                    "image {index}: {} probabilities for {classes} classes",
                    row.len()
                ));
            }
        }
        if let Some(bytes) = image_bytes
            && bytes != count * IMAGE_BYTES
        {
            return Err(format!(
                "{}: {bytes} bytes, expected {count} images × {IMAGE_BYTES}",
                self.image_file
            ));
        }
        Ok(())
    }
}
