//! The training configuration: one JSON file (`--config`) plus command-line overrides, saved as
//! `config.json` in the run directory.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::config::Config;
use cifar_model::{FastResNetConfig, ModelConfig, ResNetConfig, Tta};
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
    /// The fast residual net (airbench layout with residual groups), widths 64/256/256.
    Fast,
}

impl ModelPreset {
    pub const ALL: [ModelPreset; 3] = [
        ModelPreset::Resnet18,
        ModelPreset::Narrow,
        ModelPreset::Fast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelPreset::Resnet18 => "resnet18",
            ModelPreset::Narrow => "narrow",
            ModelPreset::Fast => "fast",
        }
    }

    pub fn config(self) -> ModelConfig {
        match self {
            ModelPreset::Resnet18 => ResNetConfig::new().into(),
            ModelPreset::Narrow => ResNetConfig::narrow().into(),
            ModelPreset::Fast => FastResNetConfig::new().into(),
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
    /// The network; `architecture` (`resnet` when left out, or `fast-resnet`) picks the member.
    #[config(default = "ModelConfig::default()")]
    pub model: ModelConfig,
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
    /// Lookahead (Zhang et al. 2019, as airbench uses it): every `every` steps the slow
    /// weights move towards the model, `slow ← d·slow + (1 − d)·model`, and the model is reset to
    /// them; `d = decay · (step / total)^power` grows over the run. The slow weights are what is
    /// evaluated and saved. Not with `ema_decay`.
    #[config(default = "None")]
    pub lookahead: Option<LookaheadConfig>,
    /// When set (e.g. 1024), `learning_rate` and `weight_decay` are airbench's batch-size- and
    /// momentum-independent units: the step on the mean loss is
    /// `learning_rate · batch / (R · (1 + 1/(1 − momentum)))` and the decay per step
    /// `weight_decay · batch / (R · (1 + 1/(1 − momentum)))` of each weight, so the same numbers
    /// work at any batch size.
    #[config(default = "None")]
    pub lr_reference_batch: Option<usize>,
    #[config(default = "BatchNormTraining::new()")]
    pub batchnorm: BatchNormTraining,
    /// Sets the first `min(in, out)` filters of every 3×3 convolution to the identity (a Dirac
    /// delta), the rest keep their random init (airbench's init).
    #[config(default = false)]
    pub identity_init: bool,
    /// Initialise the fast net's whitening convolution from the training images' patch
    /// covariance and keep it frozen (its bias trains for `bias_epochs`).
    #[config(default = "None")]
    pub whitening: Option<WhiteningConfig>,
    /// Test-time augmentation of the last epoch's test accuracy (the one stored in the final
    /// weights' metadata, which names it; earlier epochs are evaluated without, as TTA costs
    /// several forward passes per image): `none`, `flip` or `multi`.
    #[config(default = "Tta::None")]
    pub eval_tta: Tta,
    #[config(default = 42)]
    pub seed: u64,
}

/// Lookahead's schedule (see [`TrainingConfig::lookahead`]).
#[derive(Config, Debug, PartialEq)]
pub struct LookaheadConfig {
    #[config(default = 5)]
    pub every: usize,
    /// airbench's 0.95⁵.
    #[config(default = 0.7737809374999998)]
    pub decay: f64,
    #[config(default = 3.0)]
    pub power: f64,
}

impl LookaheadConfig {
    /// `d` after `step` of `total` steps.
    pub fn decay_at(&self, step: usize, total: usize) -> f64 {
        self.decay * (step as f64 / total.max(1) as f64).powf(self.power)
    }
}

/// How BatchNorm layers train.
#[derive(Config, Debug, PartialEq)]
pub struct BatchNormTraining {
    /// Weight of the new batch in the running statistics, PyTorch's `momentum` (airbench's
    /// 0.6 is 0.4 here); `None` keeps the layers' own (0.1).
    #[config(default = "None")]
    pub momentum: Option<f64>,
    /// Keep every BatchNorm scale γ at its initial 1 (airbench).
    #[config(default = false)]
    pub frozen_scale: bool,
    /// Learning-rate multiplier of the BatchNorm biases β (airbench's 64): their gradient is
    /// scaled, their weight decay is not.
    #[config(default = 1.0)]
    pub bias_lr_multiplier: f64,
}

/// Whitening initialisation (see [`TrainingConfig::whitening`]).
#[derive(Config, Debug, PartialEq)]
pub struct WhiteningConfig {
    /// Training images whose patches give the covariance (the first N, normalised).
    #[config(default = 5000)]
    pub images: usize,
    /// Added to each eigenvalue before the inverse square root.
    #[config(default = 5e-4)]
    pub epsilon: f64,
    /// Epochs the whitening bias trains before it freezes too.
    #[config(default = 3)]
    pub bias_epochs: usize,
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
        // Another architecture than the default's: merge into that architecture's defaults.
        if let Some(architecture) = overrides
            .get("model")
            .and_then(|model| model.get("architecture"))
        {
            let defaults = ModelConfig::default_for(architecture.as_str().unwrap_or_default())
                .map_err(|problem| {
                    anyhow::anyhow!(
                        "the config {}: `model.architecture`: {problem}",
                        path.display()
                    )
                })?;
            merged["model"] = serde_json::to_value(defaults)?;
        }
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
        if let Some(lookahead) = &self.lookahead {
            if self.ema_decay.is_some() {
                return Err(
                    "`lookahead` and `ema_decay` both average the weights: keep one".into(),
                );
            }
            if lookahead.every == 0 {
                return Err("`lookahead.every` must be at least 1".into());
            }
            if !(0.0..=1.0).contains(&lookahead.decay)
                || lookahead.power.is_nan()
                || lookahead.power < 0.0
            {
                return Err("`lookahead.decay` must be in [0, 1] and `power` ≥ 0".into());
            }
        }
        if self.lr_reference_batch == Some(0) {
            return Err("`lr_reference_batch` must be at least 1".into());
        }
        if let Some(momentum) = self.batchnorm.momentum
            && !(momentum > 0.0 && momentum <= 1.0)
        {
            return Err("`batchnorm.momentum` must be in (0, 1]".into());
        }
        if !(self.batchnorm.bias_lr_multiplier.is_finite()
            && self.batchnorm.bias_lr_multiplier > 0.0)
        {
            return Err("`batchnorm.bias_lr_multiplier` must be positive".into());
        }
        if let Some(whitening) = &self.whitening {
            if !matches!(self.model, ModelConfig::Fast(_)) {
                return Err(
                    "`whitening` initialises the fast net's `whiten` layer: it needs `model.architecture` \"fast-resnet\""
                        .into(),
                );
            }
            if whitening.images == 0 || whitening.epsilon.is_nan() || whitening.epsilon <= 0.0 {
                return Err("`whitening.images` must be ≥ 1 and `whitening.epsilon` > 0".into());
            }
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

    /// `1 / (R · (1 + 1/(1 − momentum)))` per example under `lr_reference_batch`, else `None`.
    fn reference_scale(&self) -> Option<f64> {
        self.lr_reference_batch.map(|reference| {
            self.batch_size as f64 / (reference as f64 * (1.0 + 1.0 / (1.0 - self.momentum)))
        })
    }

    /// The peak learning rate of a step on the mean loss over a batch.
    pub fn step_learning_rate(&self) -> f64 {
        self.learning_rate * self.reference_scale().unwrap_or(1.0)
    }

    /// The coupled weight decay the optimiser adds to each gradient (`λ` in `g + λ·w`): the
    /// config's value, or under `lr_reference_batch` the λ whose step `lr·λ·w` is the decay per
    /// step the units define (`weight_decay / learning_rate`, the same at any batch size).
    pub fn coupled_weight_decay(&self) -> f64 {
        match self.reference_scale() {
            Some(_) => self.weight_decay / self.learning_rate,
            None => self.weight_decay,
        }
    }

    /// The schedule for `steps_per_epoch` optimisation steps per epoch.
    pub fn schedule(&self, steps_per_epoch: usize) -> LrSchedule {
        LrSchedule {
            shape: self.lr_shape,
            base_lr: self.step_learning_rate(),
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
