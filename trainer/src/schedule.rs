//! Learning rate per optimisation step, in one of two shapes ([`LrShape`]):
//! - `cosine` (the report's): linear warm-up, then cosine annealing to `min_lr`, optionally with
//!   warm restarts (SGDR) whose periods grow by `restart_mult`;
//! - `triangular` (one-cycle, as the fast CIFAR recipes use): linear from a start factor up to the
//!   peak at a fraction of the run, then linear down to an end factor.
//!
//! A pure function of the step, so that a resumed run continues exactly where it stopped.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// How the learning rate moves over the run. In a config: `"cosine"`, or
/// `{"triangular": {"start": 0.0, "peak": 0.2, "end": 0.0}}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrShape {
    /// Linear warm-up over `warmup_epochs`, then cosine annealing (with optional restarts).
    Cosine,
    /// Piecewise linear over all steps: `start`×peak at the first step, the peak at fraction
    /// `peak` of the steps, `end`×peak at the end. Warm-up and restarts do not apply.
    Triangular { start: f64, peak: f64, end: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct LrSchedule {
    pub shape: LrShape,
    pub base_lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    /// First cosine period in steps for warm restarts; `None` anneals once over the whole run.
    pub restart_period: Option<usize>,
    pub restart_mult: usize,
}

impl LrSchedule {
    pub fn lr(&self, step: usize) -> f64 {
        if let LrShape::Triangular { start, peak, end } = self.shape {
            return self.base_lr * triangular(step, self.total_steps, start, peak, end);
        }
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let step = step - self.warmup_steps;
        let annealed = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let (position, period) = match self.restart_period {
            None => (step.min(annealed), annealed),
            Some(first) => {
                let mut period = first.max(1);
                let mut position = step;
                while position >= period {
                    position -= period;
                    period *= self.restart_mult.max(1);
                }
                (position, period)
            }
        };
        let progress = position as f64 / period as f64;
        self.min_lr + (self.base_lr - self.min_lr) * (1.0 + (PI * progress).cos()) / 2.0
    }
}

/// The triangular factor at `step` of `total`: linear from `start` (step 0) to 1 (at fraction
/// `peak` of the steps) to `end` (at the last step and after).
fn triangular(step: usize, total: usize, start: f64, peak: f64, end: f64) -> f64 {
    let last = total.saturating_sub(1).max(1) as f64;
    let t = (step as f64 / last).min(1.0);
    if t < peak {
        start + (1.0 - start) * t / peak
    } else if peak >= 1.0 {
        1.0
    } else {
        1.0 + (end - 1.0) * (t - peak) / (1.0 - peak)
    }
}

impl LrShape {
    /// Checks the shape's own numbers.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LrShape::Cosine => Ok(()),
            LrShape::Triangular { start, peak, end } => {
                if !(0.0..=1.0).contains(&start) || !(0.0..=1.0).contains(&end) {
                    return Err(
                        "`lr_shape.triangular`: `start` and `end` must be in [0, 1] \
                                (factors of the peak learning rate)"
                            .into(),
                    );
                }
                if !(peak > 0.0 && peak <= 1.0) {
                    return Err(
                        "`lr_shape.triangular`: `peak` must be in (0, 1] (a fraction \
                                of the run's steps)"
                            .into(),
                    );
                }
                Ok(())
            }
        }
    }
}
