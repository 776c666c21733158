//! Image → model input, identical for trainer and browser.

use burn::prelude::*;
use cifar_model::Normalization;
use cifar_model::preprocess::{
    IMAGE_BYTES, image_to_tensor, planar_batch_to_tensor, planar_to_rgb, rgb_to_planar,
    to_model_rgb,
};
use image::{DynamicImage, GrayImage, Rgb, RgbImage, RgbaImage};

#[test]
fn any_size_becomes_32x32_by_resize_and_centre_crop() {
    // Left half red, right half blue, 128×64: the centre crop keeps both halves equally.
    let wide = RgbImage::from_fn(128, 64, |x, _| {
        if x < 64 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let out = to_model_rgb(&DynamicImage::ImageRgb8(wide));
    assert_eq!(out.dimensions(), (32, 32));
    assert_eq!(out.get_pixel(2, 16).0, [255, 0, 0]);
    assert_eq!(out.get_pixel(29, 16).0, [0, 0, 255]);

    let tiny = RgbImage::from_pixel(5, 7, Rgb([10, 20, 30]));
    let out = to_model_rgb(&DynamicImage::ImageRgb8(tiny));
    assert_eq!(out.dimensions(), (32, 32));
    assert_eq!(out.get_pixel(16, 16).0, [10, 20, 30]);
}

#[test]
fn exact_32x32_images_pass_through_unchanged() {
    let image = RgbImage::from_fn(32, 32, |x, y| {
        Rgb([x as u8 * 7, y as u8 * 5, (x * y) as u8])
    });
    assert_eq!(to_model_rgb(&DynamicImage::ImageRgb8(image.clone())), image);
}

#[test]
fn grayscale_and_alpha_are_handled() {
    let gray = GrayImage::from_pixel(40, 40, image::Luma([77]));
    let out = to_model_rgb(&DynamicImage::ImageLuma8(gray));
    assert_eq!(out.get_pixel(0, 0).0, [77, 77, 77]);

    // Fully transparent black shows as white; opaque keeps its colour; half alpha blends.
    let rgba = RgbaImage::from_fn(32, 32, |x, _| match x {
        0..=9 => image::Rgba([0, 0, 0, 0]),
        10..=19 => image::Rgba([200, 100, 50, 255]),
        _ => image::Rgba([0, 0, 0, 128]),
    });
    let out = to_model_rgb(&DynamicImage::ImageRgba8(rgba));
    assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(out.get_pixel(15, 0).0, [200, 100, 50]);
    assert_eq!(out.get_pixel(25, 0).0, [127, 127, 127]);
}

#[test]
fn planar_layout_round_trips() {
    let image = RgbImage::from_fn(32, 32, |x, y| Rgb([x as u8, y as u8, 200]));
    let planar = rgb_to_planar(&image);
    assert_eq!(planar.len(), IMAGE_BYTES);
    assert_eq!(planar[32 + 3], 3); // red plane, row 1, column 3 → x = 3
    assert_eq!(planar[1024 + 32], 1); // green plane, row 1 → y = 1
    assert_eq!(planar_to_rgb(&planar), image);
}

#[test]
fn normalisation_matches_the_formula() {
    let norm = Normalization::CIFAR10;
    let mut planar = vec![0u8; IMAGE_BYTES];
    planar[0] = 255; // red
    planar[1024] = 128; // green
    let tensor = planar_batch_to_tensor(&planar, &norm, &Device::flex());
    assert_eq!(tensor.dims(), [1, 3, 32, 32]);
    let values = tensor.into_data().try_to_vec::<f32>().unwrap();
    let expect_red = (1.0 - 0.4914) / 0.2023;
    let expect_green = (128.0 / 255.0 - 0.4822) / 0.1994;
    let expect_blue = (0.0 - 0.4465) / 0.2010;
    assert!((values[0] - expect_red).abs() < 1e-5);
    assert!((values[1024] - expect_green).abs() < 1e-5);
    assert!((values[2048] - expect_blue).abs() < 1e-5);

    // The tensor path gives the same numbers as the byte path.
    let device = Device::flex();
    let raw: Vec<f32> = planar.iter().map(|&b| b as f32 / 255.0).collect();
    let via_tensor = norm
        .normalize_tensor(Tensor::from_data(
            TensorData::new(raw, [1, 3, 32, 32]),
            &device,
        ))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (a, b) in values.iter().zip(via_tensor) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn image_to_tensor_gives_a_batch_of_one() {
    let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(100, 60, Rgb([1, 2, 3])));
    let tensor = image_to_tensor(&image, &Normalization::CIFAR10, &Device::flex());
    assert_eq!(tensor.dims(), [1, 3, 32, 32]);
}
