//! The error browser's data and the in-browser evaluation, natively: a report and images like
//! `trainer export-web` writes, the gallery's filters and order, and the page's live answers
//! (the engine) compared with stored ones computed here by independent means.

use cifar_model::CLASS_NAMES;
use cifar_model::Probabilities;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;
use cifar_web::engine::Engine;
use cifar_web::errors::ErrorKind;
use cifar_web::evaluation::{Evaluation, TOLERANCE, compare};
use cifar_web::test_set::{Filter, Sort, TestSet};

/// Six images: labels and predictions chosen so that every filter has something to exclude.
fn report() -> TestReport {
    let row = |predicted: usize, p: f32| -> Vec<f32> {
        (0..10)
            .map(|k| if k == predicted { p } else { (1.0 - p) / 9.0 })
            .collect()
    };
    TestReport::new(
        "model-f16.safetensors",
        "test-images.bin",
        CLASS_NAMES.iter().map(|n| n.to_string()).collect(),
        vec![3, 5, 3, 3, 0, 5],
        vec![
            row(5, 0.6),
            row(5, 0.9),
            row(5, 0.95),
            row(3, 0.5),
            row(8, 0.7),
            row(3, 0.4),
        ],
    )
}

fn images(count: usize) -> Vec<u8> {
    (0..count * IMAGE_BYTES).map(|i| (i % 256) as u8).collect()
}

fn test_set() -> TestSet {
    TestSet::new(&serde_json::to_string(&report()).unwrap(), images(6)).unwrap()
}

fn indices(set: &TestSet, filter: Filter, sort: Sort) -> Vec<usize> {
    set.gallery(filter, sort).iter().map(|e| e.index).collect()
}

#[test]
fn summary_counts_the_shipped_images() {
    let summary = test_set().summary();
    assert_eq!(test_set().report.predictions, vec![5, 5, 5, 3, 8, 3]);
    assert_eq!(summary.accuracy, 2.0 / 6.0);
    assert_eq!(summary.images, 6);
    assert_eq!(summary.errors, 4);
    assert_eq!(summary.confusion[3][5], 2);
    assert_eq!(summary.confusion[5][3], 1);
    assert_eq!(summary.per_class_accuracy[3], Some(1.0 / 3.0));
    assert_eq!(summary.per_class_accuracy[1], None);
}

#[test]
fn gallery_filters_and_sorts() {
    let set = test_set();
    let errors = Filter {
        errors_only: true,
        ..Filter::default()
    };
    assert_eq!(indices(&set, errors, Sort::Index), vec![0, 2, 4, 5]);
    assert_eq!(
        indices(&set, errors, Sort::ConfidenceDescending),
        vec![2, 4, 0, 5]
    );
    assert_eq!(
        indices(&set, errors, Sort::ConfidenceAscending),
        vec![5, 0, 4, 2]
    );
    // A confusion-matrix cell: exactly its images.
    let cell = Filter {
        label: Some(3),
        predicted: Some(5),
        errors_only: false,
    };
    assert_eq!(indices(&set, cell, Sort::Index), vec![0, 2]);
    let diagonal = Filter {
        label: Some(3),
        predicted: Some(3),
        errors_only: false,
    };
    assert_eq!(indices(&set, diagonal, Sort::Index), vec![3]);
    let by_prediction = Filter {
        predicted: Some(5),
        ..Filter::default()
    };
    assert_eq!(indices(&set, by_prediction, Sort::Index), vec![0, 1, 2]);
    let entry = &set.gallery(cell, Sort::Index)[1];
    assert_eq!(
        (entry.label, entry.predicted, entry.confidence),
        (3, 5, 0.95)
    );
    assert!(Sort::parse("size").unwrap_err().contains("size"));
}

#[test]
fn images_are_sliced_and_drawn() {
    let set = test_set();
    assert_eq!(set.planar(2, 3).unwrap().len(), 3 * IMAGE_BYTES);
    assert_eq!(set.planar(2, 3).unwrap()[0], (2 * IMAGE_BYTES % 256) as u8);
    assert!(set.planar(5, 2).unwrap_err().contains("outside"));
    assert!(set.planar(0, 0).is_err());
    let rgba = set.rgba(1).unwrap();
    assert_eq!(rgba.len(), 32 * 32 * 4);
    // Pixel 0 of image 1: planar R, G, B at offsets 0, 1024, 2048 of that image.
    let base = IMAGE_BYTES;
    let expected = [base % 256, (base + 1024) % 256, (base + 2048) % 256, 255];
    assert_eq!(rgba[..4], expected.map(|v| v as u8));
    assert!(set.rgba(6).is_err());
}

#[test]
fn a_report_that_does_not_match_its_images_is_rejected() {
    let json = serde_json::to_string(&report()).unwrap();
    let error = TestSet::new(&json, images(5)).err().unwrap();
    assert!(error.contains("test-images.bin"), "{error}");
    assert!(TestSet::new("not json", images(6)).is_err());
}

#[test]
fn live_answers_are_compared_with_the_stored_ones() {
    let report = report();
    let same = compare(&report, 1, &report.probabilities[1]);
    assert!(same.agrees);
    assert_eq!(same.max_difference, 0.0);

    let mut nudged = report.probabilities[1].clone();
    nudged[0] += TOLERANCE / 2.0;
    assert!(compare(&report, 1, &nudged).agrees);
    nudged[0] += TOLERANCE;
    let off = compare(&report, 1, &nudged);
    assert!(!off.agrees);
    assert!(off.max_difference > TOLERANCE);

    // Another top-1 disagrees whatever the differences.
    let flipped = report.probabilities[4]
        .iter()
        .enumerate()
        .map(|(k, _)| if k == 0 { 0.5 } else { 0.05 })
        .collect::<Vec<f32>>();
    let other = compare(&report, 4, &flipped);
    assert_eq!((other.predicted, other.stored_predicted), (0, 8));
    assert!(!other.agrees);
}

/// A narrow CIFAR-10 model's weights as the page would load them.
fn weights() -> Vec<u8> {
    let config = cifar_model::ResNetConfig::narrow();
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

/// The stored answers as the trainer's side would compute them, done here by other means: one
/// image at a time through the model as loaded (BatchNorm not folded), normalised by the
/// formula, softmax by hand in f64.
fn stored_probabilities(weights: &[u8], planar: &[u8]) -> Vec<Vec<f32>> {
    use burn::prelude::*;
    let device = Device::flex();
    let (model, info) = cifar_model::load_model(weights, &device).unwrap();
    planar
        .chunks(IMAGE_BYTES)
        .map(|image| {
            let values: Vec<f32> = image
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    let c = i / 1024;
                    (b as f32 / 255.0 - info.normalization.mean[c]) / info.normalization.std[c]
                })
                .collect();
            let input = Tensor::<4>::from_data(TensorData::new(values, [1, 3, 32, 32]), &device);
            let logits = model
                .forward(input)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let max = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.iter().map(|e| (e / sum) as f32).collect()
        })
        .collect()
}

#[test]
fn evaluation_in_batches_reproduces_independently_stored_answers() {
    let bytes = weights();
    let planar = images(6);
    let stored = stored_probabilities(&bytes, &planar);
    // Labels that make five of the six stored answers right and the last one wrong.
    let argmax = |row: &[f32]| (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
    let mut labels: Vec<u8> = stored.iter().map(|row| argmax(row) as u8).collect();
    labels[5] = (labels[5] + 1) % 10;
    let report = TestReport::new(
        "model.safetensors",
        "test-images.bin",
        CLASS_NAMES.iter().map(|n| n.to_string()).collect(),
        labels.clone(),
        stored.clone(),
    );
    // Accuracy by a hand count over the stored rows.
    let hand_correct = stored
        .iter()
        .zip(&labels)
        .filter(|(row, label)| argmax(row) == **label as usize)
        .count();
    assert_eq!(hand_correct, 5);

    let engine = Engine::load(&bytes, &burn::tensor::Device::flex()).unwrap();
    let mut evaluation = Evaluation::new(report.len());
    let mut batches = Vec::new();
    while let Some((start, count)) = evaluation.next_batch(4) {
        batches.push((start, count));
        let live = pollster::block_on(
            engine.probabilities(&planar[start * IMAGE_BYTES..(start + count) * IMAGE_BYTES]),
        )
        .unwrap();
        evaluation.record(&report, start, &live, 2.0).unwrap();
    }
    assert_eq!(batches, vec![(0, 4), (4, 2)]);
    assert!(evaluation.finished());
    assert_eq!(evaluation.correct, hand_correct);
    assert_eq!(evaluation.accuracy(), hand_correct as f64 / 6.0);
    assert_eq!(evaluation.stored_accuracy(&report), report.accuracy);
    assert_eq!(evaluation.disagreements, 0, "{evaluation:?}");
    assert!(evaluation.max_difference < 1e-4, "{evaluation:?}");
    assert_eq!(evaluation.images_per_second(), 1500.0);

    // An out-of-order batch is refused; a wrong answer is counted and named.
    let rows = |range: std::ops::Range<usize>, swap: Option<(usize, usize)>| {
        let mut values: Vec<f32> = stored[range].concat();
        if let Some((a, b)) = swap {
            values.swap(a, b);
        }
        Probabilities::new(10, values).unwrap()
    };
    let mut evaluation = Evaluation::new(3);
    assert!(
        evaluation
            .record(&report, 1, &rows(1..2, None), 1.0)
            .is_err()
    );
    // Image 0 now puts its stored top probability on class 9 and 9's on its top class.
    let top0 = report.predictions[0] as usize;
    let other = if top0 == 9 { 8 } else { 9 };
    evaluation
        .record(&report, 0, &rows(0..3, Some((top0, other))), 1.0)
        .unwrap();
    assert_eq!(evaluation.disagreements, 1);
    assert_eq!(evaluation.first_disagreements, vec![0]);
}

#[test]
fn answers_of_another_class_count_are_refused_naming_both() {
    let report = report();
    for classes in [5usize, 12] {
        let mut evaluation = Evaluation::new(2);
        let answers = Probabilities::new(classes, vec![1.0 / classes as f32; 2 * classes]).unwrap();
        let error = evaluation.record(&report, 0, &answers, 1.0).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Input);
        assert_eq!(
            error.message,
            format!("the model has {classes} classes but the test report has 10")
        );
        assert_eq!(evaluation.done, 0);
        // The same check before any image is run: the model's class names against the report's.
        let names: Vec<String> = (0..classes).map(|k| format!("kind{k}")).collect();
        let message = report.check_model_classes(&names).unwrap_err();
        assert_eq!(
            message,
            format!("the model has {classes} classes but the test report has 10")
        );
    }
    let mut renamed: Vec<String> = CLASS_NAMES.iter().map(|n| n.to_string()).collect();
    renamed[3] = "kitten".into();
    let message = report.check_model_classes(&renamed).unwrap_err();
    assert!(
        message.contains("kitten") && message.contains("cat"),
        "{message}"
    );
    assert!(report.check_model_classes(&report.class_names).is_ok());
}
