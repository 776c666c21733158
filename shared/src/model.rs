//! Any member of the family as one type, so that the trainer and the page handle every
//! architecture through the same code; only this crate matches on the variant.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::store::ModuleSnapshot;

use crate::fast::FastResNet;
use crate::fold::{FoldedFastResNet, FoldedResNet};
use crate::inference::Classifier;
use crate::resnet::ResNet;

/// A network of the family, trainable. Saved and loaded without the variant in the tensor
/// names (`weights` skips it), so that names stay the PyTorch ones.
// One model lives at a time and moves by value through the optimiser; a Box would not derive
// `Module`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model {
    ResNet(ResNet),
    Fast(FastResNet),
}

impl From<ResNet> for Model {
    fn from(model: ResNet) -> Self {
        Model::ResNet(model)
    }
}

impl From<FastResNet> for Model {
    fn from(model: FastResNet) -> Self {
        Model::Fast(model)
    }
}

impl Model {
    /// `[batch, 3, H, W]` normalised images → `[batch, classes]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Model::ResNet(model) => model.forward(images),
            Model::Fast(model) => model.forward(images),
        }
    }

    /// The same network with BatchNorm folded away, for inference (use on a model in inference
    /// mode, e.g. after `valid()` or loading).
    pub fn fold_batchnorm(&self) -> FoldedModel {
        match self {
            Model::ResNet(model) => FoldedModel::ResNet(model.fold_batchnorm()),
            Model::Fast(model) => FoldedModel::Fast(model.fold_batchnorm()),
        }
    }

    /// Every BatchNorm layer, for settings that training changes (e.g. the momentum).
    pub fn batchnorms_mut(&mut self) -> Vec<&mut BatchNorm> {
        match self {
            Model::ResNet(model) => {
                let mut norms = vec![&mut model.bn1];
                for block in [
                    &mut model.layer1,
                    &mut model.layer2,
                    &mut model.layer3,
                    &mut model.layer4,
                ]
                .into_iter()
                .flatten()
                {
                    norms.push(&mut block.bn1);
                    norms.push(&mut block.bn2);
                    if let Some((_, bn)) = &mut block.shortcut {
                        norms.push(bn);
                    }
                }
                norms
            }
            Model::Fast(model) => model
                .layers
                .iter_mut()
                .flat_map(|group| [&mut group.norm1, &mut group.norm2])
                .collect(),
        }
    }

    /// The whitening convolution, for the members that have one (the fast net).
    pub fn whitening_mut(&mut self) -> Option<&mut Conv2d> {
        match self {
            Model::ResNet(_) => None,
            Model::Fast(model) => Some(&mut model.whiten),
        }
    }

    /// Learnable parameters, counted as PyTorch's `sum(p.numel() for p in model.parameters())`:
    /// BatchNorm running statistics are buffers there, while Burn's `num_params` includes them.
    pub fn num_learnable_params(&self) -> usize {
        learnable_params(self)
    }
}

pub(crate) fn learnable_params<M: ModuleSnapshot>(model: &M) -> usize {
    model
        .collect(None, None, true)
        .iter()
        .filter(|tensor| {
            !tensor.name.ends_with("running_mean") && !tensor.name.ends_with("running_var")
        })
        .map(|tensor| tensor.shape.iter().product::<usize>())
        .sum()
}

impl Classifier for Model {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

/// A [`Model`] with every BatchNorm folded away, for inference only.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum FoldedModel {
    ResNet(FoldedResNet),
    Fast(FoldedFastResNet),
}

impl Classifier for FoldedModel {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            FoldedModel::ResNet(model) => model.logits(images),
            FoldedModel::Fast(model) => model.logits(images),
        }
    }
}
