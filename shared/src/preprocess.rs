//! Turning images into model input, shared by the trainer and the browser so that both feed the
//! network exactly the same numbers.

use burn::prelude::*;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage, RgbaImage};
use serde::{Deserialize, Serialize};

/// Side of the square images the model is trained on.
pub const IMAGE_SIZE: usize = 32;
/// Bytes of one planar RGB image (`3 × 32 × 32`).
pub const IMAGE_BYTES: usize = 3 * IMAGE_SIZE * IMAGE_SIZE;

/// Per-channel normalisation `(x / 255 - mean) / std`, recorded in every weights file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// CIFAR-10 training-set statistics, as used by kuangliu/pytorch-cifar and our report.
    pub const CIFAR10: Normalization = Normalization {
        mean: [0.4914, 0.4822, 0.4465],
        std: [0.2023, 0.1994, 0.2010],
    };

    /// Normalises planar `CHW` bytes (any number of images back to back) into `out`.
    pub fn normalize_planar_into(&self, planar: &[u8], out: &mut Vec<f32>) {
        let plane = IMAGE_SIZE * IMAGE_SIZE;
        out.reserve(planar.len());
        for (index, &byte) in planar.iter().enumerate() {
            let channel = (index / plane) % 3;
            out.push((byte as f32 / 255.0 - self.mean[channel]) / self.std[channel]);
        }
    }

    /// Applies the normalisation to a `[batch, 3, H, W]` tensor of values in `[0, 1]`.
    pub fn normalize_tensor(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let mean = Tensor::<1>::from_floats(self.mean, &device).reshape([1, 3, 1, 1]);
        let std = Tensor::<1>::from_floats(self.std, &device).reshape([1, 3, 1, 1]);
        (images - mean) / std
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Self::CIFAR10
    }
}

/// Resizes (shorter side to 32, aspect kept) and centre-crops any decoded image to 32×32 RGB.
///
/// Transparent pixels are composited over white, as the image appears on a page; grayscale is
/// replicated to three channels.
pub fn to_model_rgb(image: &DynamicImage) -> RgbImage {
    let rgb = flatten_alpha(image);
    let (width, height) = rgb.dimensions();
    let size = IMAGE_SIZE as u32;
    if width == size && height == size {
        return rgb;
    }
    let scale = size as f64 / width.min(height) as f64;
    let new_width = ((width as f64 * scale).round() as u32).max(size);
    let new_height = ((height as f64 * scale).round() as u32).max(size);
    let resized = image::imageops::resize(&rgb, new_width, new_height, FilterType::Triangle);
    let left = (new_width - size) / 2;
    let top = (new_height - size) / 2;
    image::imageops::crop_imm(&resized, left, top, size, size).to_image()
}

/// [`to_model_rgb`] for raw RGBA pixels, row-major, not premultiplied (what a browser's
/// `getImageData` gives): the page decodes files with the browser and the trainer with the
/// `image` crate, and the same pixels become the same model input on both sides.
pub fn rgba_to_model_rgb(rgba: Vec<u8>, width: u32, height: u32) -> Result<RgbImage, String> {
    let expected = width as usize * height as usize * 4;
    if width == 0 || height == 0 || rgba.len() != expected {
        return Err(format!(
            "{} bytes of RGBA pixels do not make a {width}×{height} image ({expected} expected)",
            rgba.len()
        ));
    }
    let image = RgbaImage::from_raw(width, height, rgba)
        .ok_or_else(|| format!("{width}×{height} RGBA pixels do not fit in memory"))?;
    Ok(to_model_rgb(&DynamicImage::ImageRgba8(image)))
}

fn flatten_alpha(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| ((c as u32 * a as u32 + 255 * (255 - a as u32) + 127) / 255) as u8;
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// Interleaved 32×32 RGB → planar `CHW` bytes (the CIFAR record layout).
pub fn rgb_to_planar(rgb: &RgbImage) -> Vec<u8> {
    assert_eq!(
        rgb.dimensions(),
        (IMAGE_SIZE as u32, IMAGE_SIZE as u32),
        "expects 32×32"
    );
    let plane = IMAGE_SIZE * IMAGE_SIZE;
    let mut planar = vec![0u8; IMAGE_BYTES];
    for (index, pixel) in rgb.pixels().enumerate() {
        for channel in 0..3 {
            planar[channel * plane + index] = pixel.0[channel];
        }
    }
    planar
}

/// Planar `CHW` bytes → interleaved 32×32 RGB (for drawing a CIFAR record).
pub fn planar_to_rgb(planar: &[u8]) -> RgbImage {
    let plane = IMAGE_SIZE * IMAGE_SIZE;
    RgbImage::from_fn(IMAGE_SIZE as u32, IMAGE_SIZE as u32, |x, y| {
        let index = y as usize * IMAGE_SIZE + x as usize;
        image::Rgb([
            planar[index],
            planar[plane + index],
            planar[2 * plane + index],
        ])
    })
}

/// Planar bytes of `batch` images → normalised `[batch, 3, 32, 32]` input tensor.
pub fn planar_batch_to_tensor(planar: &[u8], norm: &Normalization, device: &Device) -> Tensor<4> {
    assert_eq!(
        planar.len() % IMAGE_BYTES,
        0,
        "planar batch must hold whole images"
    );
    let batch = planar.len() / IMAGE_BYTES;
    let mut values = Vec::with_capacity(planar.len());
    norm.normalize_planar_into(planar, &mut values);
    Tensor::from_data(
        TensorData::new(values, [batch, 3, IMAGE_SIZE, IMAGE_SIZE]),
        device,
    )
}

/// Any decoded image → normalised `[1, 3, 32, 32]` input tensor.
pub fn image_to_tensor(image: &DynamicImage, norm: &Normalization, device: &Device) -> Tensor<4> {
    planar_batch_to_tensor(&rgb_to_planar(&to_model_rgb(image)), norm, device)
}
