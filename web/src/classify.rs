//! Turning a user's file into model input and the model's output into something to show.

use cifar_model::inference::argmax;
use cifar_model::preprocess::{rgb_to_planar, to_model_rgb};
use image::{DynamicImage, RgbImage};
use serde::Serialize;

use crate::errors::PageError;

/// The message for bytes in no image format the page decodes.
pub const NOT_AN_IMAGE_FORMAT: &str = "this file is not an image format the page can read";
/// The start of the message for an image file that does not decode.
pub const NOT_A_READABLE_IMAGE: &str = "this file is not a readable image";

/// A decoded user image, as the model will see it.
#[derive(Debug)]
pub struct Prepared {
    /// The 32×32 RGB image after resize and centre crop (shown next to the original).
    pub model_view: RgbImage,
    /// The same as planar bytes (the CIFAR record layout the model input is made from).
    pub planar: Vec<u8>,
}

/// Decodes any format the `image` crate knows (sniffed from the bytes, not the file name) and
/// prepares it exactly as the trainer's `predict` does.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, PageError> {
    let image: DynamicImage = image::load_from_memory(bytes).map_err(|err| match err {
        image::ImageError::Unsupported(_) => PageError::input(NOT_AN_IMAGE_FORMAT),
        other => PageError::input(format!("{NOT_A_READABLE_IMAGE} ({other})")),
    })?;
    let model_view = to_model_rgb(&image);
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
