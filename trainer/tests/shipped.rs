//! The shipped assets (assets/: the page's default weights, test report and images) against the
//! trainer on the real test set: `eval` reproduces the accuracy in the weights' metadata, and the
//! report holds exactly the trainer's answers for the shipped images (the browser's evaluation
//! is compared with the same report in tests/browser).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

#[test]
fn shipped_weights_and_report_are_what_the_trainer_computes() {
    let weights = assets().join("model-f16.safetensors");
    let bytes = std::fs::read(&weights).expect("assets/model-f16.safetensors is shipped");
    let (_, info) = cifar_model::load_model(&bytes, &burn::tensor::Device::flex()).unwrap();
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

    let images = std::fs::read(assets().join("test-images.bin")).unwrap();
    let json = std::fs::read_to_string(assets().join("test-report.json")).unwrap();
    let report = TestReport::parse(&json, Some(images.len())).unwrap();

    let Some(archive) = common::real_archive() else {
        println!(
            "SKIPPED (eval part): no ../shared/data/cifar-10-binary.tar.gz, no CIFAR10_ARCHIVE"
        );
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["eval", "--device", "cpu", "--weights"])
        .arg(&weights)
        .arg("--data")
        .arg(&archive)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    println!(
        "eval of the shipped weights: {:.2}% on {} images; metadata: {:.2}%",
        100.0 * accuracy,
        summary["test"]["images"],
        100.0 * stored_accuracy
    );
    assert_eq!(summary["test"]["images"], 10_000);
    assert_eq!(accuracy, stored_accuracy);

    // The report: the first test images, with eval's predictions for them.
    let log = std::fs::read_to_string(out.path().join("predictions.log")).unwrap();
    let predicted: Vec<u8> = log
        .lines()
        .take(report.len())
        .map(|l| l[1..l.find(']').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(predicted, report.predictions);
    let test = common::real_test_records(&archive, report.len());
    for (index, record) in test.chunks(IMAGE_BYTES + 1).enumerate() {
        assert_eq!(report.labels[index], record[0], "label of image {index}");
        let shipped = &images[index * IMAGE_BYTES..(index + 1) * IMAGE_BYTES];
        assert_eq!(shipped, &record[1..], "pixels of image {index}");
    }
}
