//! The error browser's data and the in-browser evaluation, natively: a report and images like
//! `trainer export-web` writes, the gallery's filters and order, and the comparison of live
//! answers with the stored ones.

use cifar_model::CLASS_NAMES;
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::report::TestReport;
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

#[test]
fn evaluation_in_batches_reproduces_the_stored_accuracy() {
    let report = report();
    let mut evaluation = Evaluation::new(report.len());
    let mut batches = Vec::new();
    while let Some((start, count)) = evaluation.next_batch(4) {
        batches.push((start, count));
        let live: Vec<f32> = report.probabilities[start..start + count].concat();
        evaluation.record(&report, start, &live, 2.0).unwrap();
    }
    assert_eq!(batches, vec![(0, 4), (4, 2)]);
    assert!(evaluation.finished());
    assert_eq!(evaluation.accuracy(), report.accuracy);
    assert_eq!(evaluation.stored_accuracy(&report), report.accuracy);
    assert_eq!(evaluation.disagreements, 0);
    assert_eq!(evaluation.images_per_second(), 1500.0);

    // An out-of-order batch is refused; a wrong answer is counted and named.
    let mut evaluation = Evaluation::new(3);
    assert!(
        evaluation
            .record(&report, 1, &report.probabilities[1], 1.0)
            .is_err()
    );
    let mut wrong = report.probabilities[..3].concat();
    wrong.swap(5, 3); // image 0 now predicts class 3, its label
    evaluation.record(&report, 0, &wrong, 1.0).unwrap();
    assert_eq!(evaluation.correct, 2);
    assert_eq!(evaluation.disagreements, 1);
    assert_eq!(evaluation.first_disagreements, vec![0]);
    assert_eq!(evaluation.stored_accuracy(&report), 1.0 / 3.0);
}
