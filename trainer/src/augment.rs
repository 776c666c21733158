//! Data augmentation on the training device: random crop from zero padding, horizontal flip and
//! a small rotation, done for a whole batch at once as one affine resampling (`grid_sample_2d`).
//!
//! Per image only six numbers are drawn on the CPU (from a seeded RNG); the pixel work runs on
//! the device. An integer shift with no rotation lands exactly on pixel centres, so crop and flip
//! reproduce the input pixels bit for bit, as a CPU crop would.

use burn::config::Config;
use burn::prelude::*;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use rand::Rng;

/// Which augmentations to apply.
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Random 32×32 crop from the image padded with `padding` zero pixels on each side.
    #[config(default = true)]
    pub crop: bool,
    #[config(default = 4)]
    pub padding: usize,
    /// Random horizontal flip with probability ½.
    #[config(default = true)]
    pub flip: bool,
    /// Random rotation by up to ± this many degrees (0 disables it).
    #[config(default = 10.0)]
    pub rotation_degrees: f64,
}

/// The transform of one image: shift in pixels, mirror, rotation in radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageTransform {
    pub shift_x: i32,
    pub shift_y: i32,
    pub flip: bool,
    pub angle: f64,
}

impl AugmentConfig {
    pub fn is_identity(&self) -> bool {
        !(self.flip || self.crop && self.padding > 0) && self.rotation_degrees == 0.0
    }

    /// Draws the transforms of one batch.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> Vec<ImageTransform> {
        let pad = self.padding as i32;
        (0..batch)
            .map(|_| {
                let (shift_x, shift_y) = if self.crop && pad > 0 {
                    (rng.random_range(-pad..=pad), rng.random_range(-pad..=pad))
                } else {
                    (0, 0)
                };
                let flip = self.flip && rng.random_bool(0.5);
                let angle = if self.rotation_degrees > 0.0 {
                    rng.random_range(-self.rotation_degrees..=self.rotation_degrees)
                        .to_radians()
                } else {
                    0.0
                };
                ImageTransform {
                    shift_x,
                    shift_y,
                    flip,
                    angle,
                }
            })
            .collect()
    }
}

/// Applies one transform per image to `[batch, C, H, W]` images (zeros enter at the borders).
///
/// Output pixel `p` (normalised coordinates) samples the input at `M·p − t`, where `M` rotates
/// then mirrors and `t` is the shift: content moves right/down by `shift_x/shift_y` pixels.
pub fn apply(images: Tensor<4>, transforms: &[ImageTransform]) -> Tensor<4> {
    let [batch, _, height, width] = images.dims();
    assert_eq!(batch, transforms.len(), "one transform per image");
    if transforms.iter().all(|t| {
        *t == ImageTransform {
            shift_x: 0,
            shift_y: 0,
            flip: false,
            angle: 0.0,
        }
    }) {
        return images;
    }
    let device = images.device();
    // Per image: x_src = a·x + b·y + tx, y_src = c·x + d·y + ty.
    let mut coefficients = Vec::with_capacity(batch * 6);
    for t in transforms {
        let mirror = if t.flip { -1.0 } else { 1.0 };
        let (sin, cos) = t.angle.sin_cos();
        coefficients.extend([
            mirror * cos,
            -mirror * sin,
            -2.0 * t.shift_x as f64 / width as f64,
            sin,
            cos,
            -2.0 * t.shift_y as f64 / height as f64,
        ]);
    }
    let coefficients: Vec<f32> = coefficients.into_iter().map(|value| value as f32).collect();
    let coefficients = Tensor::<2>::from_data(TensorData::new(coefficients, [batch, 6]), &device);
    let column = |index: usize| {
        coefficients
            .clone()
            .slice([0..batch, index..index + 1])
            .reshape([batch, 1, 1])
    };

    // Pixel-centre coordinates in [-1, 1] (align_corners = false convention).
    let xs: Vec<f32> = (0..width)
        .map(|j| (2 * j + 1) as f32 / width as f32 - 1.0)
        .collect();
    let ys: Vec<f32> = (0..height)
        .map(|i| (2 * i + 1) as f32 / height as f32 - 1.0)
        .collect();
    let x = Tensor::<1>::from_floats(xs.as_slice(), &device).reshape([1, 1, width]);
    let y = Tensor::<1>::from_floats(ys.as_slice(), &device).reshape([1, height, 1]);

    let x_src = column(0) * x.clone() + column(1) * y.clone() + column(2);
    let y_src = column(3) * x + column(4) * y + column(5);
    let grid = Tensor::stack::<4>(vec![x_src, y_src], 3);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(false);
    images.grid_sample_2d(grid, options)
}
