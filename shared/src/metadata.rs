//! What a weights file says about itself, so that a loader needs nothing but the file.

use serde::{Deserialize, Serialize};

use crate::classes::CLASS_NAMES;
use crate::config::ResNetConfig;
use crate::preprocess::Normalization;

/// How and on what a model was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Epochs completed.
    pub epochs: usize,
    /// Test-set accuracy in `[0, 1]` after the last epoch (or of the best epoch for `best`).
    pub test_accuracy: Option<f64>,
    /// Training-set accuracy in `[0, 1]` (on augmented batches, as logged during training).
    pub train_accuracy: Option<f64>,
    /// Number of test images the accuracy was measured on.
    pub test_images: Option<usize>,
    /// Where the data came from (path or description) and how many training images were used.
    pub data: String,
    pub train_images: usize,
    pub seed: u64,
    /// UTC date and time the file was written, RFC 3339.
    pub date: String,
    /// Git commit of the trainer that wrote it, when known.
    pub git_commit: Option<String>,
}

/// Everything in a weights file besides the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub config: ResNetConfig,
    pub class_names: Vec<String>,
    pub normalization: Normalization,
    pub training: Option<TrainingSummary>,
}

impl ModelInfo {
    /// Info for a CIFAR-10 model of the given config, not yet trained.
    pub fn cifar10(config: ResNetConfig) -> Self {
        Self {
            config,
            class_names: CLASS_NAMES.iter().map(|name| name.to_string()).collect(),
            normalization: Normalization::CIFAR10,
            training: None,
        }
    }

    pub fn with_training(mut self, training: TrainingSummary) -> Self {
        self.training = Some(training);
        self
    }
}
