//! Learning-rate values against hand-computed ones.

use cifar_trainer::schedule::LrSchedule;
use cifar_trainer::settings::TrainingConfig;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn warmup_then_cosine() {
    let schedule = LrSchedule {
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
