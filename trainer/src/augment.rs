//! Data augmentation on the training device: random crop from zero padding, horizontal flip and
//! a small rotation, done for a whole batch at once as one affine resampling (`grid_sample_2d`).
//!
//! Per image only six numbers are drawn on the CPU (from a seeded RNG); the pixel work runs on
//! the device. An integer shift with no rotation lands exactly on pixel centres, so crop and flip
//! reproduce the input pixels bit for bit, as a CPU crop would.

use burn::config::Config;
use burn::prelude::*;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode, PadMode};
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
    /// With `flip`: instead of a fresh coin per epoch, each image is flipped at random in the
    /// first epoch and then on alternate epochs (every image is seen both ways every two
    /// epochs; airbench's "alternating flip"). Decided by (seed, image index, epoch).
    #[config(default = false)]
    pub alternating_flip: bool,
    /// What a crop brings in at the borders: `"zeros"` (black, torchvision's default) or
    /// `"reflect"` (the image mirrored about its edge row/column, excluding it: PyTorch's
    /// `F.pad(mode="reflect")`, the fast recipes' translation). Reflect needs `padding` ≤ 31.
    #[config(default = "Fill::Zeros")]
    pub fill: Fill,
    /// Cutout: a square of this side (pixels), centred at a random pixel and clipped at the
    /// borders, set to the data set's mean colour (0 after normalisation). 0 disables it.
    #[config(default = 0)]
    pub cutout: usize,
}

/// What enters at the borders of a shifted or rotated image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fill {
    #[default]
    Zeros,
    Reflect,
}

/// The transform of one image: shift in pixels, mirror, rotation in radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageTransform {
    pub shift_x: i32,
    pub shift_y: i32,
    pub flip: bool,
    pub angle: f64,
}

/// Which images a batch holds and when: what alternating flip decides by.
#[derive(Clone, Copy, Debug)]
pub struct BatchPosition<'a> {
    /// Dataset index of each image of the batch.
    pub indices: &'a [usize],
    /// 1-based epoch.
    pub epoch: usize,
    pub seed: u64,
}

impl AugmentConfig {
    pub fn is_identity(&self) -> bool {
        !(self.flip || self.crop && self.padding > 0) && self.rotation_degrees == 0.0
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.alternating_flip && !self.flip {
            return Err("`augment.alternating_flip` needs `augment.flip`".into());
        }
        if self.fill == Fill::Reflect && self.crop && self.padding > 31 {
            return Err("`augment.fill` reflect needs `augment.padding` ≤ 31".into());
        }
        if self.cutout > 32 {
            return Err("`augment.cutout` must be at most 32 (the image side)".into());
        }
        Ok(())
    }

    /// Draws the transforms of one batch of `batch` images (fresh coin flips).
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> Vec<ImageTransform> {
        let indices: Vec<usize> = (0..batch).collect();
        let position = BatchPosition {
            indices: &indices,
            epoch: 1,
            seed: 0,
        };
        self.sample_for(position, rng)
    }

    /// Draws the transforms of the images at `position`. Without alternating flip the draws
    /// are the same as [`AugmentConfig::sample`]'s.
    pub fn sample_for(&self, position: BatchPosition, rng: &mut impl Rng) -> Vec<ImageTransform> {
        let pad = self.padding as i32;
        position
            .indices
            .iter()
            .map(|&index| {
                let (shift_x, shift_y) = if self.crop && pad > 0 {
                    (rng.random_range(-pad..=pad), rng.random_range(-pad..=pad))
                } else {
                    (0, 0)
                };
                let flip = if self.flip && self.alternating_flip {
                    alternating_flip(position.seed, index, position.epoch)
                } else {
                    self.flip && rng.random_bool(0.5)
                };
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

    /// Cutout squares, `(centre x, centre y)` per image, or `None` when cutout is off.
    pub fn sample_cutout(&self, batch: usize, rng: &mut impl Rng) -> Option<Vec<(i32, i32)>> {
        (self.cutout > 0).then(|| {
            (0..batch)
                .map(|_| (rng.random_range(0..32), rng.random_range(0..32)))
                .collect()
        })
    }
}

/// Alternating flip: image `index` is flipped in epoch 1 by a coin drawn from (seed, index), and
/// in each later epoch the other way from the epoch before.
pub fn alternating_flip(seed: u64, index: usize, epoch: usize) -> bool {
    let first = splitmix64(seed ^ splitmix64(index as u64)) & 1 == 1;
    first ^ (epoch.saturating_sub(1) % 2 == 1)
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x` (a coin per image that does not
/// depend on the order images are drawn in).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Zeroes a `side`×`side` square (clipped at the borders) around each centre of normalised
/// `[batch, C, H, W]` images: after normalisation 0 is the data set's mean colour.
pub fn cutout(images: Tensor<4>, centres: &[(i32, i32)], side: usize) -> Tensor<4> {
    let [batch, _, height, width] = images.dims();
    assert_eq!(batch, centres.len(), "one centre per image");
    let half = side as i32 / 2;
    let mut mask = vec![1.0f32; batch * height * width];
    for (image, &(cx, cy)) in centres.iter().enumerate() {
        // The square covers [c − side/2, c − side/2 + side) in each direction.
        for y in (cy - half).max(0)..(cy - half + side as i32).min(height as i32) {
            for x in (cx - half).max(0)..(cx - half + side as i32).min(width as i32) {
                mask[image * height * width + y as usize * width + x as usize] = 0.0;
            }
        }
    }
    let mask = Tensor::<4>::from_data(
        TensorData::new(mask, [batch, 1, height, width]),
        &images.device(),
    );
    images * mask
}

/// Applies one transform per image to `[batch, C, H, W]` images (zeros enter at the borders).
pub fn apply(images: Tensor<4>, transforms: &[ImageTransform]) -> Tensor<4> {
    apply_with(images, transforms, Fill::Zeros, 0)
}

/// Applies one transform per image to `[batch, C, H, W]` images, `fill` entering at the
/// borders (for `Reflect`, shifts of at most `reach` pixels stay inside the reflection).
///
/// Output pixel `p` (normalised coordinates) samples the input at `M·p − t`, where `M` rotates
/// then mirrors and `t` is the shift: content moves right/down by `shift_x/shift_y` pixels.
/// Reflection pads the images by `reach` mirrored pixels first and samples the padded images
/// at the same points, their coordinates scaled to the larger size.
pub fn apply_with(
    images: Tensor<4>,
    transforms: &[ImageTransform],
    fill: Fill,
    reach: usize,
) -> Tensor<4> {
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
    let (images, x_src, y_src) = match fill {
        Fill::Reflect if reach > 0 => (
            images.pad((reach, reach, reach, reach), PadMode::Reflect),
            x_src * (width as f64 / (width + 2 * reach) as f64),
            y_src * (height as f64 / (height + 2 * reach) as f64),
        ),
        _ => (images, x_src, y_src),
    };
    let grid = Tensor::stack::<4>(vec![x_src, y_src], 3);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(false);
    images.grid_sample_2d(grid, options)
}
