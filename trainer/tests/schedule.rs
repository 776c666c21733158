//! Learning-rate values against hand-computed ones.

use cifar_trainer::schedule::{LrSchedule, LrShape};
use cifar_trainer::settings::TrainingConfig;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn warmup_then_cosine() {
    let schedule = LrSchedule {
        shape: LrShape::Cosine,
        base_lr: 0.1,
        min_lr: 0.0,
        warmup_steps: 4,
        total_steps: 14,
        restart_period: None,
        restart_mult: 1,
    };
    // Warm-up: 0.1 · (step + 1) / 4.
    assert!(close(schedule.lr(0), 0.025));
    assert!(close(schedule.lr(1), 0.05));
    assert!(close(schedule.lr(3), 0.1));
    // Cosine over the remaining 10 steps: 0.05 · (1 + cos(π t / 10)).
    assert!(close(schedule.lr(4), 0.1));
    assert!(close(schedule.lr(9), 0.05)); // t = 5: cos(π/2) = 0
    assert!(close(
        schedule.lr(6),
        0.05 * (1.0 + (std::f64::consts::PI * 0.2).cos())
    ));
    assert!(close(
        schedule.lr(13),
        0.05 * (1.0 + (std::f64::consts::PI * 0.9).cos())
    ));
    assert!(close(schedule.lr(14), 0.0));
    assert!(close(schedule.lr(100), 0.0));
}

#[test]
fn warm_restarts_with_growing_periods() {
    let schedule = LrSchedule {
        shape: LrShape::Cosine,
        base_lr: 1.0,
        min_lr: 0.1,
        warmup_steps: 0,
        total_steps: 100,
        restart_period: Some(4),
        restart_mult: 2,
    };
    // Periods 4, 8, 16…: restarts at steps 4 and 12.
    assert!(close(schedule.lr(0), 1.0));
    assert!(close(schedule.lr(2), 0.55)); // 0.1 + 0.9 · (1 + cos(π/2)) / 2
    assert!(close(schedule.lr(4), 1.0));
    assert!(close(schedule.lr(8), 0.55)); // 4 steps into a period of 8
    assert!(close(schedule.lr(12), 1.0));
}

#[test]
fn config_turns_epochs_into_steps() {
    let config = TrainingConfig::new()
        .with_epochs(10)
        .with_warmup_epochs(2)
        .with_learning_rate(0.2);
    let schedule = config.schedule(50);
    assert_eq!(schedule.warmup_steps, 100);
    assert_eq!(schedule.total_steps, 500);
    assert!(close(schedule.lr(99), 0.2));
    assert!(close(schedule.lr(300), 0.1));
}

#[test]
fn bad_configs_are_rejected() {
    assert!(TrainingConfig::new().validate().is_ok());
    assert!(TrainingConfig::new().with_epochs(0).validate().is_err());
    assert!(TrainingConfig::new().with_batch_size(1).validate().is_err());
    assert!(
        TrainingConfig::new()
            .with_learning_rate(-1.0)
            .validate()
            .is_err()
    );
    assert!(
        TrainingConfig::new()
            .with_label_smoothing(Some(1.5))
            .validate()
            .is_err()
    );
}

#[test]
fn partial_config_files_keep_defaults_and_reject_unknown_fields() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"epochs": 3, "augment": {"rotation_degrees": 0.0}}"#,
    )
    .unwrap();
    let config = TrainingConfig::load_partial(&path).unwrap();
    assert_eq!(config.epochs, 3);
    assert_eq!(config.augment.rotation_degrees, 0.0);
    assert!(config.augment.flip);
    assert_eq!(config.batch_size, TrainingConfig::new().batch_size);

    std::fs::write(&path, r#"{"augment": {"rotaton_degrees": 5}}"#).unwrap();
    let error = format!("{:#}", TrainingConfig::load_partial(&path).unwrap_err());
    assert!(error.contains("augment.rotaton_degrees"), "{error}");
    std::fs::write(&path, r#"{"epochs": "many"}"#).unwrap();
    assert!(TrainingConfig::load_partial(&path).is_err());
}

#[test]
fn triangular_rises_to_the_peak_then_falls_to_the_end() {
    // 11 steps (0..=10): up from 0.1×0.2 = 0.02 at step 0 to 0.2 at t = 0.2 (step 2), then down
    // to 0.2×0.5 = 0.1 at step 10.
    let schedule = LrSchedule {
        shape: LrShape::Triangular {
            start: 0.1,
            peak: 0.2,
            end: 0.5,
        },
        base_lr: 0.2,
        min_lr: 0.0,
        warmup_steps: 0,
        total_steps: 11,
        restart_period: None,
        restart_mult: 1,
    };
    let expected = [
        (0, 0.02),
        (1, 0.2 * (0.1 + 0.9 * 0.5)), // t = 0.1: halfway up
        (2, 0.2),
        (6, 0.2 * (1.0 - 0.5 * 0.5)), // t = 0.6: halfway down from 1 to 0.5
        (10, 0.1),
        (50, 0.1),
    ];
    for (step, lr) in expected {
        assert!(
            close(schedule.lr(step), lr),
            "step {step}: {} vs {lr}",
            schedule.lr(step)
        );
    }
}

#[test]
fn triangular_settings_are_checked() {
    let temp = tempfile::tempdir().unwrap();
    let config = |shape: &str, warmup: usize| {
        let path = temp.path().join("config.json");
        std::fs::write(
            &path,
            format!(r#"{{"lr_shape": {shape}, "warmup_epochs": {warmup}}}"#),
        )
        .unwrap();
        TrainingConfig::load_partial(&path)
    };
    let good = config(
        r#"{"triangular": {"start": 0.0, "peak": 0.2, "end": 0.0}}"#,
        0,
    )
    .unwrap();
    assert!(good.validate().is_ok());
    let schedule = good.schedule(10);
    assert_eq!(schedule.total_steps, 300);
    assert!(close(schedule.lr(0), 0.0));
    assert!(close(schedule.lr(299), 0.0));
    let error = config(
        r#"{"triangular": {"start": 0.0, "peak": 0.2, "end": 0.0}}"#,
        1,
    )
    .unwrap()
    .validate()
    .unwrap_err();
    assert!(error.contains("warmup_epochs"), "{error}");
    let error = config(
        r#"{"triangular": {"start": 0.0, "peak": 0.0, "end": 0.0}}"#,
        0,
    )
    .unwrap()
    .validate()
    .unwrap_err();
    assert!(error.contains("peak"), "{error}");
    assert!(config(r#""cosine""#, 1).unwrap().validate().is_ok());
}

#[test]
fn every_committed_preset_loads_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let config = TrainingConfig::load_partial(&path).unwrap();
        config
            .validate()
            .unwrap_or_else(|problem| panic!("{}: {problem}", path.display()));
        names.push(path.file_name().unwrap().to_string_lossy().to_string());
    }
    names.sort();
    assert_eq!(names, ["fast-cpu.json", "report.json", "resnet18-gpu.json"]);
    // fast-cpu.json builds the fast net with every option of its recipe on.
    let fast = TrainingConfig::load_partial(&dir.join("fast-cpu.json")).unwrap();
    assert_eq!(fast.model.architecture(), "fast-resnet");
    assert!(fast.whitening.is_some() && fast.lookahead.is_some() && fast.identity_init);
    // report.json is the defaults written out: the report's recipe.
    let report = TrainingConfig::load_partial(&dir.join("report.json")).unwrap();
    assert_eq!(report, TrainingConfig::new());
}

#[test]
fn a_config_naming_an_unknown_architecture_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"model": {"architecture": "vgg-16"}}"#).unwrap();
    let error = format!("{:#}", TrainingConfig::load_partial(&path).unwrap_err());
    assert!(
        error.contains("vgg-16") && error.contains("model.architecture"),
        "{error}"
    );
    // A field of another architecture is refused by name.
    std::fs::write(
        &path,
        r#"{"model": {"architecture": "fast-resnet", "blocks": [2, 2, 2, 2]}}"#,
    )
    .unwrap();
    let error = format!("{:#}", TrainingConfig::load_partial(&path).unwrap_err());
    assert!(error.contains("model.blocks"), "{error}");
}
