//! The model on one device: load weights, classify batches. No browser API here, so the same
//! code runs in native tests; reading results back is async because a browser must never block
//! on the GPU. The inference itself is the shared crate's (`cifar_model::inference`), as in the
//! trainer.

use std::cell::Cell;

use burn::prelude::*;
use cifar_model::inference::{self, Probabilities};
use cifar_model::{FoldedModel, ModelInfo, Tta, load_model};

use crate::errors::PageError;

/// A loaded model ready for inference (BatchNorm folded, as in the trainer's eval/predict).
pub struct Engine {
    pub device: Device,
    pub model: FoldedModel,
    pub info: ModelInfo,
    /// The test-time augmentation every answer uses: the one the file's accuracy was measured
    /// with, until the page changes it.
    tta: Cell<Tta>,
}

impl Engine {
    /// Builds the model described by a safetensors file (any member of the ResNet family).
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self, PageError> {
        let (model, info) = load_model(bytes, device)?;
        Ok(Self {
            device: device.clone(),
            model: model.fold_batchnorm(),
            tta: Cell::new(default_tta(&info)),
            info,
        })
    }

    /// The TTA the model's stated accuracy was measured with (none for older files).
    pub fn default_tta(&self) -> Tta {
        default_tta(&self.info)
    }

    pub fn tta(&self) -> Tta {
        self.tta.get()
    }

    pub fn set_tta(&self, tta: Tta) {
        self.tta.set(tta);
    }

    /// Class probabilities, one row per image, for planar images back to back.
    pub async fn probabilities(&self, planar: &[u8]) -> Result<Probabilities, PageError> {
        let input = inference::planar_input(planar, &self.info.normalization, &self.device)?;
        let output = inference::probabilities(&self.model, input, self.tta.get());
        let probabilities = Probabilities::read_async(output).await?;
        inference::check_class_count(self.num_classes(), probabilities.classes(), "its output")?;
        Ok(probabilities)
    }

    pub fn num_classes(&self) -> usize {
        self.info.class_names.len()
    }
}

fn default_tta(info: &ModelInfo) -> Tta {
    info.training
        .as_ref()
        .and_then(|training| training.tta)
        .unwrap_or_default()
}
