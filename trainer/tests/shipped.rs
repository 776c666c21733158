//! The shipped assets (assets/: the page's default weights, test report and images) against an
//! evaluation done here independently of the trainer's eval path: the test records read
//! straight from the archive with tar/flate2, normalised by a plain loop, run through the
//! model with its BatchNorm layers as they are (not folded), test-time augmentation views made
//! by plain loops, arg-max and counting by hand.

mod common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use cifar_model::Tta;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// Planar 32×32 RGB pixels moved by (dy, dx), reflecting at the borders (row −1 reads row 1),
/// and mirrored left-right when `mirror`: one view of test-time augmentation, by plain loops.
fn view(planar: &[u8], dy: i32, dx: i32, mirror: bool) -> Vec<u8> {
    let reflect = common::reflect32;
    let mut out = vec![0u8; planar.len()];
    for (plane_index, plane) in planar.chunks(1024).enumerate() {
        for y in 0..32i32 {
            for x in 0..32i32 {
                let source_x = if mirror { 31 - x } else { x };
                out[plane_index * 1024 + (y * 32 + x) as usize] =
                    plane[reflect(y - dy) * 32 + reflect(source_x - dx)];
            }
        }
    }
    out
}

/// The views of `tta` with their weights: the image (and its mirror for flip); for multi also
/// the image moved one pixel down-right and up-left, each with its mirror (½, ¼, ¼ per pair).
fn views(tta: Tta) -> Vec<((i32, i32, bool), f64)> {
    match tta {
        Tta::None => vec![((0, 0, false), 1.0)],
        Tta::Flip => vec![((0, 0, false), 0.5), ((0, 0, true), 0.5)],
        Tta::Multi => vec![
            ((0, 0, false), 0.25),
            ((0, 0, true), 0.25),
            ((1, 1, false), 0.125),
            ((1, 1, true), 0.125),
            ((-1, -1, false), 0.125),
            ((-1, -1, true), 0.125),
        ],
    }
}

/// Predicted class of each record (label byte + planar pixels), computed without the shared
/// inference module: the views by plain loops, normalisation as the formula, the unfolded
/// model, softmax in f64, the weighted mean of the views and a hand arg-max.
fn predict_independently(
    model: &cifar_model::Model,
    records: &[u8],
    tta: Tta,
    device: &Device,
) -> Vec<u8> {
    let mean = [0.4914f32, 0.4822, 0.4465];
    let std = [0.2023f32, 0.1994, 0.2010];
    let mut predicted = Vec::new();
    for chunk in records.chunks(250 * (IMAGE_BYTES + 1)) {
        let count = chunk.len() / (IMAGE_BYTES + 1);
        let mut scores = vec![0f64; count * 10];
        for ((dy, dx, mirror), weight) in views(tta) {
            let mut values = Vec::with_capacity(count * IMAGE_BYTES);
            for record in chunk.chunks(IMAGE_BYTES + 1) {
                for (i, &byte) in view(&record[1..], dy, dx, mirror).iter().enumerate() {
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
            for (row, score) in logits.chunks(10).zip(scores.chunks_mut(10)) {
                let max = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
                let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
                for (k, &l) in row.iter().enumerate() {
                    score[k] += weight * (l as f64 - max).exp() / sum;
                }
            }
        }
        for row in scores.chunks(10) {
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
    // With the test-time augmentation the metadata says the accuracy was measured with.
    let tta = training.tta.unwrap_or_default();
    let predicted = predict_independently(&model, &records, tta, &device);
    let labels: Vec<u8> = records.chunks(IMAGE_BYTES + 1).map(|r| r[0]).collect();
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    let accuracy = correct as f64 / labels.len() as f64;
    println!(
        "independent evaluation of the shipped weights (TTA {tta}): {:.2}% ({correct}/10000); metadata: {:.2}%",
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
