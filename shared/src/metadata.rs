//! What a weights file says about itself, so that a loader needs nothing but the file.

use serde::{Deserialize, Serialize};

use crate::classes::CLASS_NAMES;
use crate::config::ModelConfig;
use crate::inference::Tta;
use crate::preprocess::Normalization;

/// How and on what a model was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Epochs completed.
    pub epochs: usize,
    /// Wall-clock seconds of training and per-epoch evaluation over those epochs (a resumed
    /// run's earlier epochs included); `None` in files written before this was recorded.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Training images processed: epochs × images per epoch.
    #[serde(default)]
    pub images_processed: Option<u64>,
    /// Test-set accuracy in `[0, 1]` after the last epoch (or of the best epoch for `best`).
    pub test_accuracy: Option<f64>,
    /// The test-time augmentation `test_accuracy` was measured with, and the one `predict` and
    /// the page use by default; `None` in files written before this was recorded (no TTA).
    #[serde(default)]
    pub tta: Option<Tta>,
    /// Training-set accuracy in `[0, 1]` (on augmented batches, as logged during training).
    pub train_accuracy: Option<f64>,
    /// Number of test images the accuracy was measured on.
    pub test_images: Option<usize>,
    /// What the model was trained on: a name and a digest, never a path of the training machine.
    pub data: DataSummary,
    /// Training images used per epoch.
    pub train_images: usize,
    pub seed: u64,
    /// UTC date and time the file was written, RFC 3339.
    pub date: String,
    /// Git commit of the trainer that wrote it, when known.
    pub git_commit: Option<String>,
}

/// The training data, identified so that anyone can check they have the same: its file or folder
/// name (no directory), and a SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "DataField")]
pub struct DataSummary {
    /// File or folder name, e.g. `cifar-10-binary.tar.gz`.
    pub name: String,
    /// SHA-256 of the data, lower-case hex; `None` in files written before this was recorded.
    pub sha256: Option<String>,
    /// What was hashed: `file` (the archive's bytes, what `sha256sum` prints) or `records` (the
    /// training then test records as loaded, each a label byte and 3072 planar pixel bytes,
    /// for folders).
    pub sha256_of: Option<String>,
}

impl DataSummary {
    /// A summary naming the data by the last component of `description` alone (the form format
    /// version 1 stored was a path of the training machine).
    pub fn name_only(description: &str) -> Self {
        let name = description
            .rsplit(['/', '\\'])
            .find(|part| !part.is_empty())
            .unwrap_or(description);
        Self {
            name: name.to_string(),
            sha256: None,
            sha256_of: None,
        }
    }
}

/// `data` as it may appear in a file: the current object, or format 1's path string.
#[derive(Deserialize)]
#[serde(untagged)]
enum DataField {
    Summary {
        name: String,
        sha256: Option<String>,
        sha256_of: Option<String>,
    },
    Legacy(String),
}

impl From<DataField> for DataSummary {
    fn from(field: DataField) -> Self {
        match field {
            DataField::Summary {
                name,
                sha256,
                sha256_of,
            } => Self {
                name,
                sha256,
                sha256_of,
            },
            DataField::Legacy(path) => Self::name_only(&path),
        }
    }
}

/// Everything in a weights file besides the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub config: ModelConfig,
    pub class_names: Vec<String>,
    pub normalization: Normalization,
    pub training: Option<TrainingSummary>,
}

impl ModelInfo {
    /// Info for a model of `config`, not yet trained: CIFAR-10's class names and normalisation
    /// when it has ten classes, else the normalisation and names `class 0`, `class 1`, ….
    pub fn new(config: impl Into<ModelConfig>) -> Self {
        let mut info = Self::cifar10(config);
        if info.config.num_classes() != info.class_names.len() {
            info.class_names = (0..info.config.num_classes())
                .map(|i| format!("class {i}"))
                .collect();
        }
        info
    }

    /// Info for a CIFAR-10 model of the given config, not yet trained.
    pub fn cifar10(config: impl Into<ModelConfig>) -> Self {
        Self {
            config: config.into(),
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
