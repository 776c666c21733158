//! The page's Rust side, natively: file bytes → prepared input → probabilities, and the errors a
//! visitor can cause (a file that is not an image, a wrong weights file).

use burn::prelude::*;
use cifar_model::preprocess::image_to_tensor;
use cifar_model::{Classifier, Layout, ModelInfo, Precision, ResNetConfig, to_safetensors};
use cifar_web::classify::{Classification, prepare, to_rgba};
use cifar_web::engine::Engine;
use image::{ImageFormat, Rgb, RgbImage, RgbaImage};

fn encode(image: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn weights() -> Vec<u8> {
    let device = Device::flex();
    let config = ResNetConfig::narrow();
    let model = config.init(&device);
    to_safetensors(
        &model,
        &ModelInfo::cifar10(config),
        Precision::F16,
        Layout::Burn,
    )
    .unwrap()
}

#[test]
fn any_format_and_size_is_prepared_like_the_trainer() {
    let photo = RgbImage::from_fn(120, 80, |x, y| Rgb([x as u8, y as u8, 7]));
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp] {
        let prepared = prepare(&encode(photo.clone().into(), format)).unwrap();
        assert_eq!(prepared.model_view.dimensions(), (32, 32));
        assert_eq!(prepared.planar.len(), 3072);
        assert_eq!(to_rgba(&prepared.model_view).len(), 32 * 32 * 4);
    }
    let with_alpha = RgbaImage::from_pixel(50, 50, image::Rgba([0, 0, 0, 0]));
    let prepared = prepare(&encode(with_alpha.into(), ImageFormat::Png)).unwrap();
    assert_eq!(prepared.model_view.get_pixel(10, 10).0, [255, 255, 255]);
}

#[test]
fn non_images_get_a_message() {
    let error = prepare(b"%PDF-1.7 definitely not an image").unwrap_err();
    assert!(error.contains("not"), "{error}");
    assert!(prepare(&[]).is_err());
}

#[test]
fn engine_computes_what_the_shared_model_computes() {
    let device = Device::flex();
    let bytes = weights();
    let engine = Engine::load(&bytes, &device).unwrap();
    assert_eq!(engine.num_classes(), 10);

    let photo: image::DynamicImage =
        RgbImage::from_fn(64, 48, |x, y| Rgb([(3 * x) as u8, (5 * y) as u8, 90])).into();
    let prepared = prepare(&encode(photo.clone(), ImageFormat::Png)).unwrap();
    let probabilities = pollster::block_on(engine.probabilities(&prepared.planar)).unwrap();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);

    // The trainer's path: load, fold, preprocess, softmax.
    let (model, info) = cifar_model::load_model(&bytes, &device).unwrap();
    let logits =
        model
            .fold_batchnorm()
            .logits(image_to_tensor(&photo, &info.normalization, &device));
    let expected = burn::tensor::activation::softmax(logits, 1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (a, b) in probabilities.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{probabilities:?} vs {expected:?}");
    }
    let classification = Classification::new(probabilities.clone(), 1.0);
    assert_eq!(
        classification.probabilities[classification.top],
        probabilities.iter().cloned().fold(0.0, f32::max)
    );

    // Batches of several images, and bad input sizes.
    let two = [prepared.planar.clone(), prepared.planar.clone()].concat();
    assert_eq!(
        pollster::block_on(engine.probabilities(&two))
            .unwrap()
            .len(),
        20
    );
    assert!(pollster::block_on(engine.probabilities(&[0u8; 100])).is_err());
}

#[test]
fn wrong_weights_are_refused_with_the_reason() {
    let device = Device::flex();
    let error = Engine::load(b"not safetensors", &device).err().unwrap();
    assert!(error.contains("safetensors"), "{error}");
    let mut truncated = weights();
    truncated.truncate(truncated.len() / 2);
    assert!(Engine::load(&truncated, &device).is_err());
}
