//! Weight averaging: an exponential moving average (EMA) of the model's weights, updated after
//! every optimisation step as `average ← d·average + (1 − d)·model` over every float tensor of
//! the module (BatchNorm's running statistics included). When a run averages, the average is
//! what is evaluated each epoch and saved.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Returns `average` moved towards `current` (same structure) by `1 − decay`.
pub fn ema_update<M: Module>(average: M, current: &M, decay: f64) -> M {
    let mut collect = Collect(Vec::new());
    current.visit(&mut collect);
    let mut blend = Blend {
        current: collect.0.into_iter(),
        decay,
    };
    average.map(&mut blend)
}

/// Every float tensor of a module, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let count = tensor.shape().num_elements();
        self.0.push(tensor.reshape([count]));
    }
}

/// Blends each float tensor with the next collected one (same visiting order and shapes).
struct Blend {
    current: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self
            .current
            .next()
            .expect("the average and the model have the same structure");
        let decay = self.decay;
        param.map(|average| {
            let dims = average.dims();
            let current = current.reshape(dims).to_device(&average.device());
            average * decay + current * (1.0 - decay)
        })
    }
}

/// Returns `model` with every float tensor replaced by `source`'s (same structure), keeping the
/// model's parameter ids (so the optimiser's momentum stays attached) and whether each tracks
/// gradients. Lookahead's reset of the fast weights to the slow ones.
pub fn assign<M: Module, S: Module>(model: M, source: &S) -> M {
    let mut collect = Collect(Vec::new());
    source.visit(&mut collect);
    model.map(&mut Assign(collect.0.into_iter()))
}

struct Assign(std::vec::IntoIter<Tensor<1>>);

impl ModuleMapper for Assign {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let source = self
            .0
            .next()
            .expect("the model and the source have the same structure");
        param.map(|old| {
            let mut new = source.reshape(old.dims()).to_device(&old.device());
            // A fresh leaf on the model's side of autodiff, tracking gradients as before (what
            // Burn's optimiser does with an updated parameter).
            if old.is_autodiff() {
                new = new.autodiff();
            }
            if old.is_require_grad() {
                new = new.require_grad();
            }
            new
        })
    }
}
