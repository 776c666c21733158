//! Learning rate per optimisation step: linear warm-up, then cosine annealing to `min_lr`,
//! optionally with warm restarts (SGDR) whose periods grow by `restart_mult`.
//!
//! A pure function of the step, so that a resumed run continues exactly where it stopped.

use std::f64::consts::PI;

#[derive(Clone, Debug, PartialEq)]
pub struct LrSchedule {
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
