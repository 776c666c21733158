//! Turning a user's file into model input and the model's output into something to show.

use cifar_model::inference::argmax;
use cifar_model::preprocess::{rgb_to_planar, rgba_to_model_rgb};
use image::RgbImage;
use serde::Serialize;

use crate::errors::PageError;

/// A decoded user image, as the model will see it.
#[derive(Debug)]
pub struct Prepared {
    /// The 32×32 RGB image after resize and centre crop (shown next to the original).
    pub model_view: RgbImage,
    /// The same as planar bytes (the CIFAR record layout the model input is made from).
    pub planar: Vec<u8>,
}

/// Prepares an image the browser decoded (`createImageBitmap`, then the canvas's RGBA pixels)
/// exactly as the trainer's `predict` prepares the file it decodes itself.
pub fn prepare_rgba(rgba: Vec<u8>, width: u32, height: u32) -> Result<Prepared, PageError> {
    let model_view = rgba_to_model_rgb(rgba, width, height).map_err(PageError::input)?;
    let planar = rgb_to_planar(&model_view);
    Ok(Prepared { model_view, planar })
}

/// The model's answer for one image.
#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    /// Probabilities of every class, in label order.
    pub probabilities: Vec<f32>,
    /// Index of the most likely class.
    pub top: usize,
    /// Inference time in milliseconds (measured by the caller's clock).
    pub millis: f64,
}

impl Classification {
    pub fn new(probabilities: Vec<f32>, millis: f64) -> Self {
        let top = argmax(&probabilities);
        Self {
            probabilities,
            top,
            millis,
        }
    }
}

/// RGBA bytes of a 32×32 RGB image, for an `ImageData` on a canvas.
pub fn to_rgba(rgb: &RgbImage) -> Vec<u8> {
    rgb.pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2], 255])
        .collect()
}
