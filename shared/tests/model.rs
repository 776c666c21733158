//! Shapes, parameter count and parameter names of the ResNet family.

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleSnapshot;
use cifar_model::{ResNet, ResNetConfig};

fn names(model: &ResNet) -> Vec<String> {
    model
        .collect(None, None, false)
        .into_iter()
        .map(|t| t.name.clone())
        .collect()
}

#[test]
fn default_config_is_the_reports_resnet18_with_pytorchs_parameter_count() {
    let model = ResNetConfig::new().init(&Device::flex());
    // PyTorch's count for kuangliu/pytorch-cifar's ResNet18(): weights, biases and BatchNorm
    // affine parameters; the running statistics (2 × 4,800 values) are buffers there.
    assert_eq!(model.num_learnable_params(), 11_173_962);
    assert_eq!(model.num_params(), 11_173_962 + 9_600);
}

#[test]
fn forward_gives_one_logit_per_class() {
    let device = Device::flex();
    let model = ResNetConfig::new().init(&device);
    let logits = model.forward(Tensor::zeros([2, 3, 32, 32], &device));
    assert_eq!(logits.dims(), [2, 10]);
}

#[test]
fn narrow_and_custom_configs_work() {
    let device = Device::flex();
    let narrow = ResNetConfig::narrow().init(&device);
    assert_eq!(
        narrow
            .forward(Tensor::zeros([3, 3, 32, 32], &device))
            .dims(),
        [3, 10]
    );

    let custom = ResNetConfig::new()
        .with_widths(vec![8, 8, 16, 16])
        .with_blocks(vec![1, 2, 1, 1])
        .with_num_classes(5)
        .init(&device);
    assert_eq!(
        custom
            .forward(Tensor::zeros([1, 3, 32, 32], &device))
            .dims(),
        [1, 5]
    );
    assert_eq!(custom.layer2.len(), 2);
    // Equal widths and stride 1: identity shortcut; halved image: projection.
    assert!(custom.layer1[0].shortcut.is_none());
    assert!(custom.layer3[0].shortcut.is_some());
    assert!(narrow.num_params() < 1_000_000);
}

#[test]
fn each_stage_after_the_first_halves_the_image() {
    let device = Device::flex();
    let model = ResNetConfig::narrow().init(&device);
    let mut x = model.conv1.forward(Tensor::zeros([1, 3, 32, 32], &device));
    let mut sizes = Vec::new();
    for stage in model.stages() {
        for block in stage {
            x = block.forward(x);
        }
        sizes.push(x.dims()[2]);
    }
    assert_eq!(sizes, vec![32, 16, 8, 4]);
}

#[test]
fn parameter_names_mirror_kuangliu_pytorch_cifar() {
    let model = ResNetConfig::new().init(&Device::flex());
    let names = names(&model);
    for expected in [
        "conv1.weight",
        "bn1.gamma",
        "bn1.beta",
        "bn1.running_mean",
        "bn1.running_var",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.gamma",
        "layer2.0.shortcut.0.weight",
        "layer2.0.shortcut.1.running_var",
        "layer4.1.conv2.weight",
        "linear.weight",
        "linear.bias",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing {expected}; have {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.starts_with("layer1.0.shortcut")));
    // The PyTorch state_dict has 122 entries: these 102 plus 20 num_batches_tracked counters.
    assert_eq!(names.len(), 102);
}

#[test]
fn invalid_configs_are_reported() {
    assert!(
        ResNetConfig::new()
            .with_widths(vec![64, 128])
            .validate()
            .is_err()
    );
    assert!(
        ResNetConfig::new()
            .with_blocks(vec![2, 0, 2, 2])
            .validate()
            .is_err()
    );
    assert!(ResNetConfig::new().with_num_classes(0).validate().is_err());
    assert!(ResNetConfig::new().validate().is_ok());
}
