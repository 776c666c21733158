//! Augmentation: determinism with a seed, and crop/flip/rotation on known images.

use burn::prelude::*;
use cifar_trainer::augment::{AugmentConfig, ImageTransform, apply};
use rand::SeedableRng;
use rand::rngs::StdRng;

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

#[test]
fn same_seed_same_augmentation() {
    let config = AugmentConfig::new();
    let draw = |seed| config.sample(16, &mut StdRng::seed_from_u64(seed));
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let images = ramp(16);
    assert_eq!(
        pixels(apply(images.clone(), &draw(5))),
        pixels(apply(images, &draw(5)))
    );
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
    let images = ramp(2);
    assert_eq!(
        pixels(apply(images.clone(), &[IDENTITY; 2])),
        pixels(images)
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
