//! The shared inference path against independent computations: test-time augmentation against
//! views computed separately (the mirror made by a direct loop), scoring against hand counts,
//! and class-count mismatches as errors naming both numbers.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use cifar_model::inference::{self, InferenceError, Probabilities, Scored, Tta};
use cifar_model::{Classifier, Normalization, ResNetConfig};

fn device() -> Device {
    Device::flex()
}

/// Two planar images with left-right structure, so that mirroring changes the answer.
fn planar_images() -> Vec<u8> {
    (0..2 * 3072)
        .map(|i| {
            let x = i % 32;
            ((x * 7 + (i / 1024) * 50 + i / 3072 * 13) % 256) as u8
        })
        .collect()
}

/// Mirrors planar images left-right with a plain loop (not `Tensor::flip`).
fn mirror(planar: &[u8]) -> Vec<u8> {
    let mut out = planar.to_vec();
    for (row_index, row) in planar.chunks(32).enumerate() {
        for x in 0..32 {
            out[row_index * 32 + x] = row[31 - x];
        }
    }
    out
}

fn softmax_rows(model: &impl Classifier, planar: &[u8]) -> Vec<f32> {
    let input = inference::planar_input(planar, &Normalization::CIFAR10, &device()).unwrap();
    softmax(model.logits(input), 1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn flip_tta_is_the_mean_of_the_separately_computed_views() {
    let device = device();
    device.seed(11);
    let model = ResNetConfig::narrow().init(&device).fold_batchnorm();
    let planar = planar_images();
    let plain = softmax_rows(&model, &planar);
    let mirrored = softmax_rows(&model, &mirror(&planar));
    let input = inference::planar_input(&planar, &Normalization::CIFAR10, &device).unwrap();
    let tta =
        Probabilities::read(inference::probabilities(&model, input.clone(), Tta::Flip)).unwrap();
    let none = Probabilities::read(inference::probabilities(&model, input, Tta::None)).unwrap();
    assert_eq!(tta.len(), 2);
    assert_eq!(none.values(), plain.as_slice());
    let mut largest_view_difference = 0.0f32;
    for (k, value) in tta.values().iter().enumerate() {
        let expected = (plain[k] + mirrored[k]) / 2.0;
        assert!(
            (value - expected).abs() < 1e-6,
            "{k}: {value} vs {expected}"
        );
        largest_view_difference = largest_view_difference.max((plain[k] - mirrored[k]).abs());
    }
    // The views differ, so the test would notice TTA returning one view alone.
    assert!(largest_view_difference > 1e-4, "{largest_view_difference}");
}

/// Moves planar images by (dy, dx) pixels with a plain loop, reflecting at the borders (row −1
/// reads row 1, row 32 reads row 30), as `F.pad(mode="reflect")` and a crop would.
fn shift(planar: &[u8], dy: i32, dx: i32) -> Vec<u8> {
    let reflect = |v: i32| -> usize {
        if v < 0 {
            (-v) as usize
        } else if v > 31 {
            (62 - v) as usize
        } else {
            v as usize
        }
    };
    let mut out = vec![0u8; planar.len()];
    for (plane_index, plane) in planar.chunks(1024).enumerate() {
        for y in 0..32i32 {
            for x in 0..32i32 {
                out[plane_index * 1024 + (y * 32 + x) as usize] =
                    plane[reflect(y - dy) * 32 + reflect(x - dx)];
            }
        }
    }
    out
}

#[test]
fn multi_tta_is_the_weighted_mean_of_the_six_views() {
    let device = device();
    device.seed(12);
    let model = ResNetConfig::narrow().init(&device).fold_batchnorm();
    let planar = planar_images();
    let flip_mean = |images: &[u8]| -> Vec<f32> {
        let plain = softmax_rows(&model, images);
        let mirrored = softmax_rows(&model, &mirror(images));
        plain
            .iter()
            .zip(&mirrored)
            .map(|(a, b)| (a + b) / 2.0)
            .collect()
    };
    let (centre, down_right, up_left) = (
        flip_mean(&planar),
        flip_mean(&shift(&planar, 1, 1)),
        flip_mean(&shift(&planar, -1, -1)),
    );
    let input = inference::planar_input(&planar, &Normalization::CIFAR10, &device).unwrap();
    let multi = Probabilities::read(inference::probabilities(&model, input, Tta::Multi)).unwrap();
    let mut largest_shift_effect = 0.0f32;
    for (k, value) in multi.values().iter().enumerate() {
        let expected = 0.5 * centre[k] + 0.25 * down_right[k] + 0.25 * up_left[k];
        assert!(
            (value - expected).abs() < 1e-6,
            "{k}: {value} vs {expected}"
        );
        largest_shift_effect = largest_shift_effect.max((centre[k] - down_right[k]).abs());
    }
    assert!(largest_shift_effect > 1e-5, "{largest_shift_effect}");
}

#[test]
fn scoring_counts_what_a_hand_count_gives() {
    // Rows predict 0, 1, 1, 2, 0 (three classes); labels 0, 1, 2, 2, 1.
    let rows: [[f32; 3]; 5] = [
        [0.8, 0.1, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.5, 0.4],
        [0.1, 0.2, 0.7],
        [0.5, 0.3, 0.2],
    ];
    let probabilities = Probabilities::new(3, rows.concat()).unwrap();
    let scored = Scored::new(probabilities, vec![0, 1, 2, 2, 1], 3, "labels").unwrap();
    assert_eq!(scored.correct(), 3);
    assert_eq!(scored.accuracy(), 0.6);
    assert_eq!(
        scored.confusion(),
        vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]
    );
    assert_eq!(
        scored.per_class_accuracy(),
        vec![Some(1.0), Some(0.5), Some(0.5)]
    );
    let expected_loss = -[0.8f64, 0.7, 0.4, 0.7, 0.3]
        .iter()
        .map(|p| (*p as f32 as f64).ln())
        .sum::<f64>()
        / 5.0;
    assert!((scored.loss() - expected_loss).abs() < 1e-9);
    assert_eq!(inference::argmax(&[0.1, 0.5, 0.5, 0.2]), 1);
}

#[test]
fn class_counts_that_differ_are_errors_naming_both_numbers() {
    for model_classes in [5usize, 12] {
        let probabilities =
            Probabilities::new(model_classes, vec![0.1; model_classes * 2]).unwrap();
        let error = Scored::new(probabilities, vec![9, 3], 10, "the data (CIFAR-10)").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, InferenceError::Classes(_)), "{message}");
        assert_eq!(
            message,
            format!("the model has {model_classes} classes but the data (CIFAR-10) has 10")
        );
    }
    // A label beyond the classes, and answers that do not cover the labels.
    let probabilities = Probabilities::new(3, vec![0.2; 6]).unwrap();
    let error = Scored::new(probabilities.clone(), vec![0, 3], 3, "labels").unwrap_err();
    assert!(error.to_string().contains("label 3 of image 1"), "{error}");
    let error = Scored::new(probabilities, vec![0], 3, "labels").unwrap_err();
    assert!(
        error.to_string().contains("2 answers for 1 labels"),
        "{error}"
    );
    // Rows that are not whole, bytes that are not whole images.
    assert!(Probabilities::new(10, vec![0.0; 15]).is_err());
    let error =
        inference::planar_input(&[0u8; 100], &Normalization::CIFAR10, &device()).unwrap_err();
    assert!(error.to_string().contains("100 bytes"), "{error}");
    // Appending batches of another class count.
    let mut all = Probabilities::new(10, vec![0.1; 10]).unwrap();
    assert!(
        all.append(Probabilities::new(5, vec![0.2; 5]).unwrap())
            .is_err()
    );
}

#[test]
fn tta_names_parse() {
    assert_eq!("flip".parse::<Tta>(), Ok(Tta::Flip));
    assert_eq!("none".parse::<Tta>(), Ok(Tta::None));
    assert_eq!("multi".parse::<Tta>(), Ok(Tta::Multi));
    assert!(
        "five-crop"
            .parse::<Tta>()
            .unwrap_err()
            .contains("five-crop")
    );
    assert_eq!(Tta::Flip.to_string(), "flip");
}

#[test]
fn device_errors_read_as_one_line_of_reasons() {
    // As Burn's execution error prints a failed GPU read-back (seen in Chromium).
    let burn_text = "An error happened during execution\nCaused by:\n  An error happened during \
                     execution\nCaused by:\n  the staging buffer could not be mapped: Error \
                     occurred when trying to async map a buffer\nBacktrace:\nNo backtrace available";
    assert_eq!(
        inference::device_reason(&burn_text),
        "the staging buffer could not be mapped: Error occurred when trying to async map a buffer"
    );
    assert_eq!(inference::device_reason(&"plain"), "plain");
}
