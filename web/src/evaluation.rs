//! Evaluating the loaded model over the shipped test images in the browser, batch by batch, and
//! comparing every answer with the trainer's stored one: the page's proof that it computes what
//! the trainer computed.

use cifar_model::Probabilities;
use cifar_model::inference::{argmax, check_class_count};
use cifar_model::report::TestReport;
use serde::Serialize;

use crate::errors::PageError;

/// Probabilities may differ this much from the stored ones before an image counts as disagreeing
/// (f32 on different backends and summation orders; the shipped weights agree to ~1e-6).
pub const TOLERANCE: f32 = 1e-3;

/// How one live answer compares with the stored one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub predicted: usize,
    pub stored_predicted: usize,
    /// Largest |live − stored| over the classes.
    pub max_difference: f32,
    /// Same top-1 and every probability within [`TOLERANCE`].
    pub agrees: bool,
}

/// Compares live `probabilities` of image `index` with the report's; the caller has checked that
/// the model and the report have the same classes (`TestReport::check_model_classes`).
pub fn compare(report: &TestReport, index: usize, probabilities: &[f32]) -> Comparison {
    let stored = &report.probabilities[index];
    let predicted = argmax(probabilities);
    let stored_predicted = report.predictions[index] as usize;
    let max_difference = probabilities
        .iter()
        .zip(stored)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    Comparison {
        predicted,
        stored_predicted,
        max_difference,
        agrees: predicted == stored_predicted && max_difference <= TOLERANCE,
    }
}

/// Running totals of an evaluation over images `0..total`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evaluation {
    pub total: usize,
    pub done: usize,
    pub correct: usize,
    /// Images whose live answer disagrees with the stored one, and the first few of them.
    pub disagreements: usize,
    pub first_disagreements: Vec<usize>,
    pub max_difference: f32,
    /// Milliseconds spent computing (not yielding to the page).
    pub compute_millis: f64,
}

impl Evaluation {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            ..Self::default()
        }
    }

    pub fn finished(&self) -> bool {
        self.done >= self.total
    }

    /// The next batch: `(start, count)` of at most `batch` images, or `None` when finished.
    pub fn next_batch(&self, batch: usize) -> Option<(usize, usize)> {
        (!self.finished()).then(|| (self.done, batch.max(1).min(self.total - self.done)))
    }

    /// Records the live probabilities of images `start..start + probabilities.len()`.
    pub fn record(
        &mut self,
        report: &TestReport,
        start: usize,
        probabilities: &Probabilities,
        millis: f64,
    ) -> Result<(), PageError> {
        check_class_count(
            probabilities.classes(),
            report.class_names.len(),
            "the test report",
        )?;
        if start != self.done || start + probabilities.len() > self.total {
            return Err(PageError::input(format!(
                "a batch of {} images at {start} does not continue the evaluation at {} of {}",
                probabilities.len(),
                self.done,
                self.total
            )));
        }
        for (offset, row) in probabilities.rows().enumerate() {
            let index = start + offset;
            let comparison = compare(report, index, row);
            if comparison.predicted == report.labels[index] as usize {
                self.correct += 1;
            }
            if !comparison.agrees {
                self.disagreements += 1;
                if self.first_disagreements.len() < 10 {
                    self.first_disagreements.push(index);
                }
            }
            self.max_difference = self.max_difference.max(comparison.max_difference);
        }
        self.done += probabilities.len();
        self.compute_millis += millis;
        Ok(())
    }

    /// Accuracy over the images done so far, in `[0, 1]`.
    pub fn accuracy(&self) -> f64 {
        if self.done == 0 {
            0.0
        } else {
            self.correct as f64 / self.done as f64
        }
    }

    /// Accuracy the trainer stored for the same images (those done so far).
    pub fn stored_accuracy(&self, report: &TestReport) -> f64 {
        if self.done == 0 {
            return 0.0;
        }
        let correct = (0..self.done)
            .filter(|&i| report.labels[i] == report.predictions[i])
            .count();
        correct as f64 / self.done as f64
    }

    pub fn images_per_second(&self) -> f64 {
        if self.compute_millis > 0.0 {
            1000.0 * self.done as f64 / self.compute_millis
        } else {
            0.0
        }
    }
}
