//! The model on one device: load weights, classify batches. No browser API here, so the same
//! code runs in native tests; reading results back is async because a browser must never block
//! on the GPU. The inference itself is the shared crate's (`cifar_model::inference`), as in the
//! trainer.

use burn::prelude::*;
use cifar_model::inference::{self, Probabilities};
use cifar_model::{FoldedModel, ModelInfo, Tta, load_model};

use crate::errors::PageError;

/// A loaded model ready for inference (BatchNorm folded, as in the trainer's eval/predict).
pub struct Engine {
    pub device: Device,
    pub model: FoldedModel,
    pub info: ModelInfo,
}

impl Engine {
    /// Builds the model described by a safetensors file (any member of the ResNet family).
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self, PageError> {
        let (model, info) = load_model(bytes, device)?;
        Ok(Self {
            device: device.clone(),
            model: model.fold_batchnorm(),
            info,
        })
    }

    /// Class probabilities, one row per image, for planar images back to back.
    pub async fn probabilities(&self, planar: &[u8]) -> Result<Probabilities, PageError> {
        let input = inference::planar_input(planar, &self.info.normalization, &self.device)?;
        let output = inference::probabilities(&self.model, input, Tta::None);
        let probabilities = Probabilities::read_async(output).await?;
        inference::check_class_count(self.num_classes(), probabilities.classes(), "its output")?;
        Ok(probabilities)
    }

    pub fn num_classes(&self) -> usize {
        self.info.class_names.len()
    }
}
