//! Accuracy, confusion matrix and the report's log from known predictions.

use cifar_model::inference::{Probabilities, argmax};
use cifar_trainer::evaluate::Predictions;
use cifar_trainer::metrics::{self, EpochRecord};
use cifar_trainer::report::prediction_log;

fn one_hot(classes: &[usize], num_classes: usize) -> Vec<f32> {
    classes
        .iter()
        .flat_map(|&c| {
            (0..num_classes).map(move |k| {
                if k == c {
                    0.9
                } else {
                    0.1 / (num_classes - 1) as f32
                }
            })
        })
        .collect()
}

fn predictions() -> Predictions {
    Predictions::new(
        Probabilities::new(3, one_hot(&[0, 1, 1, 2, 0], 3)).unwrap(),
        vec![0, 1, 2, 2, 1],
        3,
        "labels",
    )
    .unwrap()
}

#[test]
fn accuracy_and_confusion() {
    let p = predictions();
    assert_eq!(p.correct(), 3);
    assert!((p.accuracy() - 0.6).abs() < 1e-12);
    assert_eq!(
        p.confusion(),
        vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]
    );
    assert_eq!(
        p.per_class_accuracy(),
        vec![Some(1.0), Some(0.5), Some(0.5)]
    );
}

#[test]
fn the_log_has_one_report_line_per_image() {
    let log = prediction_log(&predictions());
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        vec![
            "[0][0][True]",
            "[1][1][True]",
            "[1][2][False]",
            "[2][2][True]",
            "[0][1][False]"
        ]
    );
}

#[test]
fn argmax_takes_the_first_maximum() {
    assert_eq!(argmax(&[0.1, 0.5, 0.5, 0.2]), 1);
    assert_eq!(argmax(&[3.0]), 0);
}

#[test]
fn metrics_append_read_and_truncate() {
    let temp = tempfile::tempdir().unwrap();
    let record = |epoch| EpochRecord {
        epoch,
        train_loss: 1.0 / epoch as f64,
        train_accuracy: 0.5,
        test_loss: 1.0,
        test_accuracy: 0.4,
        test_tta: cifar_model::Tta::None,
        learning_rate: 0.1,
        seconds: 2.0,
        images_per_second: 100.0,
    };
    for epoch in 1..=3 {
        metrics::append(temp.path(), &record(epoch)).unwrap();
    }
    assert_eq!(
        metrics::read(temp.path()).unwrap(),
        vec![record(1), record(2), record(3)]
    );
    assert_eq!(
        metrics::truncate_after(temp.path(), 2).unwrap(),
        vec![record(1), record(2)]
    );
    assert_eq!(metrics::read(temp.path()).unwrap().len(), 2);

    std::fs::write(temp.path().join(metrics::METRICS_FILE), "{broken\n").unwrap();
    let error = format!("{:#}", metrics::read(temp.path()).unwrap_err());
    assert!(error.contains("metrics.jsonl line 1"), "{error}");
}
