//! The shipped assets (assets/: the page's default weights, test report and images) against an
//! evaluation done here independently of the trainer's eval path: the test records read
//! straight from the archive with tar/flate2, normalised by a plain loop, run through the
//! model with its BatchNorm layers as they are (not folded), arg-max and counting by hand.

mod common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// Predicted class of each record (label byte + planar pixels), computed without the shared
/// inference module: normalisation as the formula, the unfolded model, a hand arg-max.
fn predict_independently(model: &cifar_model::Model, records: &[u8], device: &Device) -> Vec<u8> {
    let mean = [0.4914f32, 0.4822, 0.4465];
    let std = [0.2023f32, 0.1994, 0.2010];
    let mut predicted = Vec::new();
    for chunk in records.chunks(250 * (IMAGE_BYTES + 1)) {
        let count = chunk.len() / (IMAGE_BYTES + 1);
        let mut values = Vec::with_capacity(count * IMAGE_BYTES);
        for record in chunk.chunks(IMAGE_BYTES + 1) {
            for (i, &byte) in record[1..].iter().enumerate() {
                let channel = i / 1024;
                values.push((byte as f32 / 255.0 - mean[channel]) / std[channel]);
            }
        }
        let input = Tensor::<4>::from_data(TensorData::new(values, [count, 3, 32, 32]), device);
        let logits = model
            .forward(input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for row in logits.chunks(10) {
            let mut best = 0;
            for (k, value) in row.iter().enumerate() {
                if *value > row[best] {
                    best = k;
                }
            }
            predicted.push(best as u8);
        }
    }
    predicted
}

#[test]
fn shipped_weights_and_report_agree_with_an_independent_evaluation() {
    let bytes = std::fs::read(assets().join("model-f16.safetensors"))
        .expect("assets/model-f16.safetensors is shipped");
    let device = Device::flex();
    let (model, info) = cifar_model::load_model(&bytes, &device).unwrap();
    let training = info
        .training
        .expect("the shipped weights state their training");
    let stored_accuracy = training.test_accuracy.expect("and their test accuracy");
    assert_eq!(
        training.test_images,
        Some(10_000),
        "measured on the whole test set"
    );
    assert_eq!(training.train_images, 50_000);
    // Named by file name and digest, with no path of the machine that trained them.
    assert_eq!(training.data.name, "cifar-10-binary.tar.gz");
    assert_eq!(training.data.sha256_of.as_deref(), Some("file"));
    assert!(!training.data.name.contains('/'));

    let images = std::fs::read(assets().join("test-images.bin")).unwrap();
    let json = std::fs::read_to_string(assets().join("test-report.json")).unwrap();
    let report = TestReport::parse(&json, Some(images.len())).unwrap();

    let Some(archive) = common::real_archive() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no ../shared/data/cifar-10-binary.tar.gz and no CIFAR10_ARCHIVE"
        );
        println!(
            "SKIPPED (evaluation part): no ../shared/data/cifar-10-binary.tar.gz, no CIFAR10_ARCHIVE"
        );
        return;
    };
    {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(std::fs::read(&archive).unwrap()));
        assert_eq!(training.data.sha256.as_deref(), Some(digest.as_str()));
    }
    let records = common::real_test_records(&archive, 10_000);
    let predicted = predict_independently(&model, &records, &device);
    let labels: Vec<u8> = records.chunks(IMAGE_BYTES + 1).map(|r| r[0]).collect();
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    let accuracy = correct as f64 / labels.len() as f64;
    println!(
        "independent evaluation of the shipped weights: {:.2}% ({correct}/10000); metadata: {:.2}%",
        100.0 * accuracy,
        100.0 * stored_accuracy
    );
    // Folded (the trainer) and unfolded (here) BatchNorm round differently (~1e-6): an image
    // whose two best classes are that close may flip. Allow two such images of 10,000.
    let stored_correct = (stored_accuracy * 10_000.0).round() as i64;
    assert!(
        (correct as i64 - stored_correct).abs() <= 2,
        "independent {correct} correct vs stored {stored_correct}"
    );

    // The report: the first test images, with the model's predictions for them.
    let differing = (0..report.len())
        .filter(|&i| report.predictions[i] != predicted[i])
        .count();
    assert!(
        differing <= 1,
        "{differing} of {} stored predictions differ",
        report.len()
    );
    for (index, record) in records
        .chunks(IMAGE_BYTES + 1)
        .take(report.len())
        .enumerate()
    {
        assert_eq!(report.labels[index], record[0], "label of image {index}");
        let shipped = &images[index * IMAGE_BYTES..(index + 1) * IMAGE_BYTES];
        assert_eq!(shipped, &record[1..], "pixels of image {index}");
    }
}
