//! The page's Rust side, natively: decoded pixels → prepared input → probabilities, and the
//! errors a visitor can cause (pixels that do not make an image, a wrong weights file), each
//! with its kind. Decoding is the browser's (`createImageBitmap`); here the `image` crate stands
//! in for it, as it does in the trainer.

use burn::prelude::*;
use cifar_model::preprocess::{image_to_tensor, rgb_to_planar, to_model_rgb};
use cifar_model::{Classifier, Layout, ModelInfo, Precision, ResNetConfig, to_safetensors};
use cifar_web::classify::{Classification, Prepared, prepare_rgba, to_rgba};
use cifar_web::engine::Engine;
use cifar_web::errors::{ErrorKind, PageError};
use image::{ImageFormat, Rgb, RgbImage, RgbaImage};

fn encode(image: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn weights() -> Vec<u8> {
    weights_with_classes(10)
}

/// A narrow model with `classes` outputs (named `class 0`, … unless ten), as f16.
fn weights_with_classes(classes: usize) -> Vec<u8> {
    let config = ResNetConfig::narrow().with_num_classes(classes);
    let model = config.init(&Device::flex());
    to_safetensors(
        &model,
        &ModelInfo::new(config),
        Precision::F16,
        Layout::Burn,
    )
    .unwrap()
}

fn input_error(result: Result<impl Sized, PageError>) -> String {
    match result {
        Ok(_) => panic!("should fail"),
        Err(error) => {
            assert_eq!(error.kind, ErrorKind::Input, "{error}");
            assert_eq!(error.kind.js_name(), "InputError");
            error.message
        }
    }
}

/// What the page does with a file: the browser decodes it to RGBA pixels (here the `image`
/// crate stands in), then the shared preprocessing.
fn prepare_decoded(bytes: &[u8]) -> Prepared {
    let rgba = image::load_from_memory(bytes).unwrap().to_rgba8();
    let (width, height) = rgba.dimensions();
    prepare_rgba(rgba.into_raw(), width, height).unwrap()
}

#[test]
fn decoded_pixels_are_prepared_exactly_like_the_trainers_file() {
    // The trainer decodes the file and prepares the decoded image (RGB, or RGBA with alpha);
    // the page prepares the RGBA pixels of the same decoded image: the same planar bytes.
    let photo = RgbImage::from_fn(120, 80, |x, y| Rgb([x as u8, y as u8, (x * y) as u8]));
    let translucent = RgbaImage::from_fn(50, 70, |x, y| {
        image::Rgba([(4 * x) as u8, (3 * y) as u8, 200, (x * 5 + y) as u8])
    });
    let cases: [(image::DynamicImage, ImageFormat); 4] = [
        (photo.clone().into(), ImageFormat::Png),
        (photo.clone().into(), ImageFormat::Jpeg),
        (photo.into(), ImageFormat::Bmp),
        (translucent.into(), ImageFormat::Png),
    ];
    for (image, format) in cases {
        let file = encode(image, format);
        let trainer = rgb_to_planar(&to_model_rgb(&image::load_from_memory(&file).unwrap()));
        let page = prepare_decoded(&file);
        assert_eq!(page.planar, trainer, "{format:?}");
        assert_eq!(page.model_view.dimensions(), (32, 32));
        assert_eq!(to_rgba(&page.model_view).len(), 32 * 32 * 4);
    }
    // Fully transparent pixels are white, as on a page.
    let clear = RgbaImage::from_pixel(50, 50, image::Rgba([0, 0, 0, 0]));
    let prepared = prepare_decoded(&encode(clear.into(), ImageFormat::Png));
    assert_eq!(prepared.model_view.get_pixel(10, 10).0, [255, 255, 255]);
}

#[test]
fn pixels_that_do_not_make_the_stated_image_get_a_message() {
    assert!(prepare_rgba(vec![0; 100], 5, 5).is_ok());
    let message = input_error(prepare_rgba(vec![0; 99], 5, 5));
    assert_eq!(
        message,
        "99 bytes of RGBA pixels do not make a 5×5 image (100 expected)"
    );
    let message = input_error(prepare_rgba(Vec::new(), 0, 7));
    assert!(message.contains("0×7"), "{message}");
}

#[test]
fn engine_computes_what_the_shared_model_computes() {
    let device = Device::flex();
    let bytes = weights();
    let engine = Engine::load(&bytes, &device).unwrap();
    assert_eq!(engine.num_classes(), 10);

    let photo: image::DynamicImage =
        RgbImage::from_fn(64, 48, |x, y| Rgb([(3 * x) as u8, (5 * y) as u8, 90])).into();
    let prepared = prepare_decoded(&encode(photo.clone(), ImageFormat::Png));
    let probabilities = pollster::block_on(engine.probabilities(&prepared.planar))
        .unwrap()
        .into_values();
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
    let both = pollster::block_on(engine.probabilities(&two)).unwrap();
    assert_eq!((both.len(), both.classes()), (2, 10));
    assert_eq!(both.row(1), probabilities.as_slice());
    let message = input_error(pollster::block_on(engine.probabilities(&[0u8; 100])));
    assert!(message.contains("100 bytes"), "{message}");
}

#[test]
fn models_of_any_class_count_answer_with_their_own_classes() {
    let device = Device::flex();
    for classes in [5usize, 12] {
        let engine = Engine::load(&weights_with_classes(classes), &device).unwrap();
        assert_eq!(engine.num_classes(), classes);
        assert_eq!(
            engine.info.class_names[classes - 1],
            format!("class {}", classes - 1)
        );
        let answer = pollster::block_on(engine.probabilities(&[90u8; 3072])).unwrap();
        assert_eq!((answer.len(), answer.classes()), (1, classes));
    }
}

#[test]
fn a_device_failure_reaches_the_page_as_a_device_error() {
    // What a failed read-back gives (`Probabilities::read_async` wraps Burn's execution error).
    let failure = cifar_model::inference::InferenceError::Device("the GPU was lost".into());
    let error = PageError::from(failure);
    assert_eq!(error.kind, ErrorKind::Device);
    assert_eq!(error.kind.js_name(), "DeviceError");
    assert!(error.message.contains("the GPU was lost"), "{error}");
    // Class mismatches and bad input are the user's, whatever backend runs them.
    let mismatch = cifar_model::inference::check_class_count(5, 10, "the test report").unwrap_err();
    assert_eq!(PageError::from(mismatch).kind, ErrorKind::Input);
}

#[test]
fn wrong_weights_are_refused_with_the_reason() {
    let device = Device::flex();
    let message = input_error(Engine::load(b"not safetensors", &device));
    assert!(
        message.starts_with("not a valid safetensors file"),
        "{message}"
    );
    let mut truncated = weights();
    truncated.truncate(truncated.len() / 2);
    let message = input_error(Engine::load(&truncated, &device));
    assert!(
        message.starts_with("not a valid safetensors file"),
        "{message}"
    );
}
