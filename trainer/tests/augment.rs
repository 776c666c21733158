//! Augmentation: determinism with a seed, and crop/flip/rotation on known images.

mod common;

use burn::prelude::*;
use cifar_trainer::augment::{
    AugmentConfig, BatchPosition, Fill, ImageTransform, apply, apply_with, cutout,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use common::reflect32;

fn ramp(batch: usize) -> Tensor<4> {
    let values: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|i| (i % 1000) as f32 / 1000.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, 3, 32, 32]), &Device::flex())
}

fn pixels(tensor: Tensor<4>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

fn at(values: &[f32], c: usize, y: usize, x: usize) -> f32 {
    values[c * 1024 + y * 32 + x]
}

const IDENTITY: ImageTransform = ImageTransform {
    shift_x: 0,
    shift_y: 0,
    flip: false,
    angle: 0.0,
};

/// Crop-from-zero-padding and flip of one planar image by a direct loop: output pixel (y, x)
/// reads input (y − shift_y, x' − shift_x) where x' is x mirrored when flipped.
fn crop_flip_by_loop(image: &[f32], t: &ImageTransform) -> Vec<f32> {
    let mut out = vec![0.0; 3 * 1024];
    for c in 0..3 {
        for y in 0..32i32 {
            for x in 0..32i32 {
                let x_read = if t.flip { 31 - x } else { x };
                let (sy, sx) = (y - t.shift_y, x_read - t.shift_x);
                if (0..32).contains(&sy) && (0..32).contains(&sx) {
                    out[c * 1024 + (y * 32 + x) as usize] =
                        image[c * 1024 + (sy * 32 + sx) as usize];
                }
            }
        }
    }
    out
}

#[test]
fn same_seed_same_augmentation() {
    let config = AugmentConfig::new().with_rotation_degrees(0.0);
    let draw = |seed| config.sample(16, &mut StdRng::seed_from_u64(seed));
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    // What a seed draws is applied exactly: every image equals a direct CPU crop and flip.
    let transforms = draw(5);
    assert!(transforms.iter().any(|t| t.flip) && transforms.iter().any(|t| !t.flip));
    let images = ramp(16);
    let original = pixels(images.clone());
    let augmented = pixels(apply(images, &transforms));
    for (index, t) in transforms.iter().enumerate() {
        let range = index * 3072..(index + 1) * 3072;
        let expected = crop_flip_by_loop(&original[range.clone()], t);
        let worst = augmented[range]
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "image {index} ({t:?}): off by {worst}");
    }
}

#[test]
fn sampled_transforms_respect_the_config() {
    let config = AugmentConfig::new().with_rotation_degrees(5.0);
    let transforms = config.sample(500, &mut StdRng::seed_from_u64(0));
    assert!(
        transforms
            .iter()
            .all(|t| t.shift_x.abs() <= 4 && t.shift_y.abs() <= 4)
    );
    assert!(
        transforms
            .iter()
            .all(|t| t.angle.abs() <= 5f64.to_radians() + 1e-12)
    );
    let flips = transforms.iter().filter(|t| t.flip).count();
    assert!((150..350).contains(&flips), "{flips} flips of 500");

    let off = AugmentConfig::new()
        .with_crop(false)
        .with_flip(false)
        .with_rotation_degrees(0.0);
    assert!(off.is_identity());
    assert!(
        off.sample(10, &mut StdRng::seed_from_u64(0))
            .iter()
            .all(|t| *t == IDENTITY)
    );
}

#[test]
fn identity_leaves_images_unchanged() {
    // Beside a flipped image, so that the identity goes through the resampling too (a batch of
    // identities alone is returned as it is).
    let images = ramp(2);
    let original = pixels(images.clone());
    let flipped = ImageTransform {
        flip: true,
        ..IDENTITY
    };
    let out = pixels(apply(images, &[IDENTITY, flipped]));
    let worst = out[..3072]
        .iter()
        .zip(&original[..3072])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "identity moved pixels by {worst}");
    assert_ne!(
        out[3072..],
        original[3072..],
        "the second image was flipped"
    );
}

#[test]
fn flip_mirrors_exactly() {
    let images = ramp(1);
    let original = pixels(images.clone());
    let flipped = pixels(apply(
        images,
        &[ImageTransform {
            flip: true,
            ..IDENTITY
        }],
    ));
    for c in 0..3 {
        for y in [0, 13, 31] {
            for x in [0, 5, 31] {
                let expected = at(&original, c, y, 31 - x);
                assert!(
                    (at(&flipped, c, y, x) - expected).abs() < 1e-5,
                    "c{c} y{y} x{x}"
                );
            }
        }
    }
}

#[test]
fn crop_shifts_content_and_pads_with_zeros() {
    let images = ramp(1);
    let original = pixels(images.clone());
    let shifted = pixels(apply(
        images,
        &[ImageTransform {
            shift_x: 3,
            shift_y: -2,
            ..IDENTITY
        }],
    ));
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let (sy, sx) = (y as i32 + 2, x as i32 - 3);
                let expected = if (0..32).contains(&sy) && (0..32).contains(&sx) {
                    at(&original, c, sy as usize, sx as usize)
                } else {
                    0.0
                };
                assert!(
                    (at(&shifted, c, y, x) - expected).abs() < 1e-5,
                    "c{c} y{y} x{x}"
                );
            }
        }
    }
}

#[test]
fn rotation_turns_about_the_centre() {
    // A quarter turn of a horizontal gradient becomes a vertical one.
    let values: Vec<f32> = (0..3 * 32 * 32).map(|i| (i % 32) as f32 / 31.0).collect();
    let images = Tensor::<4>::from_data(TensorData::new(values, [1, 3, 32, 32]), &Device::flex());
    let turned = pixels(apply(
        images,
        &[ImageTransform {
            angle: std::f64::consts::FRAC_PI_2,
            ..IDENTITY
        }],
    ));
    // Along a column the value changes; along a row it is constant.
    let column: Vec<f32> = (0..32).map(|y| at(&turned, 0, y, 16)).collect();
    let row: Vec<f32> = (0..32).map(|x| at(&turned, 0, 16, x)).collect();
    assert!((column[0] - column[31]).abs() > 0.9, "{column:?}");
    assert!(row.iter().all(|v| (v - row[0]).abs() < 1e-4), "{row:?}");
}

#[test]
fn alternating_flip_flips_each_image_on_alternate_epochs() {
    let config = AugmentConfig::new()
        .with_rotation_degrees(0.0)
        .with_alternating_flip(true);
    let indices: Vec<usize> = (0..200).collect();
    let flips = |seed: u64, epoch: usize, order: &[usize]| -> Vec<(usize, bool)> {
        let position = BatchPosition {
            indices: order,
            epoch,
            seed,
        };
        let mut pairs: Vec<(usize, bool)> = order
            .iter()
            .copied()
            .zip(
                config
                    .sample_for(position, &mut StdRng::seed_from_u64(epoch as u64))
                    .iter()
                    .map(|t| t.flip),
            )
            .collect();
        pairs.sort();
        pairs
    };
    let first = flips(7, 1, &indices);
    let flipped = first.iter().filter(|(_, f)| *f).count();
    assert!(
        (70..130).contains(&flipped),
        "{flipped} of 200 flipped in epoch 1"
    );
    for epoch in 2..=5 {
        let this = flips(7, epoch, &indices);
        for ((index, f1), (_, f)) in first.iter().zip(&this) {
            // Odd epochs as the first, even ones the other way.
            assert_eq!(*f, *f1 ^ (epoch % 2 == 0), "image {index}, epoch {epoch}");
        }
    }
    // The same for any batch order (decided by the image, not its place), other for another seed.
    let reversed: Vec<usize> = indices.iter().rev().copied().collect();
    assert_eq!(flips(7, 1, &reversed), first);
    assert_ne!(flips(8, 1, &indices), first);
    // Without alternating flip, sample_for draws what sample draws.
    let plain = AugmentConfig::new();
    let position = BatchPosition {
        indices: &indices[..16],
        epoch: 3,
        seed: 7,
    };
    assert_eq!(
        plain.sample_for(position, &mut StdRng::seed_from_u64(1)),
        plain.sample(16, &mut StdRng::seed_from_u64(1))
    );
}

#[test]
fn cutout_zeroes_exactly_the_clipped_squares() {
    let images = ramp(2);
    let original = pixels(images.clone());
    // Centre (0, 0): the 4×4 corner; centre (20, 10): 8×8 at x 16..24, y 6..14.
    let centres = [(0, 0), (20, 10)];
    let out = pixels(cutout(images, &centres, 8));
    for (image, (cx, cy)) in centres.iter().enumerate() {
        for c in 0..3 {
            for y in 0..32i32 {
                for x in 0..32i32 {
                    let inside = (cx - 4..cx + 4).contains(&x) && (cy - 4..cy + 4).contains(&y);
                    let index = image * 3072 + c * 1024 + (y * 32 + x) as usize;
                    let expected = if inside { 0.0 } else { original[index] };
                    assert_eq!(out[index], expected, "image {image} c{c} y{y} x{x}");
                }
            }
        }
    }
    let config = AugmentConfig::new().with_cutout(12);
    let drawn = config
        .sample_cutout(100, &mut StdRng::seed_from_u64(3))
        .unwrap();
    assert!(
        drawn
            .iter()
            .all(|&(x, y)| (0..32).contains(&x) && (0..32).contains(&y))
    );
    assert_eq!(
        AugmentConfig::new().sample_cutout(4, &mut StdRng::seed_from_u64(3)),
        None
    );
}

#[test]
fn augmentation_settings_are_checked() {
    let error = AugmentConfig::new()
        .with_flip(false)
        .with_alternating_flip(true)
        .validate()
        .unwrap_err();
    assert!(error.contains("alternating_flip"), "{error}");
    let error = AugmentConfig::new().with_cutout(40).validate().unwrap_err();
    assert!(error.contains("cutout"), "{error}");
    assert!(AugmentConfig::new().validate().is_ok());
}

#[test]
fn reflect_fill_crops_from_a_mirrored_border() {
    // A shift brings in the image mirrored about its edge (row −1 reads row 1, as PyTorch's
    // `F.pad(mode="reflect")`), checked against a direct loop over every pixel.
    let images = ramp(2);
    let original = pixels(images.clone());
    let transforms = [
        ImageTransform {
            shift_x: 3,
            shift_y: -2,
            ..IDENTITY
        },
        ImageTransform {
            shift_x: -4,
            shift_y: 4,
            flip: true,
            ..IDENTITY
        },
    ];
    let out = pixels(apply_with(images, &transforms, Fill::Reflect, 4));
    for (image, t) in transforms.iter().enumerate() {
        for c in 0..3 {
            for y in 0..32i32 {
                for x in 0..32i32 {
                    let x_read = if t.flip { 31 - x } else { x };
                    let source = image * 3072
                        + c * 1024
                        + reflect32(y - t.shift_y) * 32
                        + reflect32(x_read - t.shift_x);
                    let index = image * 3072 + c * 1024 + (y * 32 + x) as usize;
                    assert!(
                        (out[index] - original[source]).abs() < 1e-5,
                        "image {image} c{c} y{y} x{x}: {} vs {}",
                        out[index],
                        original[source]
                    );
                }
            }
        }
    }
    let error = AugmentConfig::new()
        .with_fill(Fill::Reflect)
        .with_padding(40)
        .validate()
        .unwrap_err();
    assert!(error.contains("fill"), "{error}");
}
