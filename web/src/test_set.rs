//! The shipped test images and the trainer's report on them (`trainer export-web`), as the error
//! browser uses them: summary figures, the gallery's filtering and sorting, thumbnails.

use cifar_model::preprocess::{IMAGE_BYTES, planar_to_rgb};
use cifar_model::report::TestReport;
use serde::Serialize;

use crate::classify::to_rgba;

/// Order of the gallery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Test-set order.
    Index,
    /// Most confident predictions first (the surprising mistakes).
    ConfidenceDescending,
    /// Least confident first.
    ConfidenceAscending,
}

impl Sort {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "index" => Ok(Sort::Index),
            "confidence-desc" => Ok(Sort::ConfidenceDescending),
            "confidence-asc" => Ok(Sort::ConfidenceAscending),
            other => Err(format!(
                "unknown sort `{other}` (index, confidence-desc, confidence-asc)"
            )),
        }
    }
}

/// Which images the gallery shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only images of this true class.
    pub label: Option<usize>,
    /// Only images predicted as this class.
    pub predicted: Option<usize>,
    /// Only misclassified images.
    pub errors_only: bool,
}

/// What the page draws before any image: figures over the shipped images.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub images: usize,
    pub errors: usize,
    pub accuracy: f64,
    pub per_class_accuracy: Vec<Option<f64>>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub class_names: Vec<String>,
    /// The weights file the stored predictions were made with.
    pub weights: String,
}

/// One gallery entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub index: usize,
    pub label: usize,
    pub predicted: usize,
    /// Stored probability of the predicted class.
    pub confidence: f32,
}

pub struct TestSet {
    pub report: TestReport,
    /// Planar 3×32×32 images in report order.
    pub images: Vec<u8>,
}

impl TestSet {
    /// Parses the report and checks it against the image file's size.
    pub fn new(report_json: &str, images: Vec<u8>) -> Result<Self, String> {
        let report = TestReport::parse(report_json, Some(images.len()))?;
        Ok(Self { report, images })
    }

    pub fn len(&self) -> usize {
        self.report.len()
    }

    pub fn is_empty(&self) -> bool {
        self.report.is_empty()
    }

    pub fn summary(&self) -> Summary {
        Summary {
            images: self.len(),
            errors: self.report.errors().len(),
            accuracy: self.report.accuracy,
            per_class_accuracy: self.report.per_class_accuracy(),
            confusion: self.report.confusion(),
            class_names: self.report.class_names.clone(),
            weights: self.report.weights.clone(),
        }
    }

    pub fn entry(&self, index: usize) -> Entry {
        Entry {
            index,
            label: self.report.labels[index] as usize,
            predicted: self.report.predictions[index] as usize,
            confidence: self.report.confidence(index),
        }
    }

    /// The images `filter` selects, in `sort` order (ties keep test-set order).
    pub fn gallery(&self, filter: Filter, sort: Sort) -> Vec<Entry> {
        let mut entries: Vec<Entry> = (0..self.len())
            .map(|index| self.entry(index))
            .filter(|e| filter.label.is_none_or(|label| e.label == label))
            .filter(|e| filter.predicted.is_none_or(|p| e.predicted == p))
            .filter(|e| !filter.errors_only || e.label != e.predicted)
            .collect();
        match sort {
            Sort::Index => {}
            Sort::ConfidenceDescending => {
                entries.sort_by(|a, b| b.confidence.total_cmp(&a.confidence))
            }
            Sort::ConfidenceAscending => {
                entries.sort_by(|a, b| a.confidence.total_cmp(&b.confidence))
            }
        }
        entries
    }

    /// Planar bytes of images `start..start + count`.
    pub fn planar(&self, start: usize, count: usize) -> Result<&[u8], String> {
        let end = start
            .checked_add(count)
            .filter(|&end| end <= self.len() && count > 0)
            .ok_or_else(|| {
                format!(
                    "images {start}..{} are outside the {} shipped test images",
                    start.saturating_add(count),
                    self.len()
                )
            })?;
        Ok(&self.images[start * IMAGE_BYTES..end * IMAGE_BYTES])
    }

    /// RGBA bytes of image `index`, for a 32×32 `ImageData`.
    pub fn rgba(&self, index: usize) -> Result<Vec<u8>, String> {
        Ok(to_rgba(&planar_to_rgb(self.planar(index, 1)?)))
    }
}
