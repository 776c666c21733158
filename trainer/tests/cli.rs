//! End-to-end: the `trainer` binary (train, resume, eval, predict, export) on generated data
//! every time and on the real CIFAR-10 archive when it is there, resuming equal to not stopping,
//! and every bad-input case giving a clear error and a non-zero exit, never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cifar_trainer::metrics;
use image::{Rgb, RgbImage};
use sha2::{Digest, Sha256};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("runs the trainer")
}

fn ok(args: &[&str]) -> String {
    let output = trainer(args);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "trainer {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// Runs a command that must fail cleanly; returns its error output.
fn fails(args: &[&str]) -> String {
    let output = trainer(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "trainer {args:?} should fail");
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit code for {args:?}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "trainer {args:?} panicked:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A small, fast training config for the tests: narrow model, no warm-up.
fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("train-config.json");
    std::fs::write(
        &path,
        r#"{"model": {"widths": [16, 32, 64, 128], "blocks": [2, 2, 2, 2], "num_classes": 10},
            "epochs": 2, "batch_size": 32, "learning_rate": 0.05, "warmup_epochs": 0, "seed": 3}"#,
    )
    .unwrap();
    path
}

#[test]
fn train_resume_eval_predict_export_on_generated_data() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("generated");
    let batches = common::write_binary_dir(&data, 64, 200);
    // The records as loaded (320 training, 200 test), hashed straight from the files.
    let mut hasher = Sha256::new();
    for batch in 1..=5 {
        hasher.update(std::fs::read(batches.join(format!("data_batch_{batch}.bin"))).unwrap());
    }
    hasher.update(std::fs::read(batches.join("test_batch.bin")).unwrap());
    let expected = cifar_model::DataSummary {
        name: "generated".into(),
        sha256: Some(hex::encode(hasher.finalize())),
        sha256_of: Some("records".into()),
    };
    end_to_end(&data, &expected, false);
}

#[test]
fn train_resume_eval_predict_export_on_real_images() {
    let Some(archive) = common::real_archive() else {
        // In CI the archive is part of the machine: its absence is a failure, not a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no ../shared/data/cifar-10-binary.tar.gz and no CIFAR10_ARCHIVE"
        );
        println!("SKIPPED: no ../shared/data/cifar-10-binary.tar.gz and no CIFAR10_ARCHIVE set");
        return;
    };
    let bytes = std::fs::read(&archive).unwrap();
    let expected = cifar_model::DataSummary {
        name: archive.file_name().unwrap().to_string_lossy().to_string(),
        sha256: Some(hex::encode(Sha256::digest(&bytes))),
        sha256_of: Some("file".into()),
    };
    end_to_end(&archive, &expected, true);
}

/// Train 1 epoch, stop, resume for a second, then eval, predict and export, on `data`'s first
/// 320 training and 200 test images. `learns`: the loss must fall (real images only).
fn end_to_end(data: &Path, expected_data: &cifar_model::DataSummary, learns: bool) {
    let temp = tempfile::tempdir().unwrap();
    let run = temp.path().join("run");
    let config = write_config(temp.path());
    let common_args = [
        "--data",
        p(data),
        "--out",
        p(&run),
        "--device",
        "cpu",
        "--config",
        p(&config),
        "--train-limit",
        "320",
        "--test-limit",
        "200",
    ];

    // Epoch 1 of 2, stopping there as a run in slices (or an interrupted one) would...
    let mut first = vec!["train"];
    first.extend(common_args);
    first.extend(["--epochs", "2", "--stop-after", "1"]);
    let stdout = ok(&first);
    assert!(stdout.contains("device: cpu"), "{stdout}");
    assert!(stdout.contains("stopped after epoch 1"), "{stdout}");
    assert!(run.join("checkpoint/state.json").is_file());
    for file in [
        "config.json",
        "metrics.jsonl",
        "curves.png",
        "best.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    assert!(!run.join("model.safetensors").exists());
    // ...then resumed for a second epoch. Other settings than --epochs may not change.
    let mut changed = vec!["train"];
    changed.extend(common_args);
    changed.extend(["--epochs", "2", "--resume", "--lr", "0.5"]);
    let error = fails(&changed);
    assert!(error.contains("only --epochs may"), "{error}");
    let mut resume = vec!["train"];
    resume.extend(common_args);
    resume.extend(["--epochs", "2", "--resume"]);
    let stdout = ok(&resume);
    assert!(stdout.contains("resuming after epoch 1"), "{stdout}");
    for file in ["model.safetensors", "model-f16.safetensors"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }

    let records = metrics::read(&run).unwrap();
    assert_eq!(
        records.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        vec![1, 2]
    );
    if learns {
        assert!(
            records[1].train_loss < records[0].train_loss,
            "loss should go down: {records:?}"
        );
    }
    assert!(
        records
            .iter()
            .all(|r| r.images_per_second > 0.0 && r.learning_rate > 0.0)
    );
    let png = image::open(run.join("curves.png")).unwrap();
    assert!(png.width() > 500);

    // The exports load and carry the training summary.
    let weights = run.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let header = cifar_model::read_header(&bytes).unwrap();
    let info = header.model_info().unwrap();
    let training = info.training.expect("training summary");
    assert_eq!(training.epochs, 2);
    assert_eq!(training.train_images, 320);
    assert_eq!(training.test_images, Some(200));
    // Wall-clock time is that of the two epochs (the resumed one included), as logged.
    let logged: f64 = records.iter().map(|r| r.seconds).sum();
    assert!(
        (training.seconds.unwrap() - logged).abs() < 1e-9,
        "{training:?}"
    );
    assert_eq!(training.images_processed, Some(640));
    // The data is named by its name and digest, never by a path of this machine.
    assert_eq!(&training.data, expected_data);
    let metadata = &header.metadata["training"];
    assert!(
        !metadata.contains(data.parent().unwrap().to_str().unwrap()),
        "{metadata}"
    );

    // eval: the accuracy in the file's metadata is reproduced on the same images.
    let report = temp.path().join("report");
    let stdout = ok(&[
        "eval",
        "--weights",
        p(&weights),
        "--data",
        p(data),
        "--out",
        p(&report),
        "--device",
        "cpu",
        "--test-limit",
        "200",
        "--train",
        "--train-limit",
        "320",
    ]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - training.test_accuracy.unwrap()).abs() < 1e-9,
        "{accuracy} vs metadata"
    );
    assert!(summary["train"]["accuracy"].as_f64().is_some());
    assert!(stdout.contains("confusion matrix"), "{stdout}");
    let log = std::fs::read_to_string(report.join("predictions.log")).unwrap();
    assert_eq!(log.lines().count(), 200);
    assert!(log.lines().all(|line| {
        let fields: Vec<&str> = line
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split("][")
            .collect();
        fields.len() == 3
            && fields[0].parse::<u8>().is_ok()
            && fields[1].parse::<u8>().is_ok()
            && (fields[2] == "True") == (fields[0] == fields[1])
    }));
    let confusion: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("confusion.json")).unwrap())
            .unwrap();
    let total: u64 = confusion["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 200);
    for png in ["confusion.png", "misclassified.png"] {
        image::open(report.join(png)).unwrap();
    }
    ok(&[
        "eval",
        "--weights",
        p(&run.join("model-f16.safetensors")),
        "--data",
        p(data),
        "--out",
        p(&temp.path().join("tta")),
        "--device",
        "cpu",
        "--test-limit",
        "50",
        "--tta",
    ]);

    // predict: any size, grayscale and alpha.
    let photo = temp.path().join("photo.jpg");
    RgbImage::from_fn(200, 120, |x, y| Rgb([x as u8, y as u8, 90]))
        .save(&photo)
        .unwrap();
    let gray = temp.path().join("gray.png");
    image::GrayImage::from_pixel(20, 50, image::Luma([100]))
        .save(&gray)
        .unwrap();
    let alpha = temp.path().join("alpha.png");
    image::RgbaImage::from_pixel(33, 33, image::Rgba([10, 200, 10, 100]))
        .save(&alpha)
        .unwrap();
    let stdout = ok(&[
        "predict",
        "--weights",
        p(&weights),
        p(&photo),
        p(&gray),
        p(&alpha),
    ]);
    assert_eq!(stdout.matches('%').count(), 15, "{stdout}");
    let json = ok(&["predict", "--weights", p(&weights), "--json", p(&photo)]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let probabilities: Vec<f64> = parsed[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);

    // export to PyTorch layout and back: the same predictions.
    let exported = temp.path().join("pytorch.safetensors");
    ok(&[
        "export",
        "--weights",
        p(&weights),
        "--out",
        p(&exported),
        "--format",
        "pytorch",
    ]);
    let again = ok(&["predict", "--weights", p(&exported), "--json", p(&photo)]);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again[0]["top"], parsed[0]["top"]);

    // A second fresh run into the same folder is refused (nothing is overwritten).
    let mut again = vec!["train"];
    again.extend(common_args);
    let error = fails(&again);
    assert!(error.contains("--resume"), "{error}");
}

#[test]
fn diverging_training_stops_with_a_clear_message() {
    let temp = tempfile::tempdir().unwrap();
    common::write_binary_dir(temp.path(), 40, 20);
    let run = temp.path().join("run");
    let config = write_config(temp.path());
    let error = fails(&[
        "train",
        "--data",
        p(temp.path()),
        "--out",
        p(&run),
        "--device",
        "cpu",
        "--config",
        p(&config),
        "--lr",
        "1e30",
    ]);
    assert!(error.contains("loss became"), "{error}");
    assert!(!run.join("model.safetensors").exists());
    assert!(!run.join("checkpoint").exists());
}

#[test]
fn bad_inputs_fail_cleanly_naming_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let out = dir.join("out");
    let out_s = p(&out);

    // Missing data.
    let error = fails(&[
        "train",
        "--data",
        p(&dir.join("missing")),
        "--out",
        out_s,
        "--device",
        "cpu",
    ]);
    assert!(
        error.contains("missing") && error.contains("does not exist"),
        "{error}"
    );

    // Truncated batch file, bad label.
    let data = dir.join("data");
    let batches = common::write_binary_dir(&data, 4, 4);
    let mut bytes = std::fs::read(batches.join("data_batch_2.bin")).unwrap();
    bytes.truncate(5000);
    std::fs::write(batches.join("data_batch_2.bin"), &bytes).unwrap();
    let error = fails(&[
        "train",
        "--data",
        p(&data),
        "--out",
        out_s,
        "--device",
        "cpu",
    ]);
    assert!(error.contains("data_batch_2.bin"), "{error}");
    common::write_binary_dir(&data, 4, 4);
    let mut bytes = std::fs::read(batches.join("test_batch.bin")).unwrap();
    bytes[cifar_trainer::data::RECORD_BYTES] = 10; // the label of record 1
    std::fs::write(batches.join("test_batch.bin"), &bytes).unwrap();
    // Good weights, so that the error can only come from the label.
    let good_weights = dir.join("narrow.safetensors");
    std::fs::write(&good_weights, weights_with_classes(10)).unwrap();
    let error = fails(&with_files("eval", &good_weights, &data, &out));
    assert!(
        error.contains("test_batch.bin") && error.contains("record 1 has label 10"),
        "{error}"
    );
    // Missing weights name the file.
    let error = fails(&with_files(
        "eval",
        &dir.join("none.safetensors"),
        &data,
        &out,
    ));
    assert!(error.contains("none.safetensors"), "{error}");
    common::write_binary_dir(&data, 4, 4);

    // Weights: garbage, hostile header length, and another shape than the metadata says.
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\x00\x01garbage").unwrap();
    let hostile = dir.join("hostile.safetensors");
    let mut header = (u64::MAX / 2).to_le_bytes().to_vec();
    header.extend_from_slice(b"{\"a\":1}");
    std::fs::write(&hostile, &header).unwrap();
    let image = dir.join("cat.png");
    RgbImage::from_pixel(32, 32, Rgb([1, 2, 3]))
        .save(&image)
        .unwrap();
    for weights in [&garbage, &hostile] {
        let error = fails(&["predict", "--weights", p(weights), p(&image)]);
        assert!(
            error.contains(p(weights)) && error.contains("safetensors"),
            "{error}"
        );
    }
    let device = burn::tensor::Device::flex();
    let narrow = cifar_model::ResNetConfig::narrow().init(&device);
    let info = cifar_model::ModelInfo::cifar10(cifar_model::ResNetConfig::new());
    let bytes = cifar_model::to_safetensors(
        &narrow,
        &info,
        cifar_model::Precision::F32,
        cifar_model::Layout::Burn,
    )
    .unwrap();
    let wrong_shape = dir.join("wrong-shape.safetensors");
    std::fs::write(&wrong_shape, bytes).unwrap();
    let error = fails(&["predict", "--weights", p(&wrong_shape), p(&image)]);
    assert!(
        error.contains("wrong-shape.safetensors")
            && error.contains("conv1.weight")
            && error.contains("expects [64, 3, 3, 3]"),
        "{error}"
    );

    // Unreadable image.
    let good = dir.join("good.safetensors");
    let ok_bytes = cifar_model::to_safetensors(
        &narrow,
        &cifar_model::ModelInfo::cifar10(cifar_model::ResNetConfig::narrow()),
        cifar_model::Precision::F32,
        cifar_model::Layout::Burn,
    )
    .unwrap();
    std::fs::write(&good, ok_bytes).unwrap();
    let not_image = dir.join("notes.png");
    std::fs::write(&not_image, b"hello").unwrap();
    let error = fails(&["predict", "--weights", p(&good), p(&not_image)]);
    assert!(error.contains("notes.png"), "{error}");
    let error = fails(&["predict", "--weights", p(&good), p(&dir.join("absent.jpg"))]);
    assert!(error.contains("absent.jpg"), "{error}");

    // Bad config file.
    let bad_config = dir.join("bad.json");
    std::fs::write(&bad_config, "{\"epochs\": \"many\"}").unwrap();
    let error = fails(&[
        "train",
        "--data",
        p(&data),
        "--out",
        out_s,
        "--config",
        p(&bad_config),
    ]);
    assert!(error.contains("bad.json"), "{error}");

    // Nothing already written is destroyed by a failing export.
    let target = dir.join("keep.safetensors");
    std::fs::write(&target, b"precious").unwrap();
    fails(&["export", "--weights", p(&garbage), "--out", p(&target)]);
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn export_web_writes_the_browser_assets() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    common::write_binary_dir(&data, 4, 12);
    let device = burn::tensor::Device::flex();
    let config = cifar_model::ResNetConfig::narrow();
    let model = config.init(&device);
    // A training summary whose accuracy (that of f32 weights elsewhere) export-web must replace
    // with the f16 weights' own.
    let training = cifar_model::TrainingSummary {
        epochs: 1,
        seconds: None,
        images_processed: None,
        test_accuracy: Some(0.5),
        tta: None,
        train_accuracy: None,
        test_images: Some(10_000),
        data: cifar_model::DataSummary::name_only("somewhere"),
        train_images: 50_000,
        seed: 1,
        date: "2026-11-28T00:00:00Z".into(),
        git_commit: None,
    };
    let bytes = cifar_model::to_safetensors(
        &model,
        &cifar_model::ModelInfo::cifar10(config).with_training(training),
        cifar_model::Precision::F32,
        cifar_model::Layout::Burn,
    )
    .unwrap();
    let weights = temp.path().join("model.safetensors");
    std::fs::write(&weights, bytes).unwrap();
    let out = temp.path().join("assets");
    let stdout = ok(&[
        "export-web",
        "--weights",
        p(&weights),
        "--data",
        p(&data),
        "--out",
        p(&out),
        "--device",
        "cpu",
        "--test-limit",
        "10",
        "--ship",
        "6",
    ]);
    assert!(
        stdout.contains("test accuracy of the f16 weights"),
        "{stdout}"
    );

    #[cfg(unix)]
    {
        // Shareable files, not the private mode of the temporary file they were written to.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("test-images.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    let images = std::fs::read(out.join("test-images.bin")).unwrap();
    let json = std::fs::read_to_string(out.join("test-report.json")).unwrap();
    let report = cifar_model::report::TestReport::parse(&json, Some(images.len())).unwrap();
    assert_eq!(report.len(), 6);
    assert_eq!(images.len(), 6 * 3072);
    assert_eq!(
        report.labels,
        (0..6).map(|i| ((i + 1000) % 10) as u8).collect::<Vec<_>>()
    );
    // The images are the test records, in order.
    let test = std::fs::read(data.join("cifar-10-batches-bin/test_batch.bin")).unwrap();
    assert_eq!(&images[..3072], &test[1..3073]);
    // The shipped weights load and give the stored predictions (eval on the same images).
    let (shipped, info) = cifar_model::load_model(
        &std::fs::read(out.join("model-f16.safetensors")).unwrap(),
        &device,
    )
    .unwrap();
    assert_eq!(info.config, cifar_model::ResNetConfig::narrow().into());
    let eval = temp.path().join("eval");
    ok(&[
        "eval",
        "--weights",
        p(&out.join("model-f16.safetensors")),
        "--data",
        p(&data),
        "--out",
        p(&eval),
        "--device",
        "cpu",
        "--test-limit",
        "10",
    ]);
    let log = std::fs::read_to_string(eval.join("predictions.log")).unwrap();
    let predicted: Vec<u8> = log
        .lines()
        .map(|l| l[1..l.find(']').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(predicted[..6], report.predictions);
    // The f16 file states its own accuracy on the 10 evaluated images: what eval reproduces.
    let correct = log.lines().filter(|l| l.ends_with("[True]")).count();
    let training = info.training.expect("training summary kept");
    assert_eq!(training.test_images, Some(10));
    assert_eq!(training.test_accuracy, Some(correct as f64 / 10.0));
    assert_eq!(training.epochs, 1);
    drop(shipped);
}

/// `bench` options for a measurement that only checks the plumbing: one step of two images.
const TINY_BENCH: [&str; 10] = [
    "--device",
    "cpu",
    "--train-batch",
    "2",
    "--infer-batch",
    "2",
    "--warmup",
    "0",
    "--iterations",
    "1",
];

#[test]
fn bench_prints_figures_ratios_and_json() {
    let temp = tempfile::tempdir().unwrap();
    let reference = temp.path().join("reference.json");
    std::fs::write(
        &reference,
        r#"{"narrow": {"train_images_per_second": 10.0, "infer_images_per_second": 20.0}}"#,
    )
    .unwrap();
    let json = temp.path().join("bench.json");
    let stdout = ok(&[
        &["bench", "--model", "narrow"][..],
        &TINY_BENCH,
        &["--reference", p(&reference), "--json", p(&json)],
    ]
    .concat());
    assert!(stdout.contains("narrow: train"), "{stdout}");
    assert!(stdout.contains("vs reference"), "{stdout}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        written["narrow"]["infer_images_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(written.get("resnet18").is_none());
}

#[test]
fn bench_measures_the_model_of_a_training_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let preset = root.join("configs/fast-cpu.json");
    // The widths as the file states them, read here without the trainer's config code.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&preset).unwrap()).unwrap();
    let widths: Vec<usize> = file["model"]["widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap() as usize)
        .collect();
    let models = cifar_trainer::bench::models(None, std::slice::from_ref(&preset)).unwrap();
    assert_eq!(models.len(), 1, "a config alone measures only its model");
    assert_eq!(models[0].0, "fast-cpu");
    match &models[0].1 {
        cifar_model::ModelConfig::Fast(fast) => assert_eq!(fast.widths, widths),
        other => panic!("fast-cpu.json's model read as {other:?}"),
    }
    let with_preset = cifar_trainer::bench::models(
        Some(cifar_trainer::settings::ModelPreset::Narrow),
        std::slice::from_ref(&preset),
    )
    .unwrap();
    let names: Vec<&str> = with_preset.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["narrow", "fast-cpu"]);
    assert_eq!(cifar_trainer::bench::models(None, &[]).unwrap().len(), 3);

    // Through the binary: the figures carry the file's name.
    let temp = tempfile::tempdir().unwrap();
    let small = temp.path().join("tiny-fast.json");
    std::fs::write(
        &small,
        r#"{"model": {"architecture": "fast-resnet", "widths": [8, 16, 16]}}"#,
    )
    .unwrap();
    let json = temp.path().join("bench.json");
    let stdout = ok(&[
        &["bench", "--config", p(&small)][..],
        &TINY_BENCH,
        &["--json", p(&json)],
    ]
    .concat());
    assert!(stdout.contains("tiny-fast: train"), "{stdout}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(written.as_object().unwrap().len(), 1, "{written}");
    assert!(
        written["tiny-fast"]["train_images_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // A config whose model is wrong names the file and the field.
    let bad = temp.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"model": {"architecture": "fast-resnet", "widths": [8, 16]}}"#,
    )
    .unwrap();
    let stderr = fails(&["bench", "--device", "cpu", "--config", p(&bad)]);
    assert!(
        stderr.contains("bad.json") && stderr.contains("widths"),
        "{stderr}"
    );
}

/// A narrow model with `classes` outputs (named `class 0`, … unless ten), serialised.
fn weights_with_classes(classes: usize) -> Vec<u8> {
    let config = cifar_model::ResNetConfig::narrow().with_num_classes(classes);
    let model = config.init(&burn::tensor::Device::flex());
    let info = cifar_model::ModelInfo::new(config);
    cifar_model::to_safetensors(
        &model,
        &info,
        cifar_model::Precision::F32,
        cifar_model::Layout::Burn,
    )
    .unwrap()
}

/// `train --data D --out O --device cpu --config C`.
fn train_on_cpu<'a>(data: &'a Path, out: &'a Path, config: &'a Path) -> [&'a str; 9] {
    [
        "train",
        "--data",
        p(data),
        "--out",
        p(out),
        "--device",
        "cpu",
        "--config",
        p(config),
    ]
}

/// `COMMAND --weights W --data D --out O --device cpu`.
fn with_files<'a>(
    command: &'a str,
    weights: &'a Path,
    data: &'a Path,
    out: &'a Path,
) -> [&'a str; 9] {
    [
        command,
        "--weights",
        p(weights),
        "--data",
        p(data),
        "--out",
        p(out),
        "--device",
        "cpu",
    ]
}

#[test]
fn class_counts_that_differ_from_the_data_are_refused_naming_both() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    common::write_binary_dir(&data, 8, 12);
    let image = temp.path().join("cat.png");
    RgbImage::from_pixel(40, 30, Rgb([90, 20, 200]))
        .save(&image)
        .unwrap();
    for classes in [5usize, 12] {
        let weights = temp.path().join(format!("classes-{classes}.safetensors"));
        std::fs::write(&weights, weights_with_classes(classes)).unwrap();
        let expected =
            format!("the model has {classes} classes but the data (CIFAR-10 labels 0–9) has 10");
        let out = temp.path().join(format!("out-{classes}"));
        for command in ["eval", "export-web"] {
            let error = fails(&with_files(command, &weights, &data, &out));
            assert!(
                error.contains(&expected) && error.contains(p(&weights)),
                "{command}: {error}"
            );
            assert!(!out.exists(), "{command} wrote {}", out.display());
        }
        // predict needs no labels: every class of the file, named as the file names them.
        let json = ok(&["predict", "--weights", p(&weights), "--json", p(&image)]);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed[0]["probabilities"].as_array().unwrap().len(),
            classes
        );
        assert_eq!(parsed[0]["top"].as_array().unwrap().len(), 5);
        assert!(
            parsed[0]["top"][0][0]
                .as_str()
                .unwrap()
                .starts_with("class ")
        );

        // Training such a model on CIFAR-10 is refused before any epoch.
        let config = temp.path().join(format!("config-{classes}.json"));
        std::fs::write(
            &config,
            format!(
                r#"{{"model": {{"widths": [4, 4, 4, 4], "num_classes": {classes}}}, "epochs": 1}}"#
            ),
        )
        .unwrap();
        let run = temp.path().join(format!("run-{classes}"));
        let error = fails(&train_on_cpu(&data, &run, &config));
        assert!(
            error.contains(&expected) && error.contains("num_classes"),
            "{error}"
        );
        assert!(!run.join("metrics.jsonl").exists());
    }
}

/// Every tensor of a safetensors file, by name (the metadata, which holds a date, left out).
fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

/// Generated data (5 × 32 training, `test` test records) and a config file holding `json`.
fn data_and_config(dir: &Path, test: usize, json: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    common::write_binary_dir(&data, 32, test);
    let config = dir.join("config.json");
    std::fs::write(&config, json).unwrap();
    (data, config)
}

#[test]
fn resuming_after_a_crash_between_the_checkpoint_renames_equals_an_uninterrupted_run() {
    let temp = tempfile::tempdir().unwrap();
    // With a weight average, so that its checkpointing is compared too (the saved weights are
    // the average).
    let (data, config) = data_and_config(
        temp.path(),
        40,
        r#"{"model": {"widths": [16, 32, 64, 128]}, "epochs": 2, "batch_size": 32,
            "learning_rate": 0.05, "warmup_epochs": 0, "seed": 3, "ema_decay": 0.8}"#,
    );
    let train = |run: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            p(&data),
            "--out",
            p(run),
            "--device",
            "cpu",
            "--config",
            p(&config),
            "--epochs",
            "2",
        ];
        args.extend(extra);
        ok(&args)
    };
    let straight = temp.path().join("straight");
    train(&straight, &[]);

    let resumed = temp.path().join("resumed");
    train(&resumed, &["--stop-after", "1"]);
    // The state a crash between the two renames of a checkpoint swap leaves: the old
    // checkpoint moved aside as checkpoint.previous, the new one still named .partial (here a
    // broken one, which must not be taken).
    std::fs::rename(
        resumed.join("checkpoint"),
        resumed.join("checkpoint.previous"),
    )
    .unwrap();
    std::fs::create_dir_all(resumed.join("checkpoint.partial")).unwrap();
    std::fs::write(resumed.join("checkpoint.partial/state.json"), "{broken").unwrap();
    let stdout = train(&resumed, &["--resume"]);
    assert!(stdout.contains("resuming after epoch 1"), "{stdout}");
    assert!(resumed.join("checkpoint/state.json").is_file());
    assert!(!resumed.join("checkpoint.previous").exists());
    assert!(!resumed.join("checkpoint.partial").exists());

    let (a, b) = (
        tensors(&straight.join("model.safetensors")),
        tensors(&resumed.join("model.safetensors")),
    );
    assert_eq!(a.len(), b.len());
    for ((name_a, data_a), (name_b, data_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(data_a == data_b, "{name_a} differs between the two runs");
    }
    let losses = |run: &Path| -> Vec<(f64, f64)> {
        metrics::read(run)
            .unwrap()
            .iter()
            .map(|r| (r.train_loss, r.test_accuracy))
            .collect()
    };
    assert_eq!(losses(&straight), losses(&resumed));
}

#[test]
fn one_cycle_alternating_flip_and_cutout_train_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let (data, config) = data_and_config(
        temp.path(),
        20,
        r#"{"model": {"widths": [8, 8, 16, 16]}, "epochs": 2, "batch_size": 32,
            "learning_rate": 0.05, "warmup_epochs": 0,
            "lr_shape": {"triangular": {"start": 0.0, "peak": 0.5, "end": 0.0}},
            "augment": {"alternating_flip": true, "cutout": 8, "rotation_degrees": 0}}"#,
    );
    let run = temp.path().join("run");
    ok(&train_on_cpu(&data, &run, &config));
    // 160 images in batches of 32: 5 steps an epoch, steps 0..=9. The learning rate logged is
    // the last step's: step 4 is at t = 4/9 on the way up to the peak at t = 0.5, step 9 is the
    // end (0).
    let records = metrics::read(&run).unwrap();
    let expected = [0.05 * (4.0 / 9.0) / 0.5, 0.0];
    for (record, lr) in records.iter().zip(expected) {
        assert!(
            (record.learning_rate - lr).abs() < 1e-12,
            "epoch {}: {} vs {lr}",
            record.epoch,
            record.learning_rate
        );
    }
    assert!(run.join("model-f16.safetensors").is_file());
}

/// The fast net through the CLI with its recipe (small widths, one epoch on generated data):
/// the final weights say which TTA their accuracy used, and `predict` uses it by default.
#[test]
fn the_fast_recipe_trains_and_predict_uses_the_tta_its_file_names() {
    let temp = tempfile::tempdir().unwrap();
    common::write_binary_dir(temp.path(), 40, 20);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut recipe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fast-cpu.json")).unwrap()).unwrap();
    recipe["model"]["widths"] = serde_json::json!([8, 16, 16]);
    recipe["epochs"] = serde_json::json!(1);
    recipe["batch_size"] = serde_json::json!(50);
    recipe["whitening"]["images"] = serde_json::json!(20);
    let config = temp.path().join("fast.json");
    std::fs::write(&config, recipe.to_string()).unwrap();
    let run = temp.path().join("run");
    ok(&[
        "train",
        "--data",
        p(temp.path()),
        "--out",
        p(&run),
        "--device",
        "cpu",
        "--config",
        p(&config),
    ]);
    let weights = run.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let info = cifar_model::weights::read_header(&bytes)
        .unwrap()
        .model_info()
        .unwrap();
    assert_eq!(info.config.architecture(), "fast-resnet");
    let training = info.training.unwrap();
    assert_eq!(training.tta, Some(cifar_model::Tta::Multi));
    assert!(training.seconds.unwrap() > 0.0);
    assert_eq!(training.images_processed, Some(200));

    let image = temp.path().join("image.png");
    RgbImage::from_fn(32, 32, |x, y| Rgb([(7 * x) as u8, (5 * y) as u8, 90]))
        .save(&image)
        .unwrap();
    let predict = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["predict", "--weights", p(&weights), "--json"];
        args.extend(extra);
        args.push(p(&image));
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let probabilities = |value: &serde_json::Value| -> Vec<f64> {
        value[0]["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let default = predict(&[]);
    assert_eq!(default[0]["tta"], "multi");
    assert_eq!(
        probabilities(&default),
        probabilities(&predict(&["--tta", "multi"]))
    );
    let none = predict(&["--tta", "none"]);
    assert_ne!(probabilities(&default), probabilities(&none));
    // Without TTA the probabilities are the softmax of the printed logits.
    let logits: Vec<f64> = none[0]["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let max = logits.iter().cloned().fold(f64::MIN, f64::max);
    let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
    for (probability, logit) in probabilities(&none).iter().zip(&logits) {
        assert!((probability - (logit - max).exp() / sum).abs() < 1e-5);
    }
}
