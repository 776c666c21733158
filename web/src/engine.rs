//! The model on one device: load weights, classify batches. No browser API here, so the same
//! code runs in native tests; reading results back is async because a browser must never block
//! on the GPU.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use cifar_model::preprocess::{IMAGE_BYTES, planar_batch_to_tensor};
use cifar_model::{Classifier, FoldedResNet, ModelInfo, load_model};

/// A loaded model ready for inference (BatchNorm folded, as in the trainer's eval/predict).
pub struct Engine {
    pub device: Device,
    pub model: FoldedResNet,
    pub info: ModelInfo,
}

impl Engine {
    /// Builds the model described by a safetensors file (any member of the ResNet family).
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self, String> {
        let (model, info) = load_model(bytes, device).map_err(|err| err.to_string())?;
        Ok(Self {
            device: device.clone(),
            model: model.fold_batchnorm(),
            info,
        })
    }

    /// Class probabilities, row-major `[images, classes]`, for planar images back to back.
    pub async fn probabilities(&self, planar: &[u8]) -> Result<Vec<f32>, String> {
        if planar.is_empty() || !planar.len().is_multiple_of(IMAGE_BYTES) {
            return Err(format!(
                "expected whole 32×32 images, got {} bytes",
                planar.len()
            ));
        }
        let input = planar_batch_to_tensor(planar, &self.info.normalization, &self.device);
        let probabilities = softmax(self.model.logits(input), 1);
        let data = probabilities
            .into_data_async()
            .await
            .map_err(|err| format!("reading the result from the device failed: {err:?}"))?;
        data.convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|err| format!("unexpected result type: {err:?}"))
    }

    pub fn num_classes(&self) -> usize {
        self.info.config.num_classes
    }
}
