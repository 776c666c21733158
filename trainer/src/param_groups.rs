//! Parameter groups by role, for the recipes that treat some parameters differently: a
//! learning-rate multiplier for BatchNorm biases, frozen BatchNorm scales, a frozen whitening
//! layer. Burn's optimiser has one learning rate, and SGD with momentum is linear in the
//! gradient, so a group's multiplier is applied to its gradients (weight decay, added by the
//! optimiser afterwards, is left as it is) and a frozen parameter's gradient is dropped.
//! Frozen parameters are also marked as not requiring a gradient, so that autodiff does not
//! compute what would be dropped (the whitening weight's gradient cost 3 % of a fast-net step).

use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The parameters of each role, found by the module structure (`Struct:BatchNorm` fields
/// `gamma`/`beta`; the top-level `whiten` convolution).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ParamGroups {
    pub batchnorm_scales: Vec<ParamId>,
    pub batchnorm_biases: Vec<ParamId>,
    pub whiten_weight: Vec<ParamId>,
    pub whiten_bias: Vec<ParamId>,
}

impl ParamGroups {
    pub fn of<M: Module>(model: &M) -> Self {
        let mut finder = Finder {
            path: Vec::new(),
            groups: ParamGroups::default(),
        };
        model.visit(&mut finder);
        finder.groups
    }
}

struct Finder {
    /// (field name, type of the struct that holds it), enum variants left out.
    path: Vec<(String, String)>,
    groups: ParamGroups,
}

impl ModuleVisitor for Finder {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let names: Vec<&str> = self
            .path
            .iter()
            .filter(|(_, container)| !container.starts_with("Enum:"))
            .map(|(name, _)| name.as_str())
            .collect();
        let Some(((field, container), _)) = self.path.split_last() else {
            return;
        };
        let group = match (container.as_str(), field.as_str(), names.as_slice()) {
            ("Struct:BatchNorm", "gamma", _) => &mut self.groups.batchnorm_scales,
            ("Struct:BatchNorm", "beta", _) => &mut self.groups.batchnorm_biases,
            (_, _, ["whiten", "weight"]) => &mut self.groups.whiten_weight,
            (_, _, ["whiten", "bias"]) => &mut self.groups.whiten_bias,
            _ => return,
        };
        group.push(param.id);
    }
}

/// What to do with the gradients of one step.
#[derive(Debug, Default, Clone)]
pub struct GradientPolicy {
    /// Gradients multiplied by a factor: (parameters, factor).
    pub scaled: Vec<(Vec<ParamId>, f64)>,
    /// 1-D parameters whose gradients are dropped (they do not move, not even by weight decay).
    pub frozen_1d: Vec<ParamId>,
    /// 4-D parameters (convolution weights) whose gradients are dropped.
    pub frozen_4d: Vec<ParamId>,
}

impl GradientPolicy {
    /// Marks the frozen parameters as not requiring a gradient, so that the backward pass skips
    /// their gradients (a frozen whitening layer with a frozen bias is then not differentiated
    /// at all). The mark survives the optimiser's steps: it leaves parameters without a gradient
    /// as they are. The other parameters keep their setting.
    pub fn freeze<M: Module>(&self, model: M) -> M {
        let frozen: HashSet<ParamId> = self
            .frozen_1d
            .iter()
            .chain(&self.frozen_4d)
            .copied()
            .collect();
        if frozen.is_empty() {
            return model;
        }
        model.map(&mut Freezer(frozen))
    }

    /// Applies the policy to one step's gradients. Scaled groups are 1-D (BatchNorm biases).
    pub fn apply(&self, grads: &mut GradientsParams) {
        for id in &self.frozen_1d {
            grads.remove::<1>(*id);
        }
        for id in &self.frozen_4d {
            grads.remove::<4>(*id);
        }
        for (ids, factor) in &self.scaled {
            for id in ids {
                if let Some(grad) = grads.remove::<1>(*id) {
                    grads.register(*id, grad * *factor);
                }
            }
        }
    }
}

struct Freezer(HashSet<ParamId>);

impl ModuleMapper for Freezer {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.0.contains(&param.id) {
            param.set_require_grad(false)
        } else {
            param
        }
    }
}
