//! `bench --profile`: the replay it times must compute the model's own forward pass, visit every
//! layer, and split the backward work the way a training step does.

use burn::prelude::*;
use burn::store::ModuleSnapshot;
use burn::tensor::Distribution;
use cifar_model::{FastResNetConfig, Model, ModelConfig, ResNetConfig};
use cifar_trainer::bench::BenchSettings;
use cifar_trainer::profile::{self, Kind, Profiler};

fn device() -> Device {
    Device::flex().autodiff()
}

fn models() -> Vec<(&'static str, ModelConfig)> {
    vec![
        ("narrow ResNet", ResNetConfig::narrow().into()),
        (
            "small fast net",
            FastResNetConfig::new().with_widths(vec![8, 16, 12]).into(),
        ),
    ]
}

/// Tensors of the model whose name ends in `suffix` and that have `rank` dimensions.
fn count_tensors(model: &Model, suffix: &str, rank: usize) -> usize {
    model
        .collect(None, None, true)
        .iter()
        .filter(|t| t.name.ends_with(suffix) && t.shape.len() == rank)
        .count()
}

fn calls(profiler: &Profiler, kind: Kind) -> usize {
    profiler
        .entries()
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.count)
        .sum()
}

#[test]
fn replay_computes_forward_and_visits_every_layer() {
    let device = device();
    for (name, config) in models() {
        device.seed(7);
        let model = config.init(&device);
        let images = Tensor::<4>::random([3, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let expected = model.forward(images.clone()).into_data();
        let mut profiler = Profiler::new(None);
        let replayed = profile::replay(&model, images, &mut profiler).into_data();
        expected.assert_approx_eq::<f32>(&replayed, burn::tensor::Tolerance::absolute(1e-6));

        // Counted independently: every 4-D weight is a convolution, every running mean a
        // BatchNorm.
        assert_eq!(
            calls(&profiler, Kind::Convolution),
            count_tensors(&model, "weight", 4),
            "{name}: convolutions"
        );
        assert_eq!(
            calls(&profiler, Kind::BatchNorm),
            count_tensors(&model, "running_mean", 1),
            "{name}: BatchNorms"
        );
        assert_eq!(calls(&profiler, Kind::Linear), 1, "{name}: linear layers");
    }
}

#[test]
fn resnet18_layout_has_the_hand_counted_operations() {
    // ResNet-18: stem conv + 8 blocks × 2 convs + 3 projection shortcuts = 20 convolutions;
    // ReLUs: 1 after the stem + 2 per block = 17; one residual add per block.
    let device = device();
    let model = ModelConfig::from(ResNetConfig::narrow()).init(&device);
    let images = Tensor::<4>::zeros([1, 3, 32, 32], &device);
    let mut profiler = Profiler::new(None);
    profile::replay(&model, images, &mut profiler);
    assert_eq!(calls(&profiler, Kind::Convolution), 20);
    assert_eq!(calls(&profiler, Kind::Activation), 17);
    assert_eq!(calls(&profiler, Kind::ResidualAdd), 8);
    assert_eq!(calls(&profiler, Kind::Pooling), 1);
}

#[test]
fn timings_split_backward_like_a_training_step() {
    let settings = BenchSettings {
        train_batch: 4,
        infer_batch: 1,
        warmup: 0,
        iterations: 1,
    };
    let config: ModelConfig = FastResNetConfig::new().with_widths(vec![8, 16, 12]).into();
    let result = profile::profile(&config, &settings, &Device::flex());
    let stem = &result.entries[0];
    assert_eq!(stem.kind, Kind::Convolution);
    // The images carry no gradient: the stem's backward is its weight gradient only.
    assert_eq!(stem.per_call.input_grad, 0.0, "{stem:?}");
    assert!(stem.per_call.param_grad > 0.0, "{stem:?}");
    for entry in &result.entries {
        let t = entry.per_call;
        assert!(t.forward > 0.0, "{entry:?}");
        assert!(t.input_grad >= 0.0 && t.param_grad >= 0.0, "{entry:?}");
        if entry.kind == Kind::Activation || entry.kind == Kind::Pooling {
            assert_eq!(t.param_grad, 0.0, "{entry:?}: no parameters");
        }
    }
    let report = profile::report("small", &result);
    assert!(
        report.contains("per kind:") && report.contains("sum of the parts"),
        "{report}"
    );
    assert!(result.step.forward > 0.0 && result.step.backward > 0.0);
}
