//! The training configuration: one JSON file (`--config`) plus command-line overrides, saved as
//! `config.json` in the run directory.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::config::Config;
use cifar_model::ResNetConfig;
use serde_json::Value;

use crate::augment::AugmentConfig;
use crate::schedule::{LrSchedule, LrShape};

/// The members of the model family the command line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelPreset {
    /// The report's ResNet-18 (64/128/256/512).
    Resnet18,
    /// Widths 16/32/64/128, for CPU training.
    Narrow,
}

impl ModelPreset {
    pub const ALL: [ModelPreset; 2] = [ModelPreset::Resnet18, ModelPreset::Narrow];

    pub fn name(self) -> &'static str {
        match self {
            ModelPreset::Resnet18 => "resnet18",
            ModelPreset::Narrow => "narrow",
        }
    }

    pub fn config(self) -> ResNetConfig {
        match self {
            ModelPreset::Resnet18 => ResNetConfig::new(),
            ModelPreset::Narrow => ResNetConfig::narrow(),
        }
    }
}

/// Command-line settings that override the config file (each `None` when not given).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub model: Option<ModelPreset>,
}

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
    /// `"cosine"` (warm-up then cosine, the report's) or `{"triangular": {"start", "peak",
    /// "end"}}` (one-cycle; see `schedule::LrShape`).
    #[config(default = "LrShape::Cosine")]
    pub lr_shape: LrShape,
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
    /// Exponential moving average of the weights with this decay per step (e.g. 0.999); the
    /// average, which starts from the initial weights, is what is evaluated and saved.
    #[config(default = "None")]
    pub ema_decay: Option<f64>,
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

    /// The config of a run: `config_file` (or the defaults) with `overrides` applied. On
    /// `resume`, the run's saved `config.json` in `run_dir`, of which only `epochs` may change
    /// (to extend a run).
    pub fn resolve(
        config_file: Option<&Path>,
        overrides: &Overrides,
        run_dir: &Path,
        resume: bool,
    ) -> Result<Self> {
        let saved_path = run_dir.join(crate::training::CONFIG_FILE);
        let saved = if resume {
            Some(Self::load(&saved_path).map_err(|err| {
                anyhow::anyhow!("--resume: cannot read {}: {err}", saved_path.display())
            })?)
        } else {
            None
        };
        let mut config = match (config_file, &saved) {
            (Some(path), _) => Self::load_partial(path)?,
            (None, Some(saved)) => saved.clone(),
            (None, None) => Self::new(),
        };
        if let Some(epochs) = overrides.epochs {
            config.epochs = epochs;
        }
        if let Some(batch_size) = overrides.batch_size {
            config.batch_size = batch_size;
        }
        if let Some(lr) = overrides.learning_rate {
            config.learning_rate = lr;
        }
        if let Some(seed) = overrides.seed {
            config.seed = seed;
        }
        if let Some(preset) = overrides.model {
            config.model = preset.config();
        }
        if let Some(saved) = saved {
            let mut comparable = config.clone();
            comparable.epochs = saved.epochs;
            if comparable != saved {
                bail!(
                    "--resume: these settings differ from the run's saved {} — only --epochs may \
                     change when resuming (start a new --out for other settings)",
                    saved_path.display()
                );
            }
        }
        Ok(config)
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
        if let Some(decay) = self.ema_decay
            && !(decay > 0.0 && decay < 1.0)
        {
            return Err("`ema_decay` must be in (0, 1)".into());
        }
        self.lr_shape.validate()?;
        if matches!(self.lr_shape, LrShape::Triangular { .. })
            && (self.warmup_epochs > 0 || self.restart_epochs.is_some())
        {
            return Err(
                "`warmup_epochs` and `restart_epochs` belong to the cosine shape: with \
                        `lr_shape` triangular set `warmup_epochs` to 0 and leave out \
                        `restart_epochs` (the triangle rises by itself)"
                    .into(),
            );
        }
        self.augment.validate()?;
        Ok(())
    }

    /// The schedule for `steps_per_epoch` optimisation steps per epoch.
    pub fn schedule(&self, steps_per_epoch: usize) -> LrSchedule {
        LrSchedule {
            shape: self.lr_shape,
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
