//! The test report exported for the browser: parsing, checks, confusion and errors.

use cifar_model::CLASS_NAMES;
use cifar_model::report::{REPORT_FORMAT, REPORT_VERSION, TestReport};

fn report() -> TestReport {
    let one_hot = |c: usize| (0..10).map(|k| if k == c { 0.91 } else { 0.01 }).collect();
    let report = TestReport::new(
        "model-f16.safetensors",
        "test-images.bin",
        CLASS_NAMES.iter().map(|n| n.to_string()).collect(),
        vec![3, 5, 5, 0],
        vec![one_hot(3), one_hot(3), one_hot(5), one_hot(8)],
    );
    assert_eq!(report.predictions, vec![3, 3, 5, 8]);
    assert_eq!(report.accuracy, 0.5);
    assert_eq!(
        (report.format.as_str(), report.version),
        (REPORT_FORMAT, REPORT_VERSION)
    );
    report
}

#[test]
fn round_trips_and_derives_confusion_and_errors() {
    let json = serde_json::to_string(&report()).unwrap();
    let parsed = TestReport::parse(&json, Some(4 * 3072)).unwrap();
    assert_eq!(parsed, report());
    assert_eq!(parsed.errors(), vec![1, 3]);
    let confusion = parsed.confusion();
    assert_eq!(confusion[5][3], 1);
    assert_eq!(confusion[0][8], 1);
    assert_eq!(confusion.iter().flatten().sum::<usize>(), 4);
    let per_class = parsed.per_class_accuracy();
    assert_eq!(per_class[3], Some(1.0));
    assert_eq!(per_class[5], Some(0.5));
    assert_eq!(per_class[0], Some(0.0));
    assert_eq!(per_class[1], None);
    assert_eq!(parsed.confidence(1), 0.91);
}

#[test]
fn inconsistent_reports_are_rejected_with_the_reason() {
    let check = |report: TestReport, bytes: Option<usize>, expect: &str| {
        let error = TestReport::parse(&serde_json::to_string(&report).unwrap(), bytes).unwrap_err();
        assert!(error.contains(expect), "{error}");
    };
    check(report(), Some(3 * 3072), "test-images.bin");
    let mut bad = report();
    bad.predictions.pop();
    check(bad, None, "predictions");
    let mut bad = report();
    bad.labels[0] = 10;
    check(bad, None, "image 0");
    let mut bad = report();
    bad.probabilities[2].pop();
    check(bad, None, "image 2");
    let mut bad = report();
    bad.format = "something else".into();
    check(bad, None, "unsupported");
    assert!(
        TestReport::parse("{\"format\": 1}", None)
            .unwrap_err()
            .contains("not a test report")
    );
}
