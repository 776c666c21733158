//! The training configuration: one JSON file (`--config`) plus command-line overrides, saved as
//! `config.json` in the run directory.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::config::Config;
use cifar_model::ResNetConfig;
use serde_json::Value;

use crate::augment::AugmentConfig;
use crate::schedule::LrSchedule;

#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    #[config(default = "ResNetConfig::new()")]
    pub model: ResNetConfig,
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    #[config(default = 30)]
    pub epochs: usize,
    #[config(default = 128)]
    pub batch_size: usize,
    #[config(default = 256)]
    pub eval_batch_size: usize,
    /// Peak learning rate (reached at the end of the warm-up).
    #[config(default = 0.1)]
    pub learning_rate: f64,
    #[config(default = 0.0)]
    pub min_learning_rate: f64,
    #[config(default = 1)]
    pub warmup_epochs: usize,
    /// Cosine warm restarts: first period in epochs (none: one cosine over the run).
    #[config(default = "None")]
    pub restart_epochs: Option<usize>,
    #[config(default = 1)]
    pub restart_mult: usize,
    /// SGD momentum with PyTorch semantics (no dampening).
    #[config(default = 0.9)]
    pub momentum: f64,
    #[config(default = false)]
    pub nesterov: bool,
    #[config(default = 5e-4)]
    pub weight_decay: f64,
    #[config(default = "None")]
    pub label_smoothing: Option<f32>,
    #[config(default = 42)]
    pub seed: u64,
}

impl TrainingConfig {
    /// Reads a JSON config file; fields it leaves out keep their defaults (nested ones too),
    /// unknown fields are errors (a typo must not be silently ignored).
    pub fn load_partial(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config {}", path.display()))?;
        let overrides: Value = serde_json::from_str(&text)
            .with_context(|| format!("the config {} is not valid JSON", path.display()))?;
        let mut merged = serde_json::to_value(TrainingConfig::new())?;
        merge(&mut merged, overrides, "")
            .with_context(|| format!("the config {}", path.display()))?;
        serde_json::from_value(merged).with_context(|| format!("the config {}", path.display()))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if self.epochs == 0 {
            return Err("`epochs` must be at least 1".into());
        }
        if self.batch_size < 2 {
            return Err("`batch_size` must be at least 2 (BatchNorm needs a batch)".into());
        }
        if self.eval_batch_size == 0 {
            return Err("`eval_batch_size` must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err("`learning_rate` must be positive".into());
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err("`momentum` must be in [0, 1)".into());
        }
        if let Some(smoothing) = self.label_smoothing
            && !(0.0..1.0).contains(&smoothing)
        {
            return Err("`label_smoothing` must be in [0, 1)".into());
        }
        Ok(())
    }

    /// The schedule for `steps_per_epoch` optimisation steps per epoch.
    pub fn schedule(&self, steps_per_epoch: usize) -> LrSchedule {
        LrSchedule {
            base_lr: self.learning_rate,
            min_lr: self.min_learning_rate,
            warmup_steps: self.warmup_epochs.min(self.epochs) * steps_per_epoch,
            total_steps: self.epochs * steps_per_epoch,
            restart_period: self.restart_epochs.map(|epochs| epochs * steps_per_epoch),
            restart_mult: self.restart_mult,
        }
    }
}

/// Deep-merges `overrides` into `base`, refusing keys that `base` does not have.
fn merge(base: &mut Value, overrides: Value, path: &str) -> Result<()> {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value, &field)?,
                    None => bail!("unknown field `{field}`"),
                }
            }
            Ok(())
        }
        (slot, value) => {
            *slot = value;
            Ok(())
        }
    }
}
