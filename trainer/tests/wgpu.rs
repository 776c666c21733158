//! The wgpu path, natively: on a machine without a GPU this runs on Mesa's lavapipe (installed by
//! scripts/setup.sh), so the kernels the GPU and the browser use are checked against the CPU.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::{Layout, ModelInfo, Precision, ResNetConfig, load_model, to_safetensors};
use cifar_trainer::device::{DeviceChoice, select, wgpu_available};

#[test]
fn wgpu_forward_matches_the_cpu_device() {
    if std::env::var_os("CIFAR_SKIP_WGPU_TEST").is_some() {
        println!("SKIPPED: CIFAR_SKIP_WGPU_TEST is set");
        return;
    }
    assert!(
        wgpu_available(),
        "wgpu finds no adapter: install Mesa's Vulkan drivers (bash scripts/setup.sh), or set \
         CIFAR_SKIP_WGPU_TEST=1 to skip this test"
    );
    let cpu = Device::flex();
    cpu.seed(11);
    // The report's ResNet-18 with non-trivial BatchNorm statistics (one training-mode pass).
    let config = ResNetConfig::new();
    let model = config.init(&cpu.clone().autodiff());
    let _ = model.forward(Tensor::random(
        [4, 3, 32, 32],
        Distribution::Normal(0.3, 1.5),
        &cpu.clone().autodiff(),
    ));
    let model = model.valid();
    let bytes = to_safetensors(
        &model,
        &ModelInfo::cifar10(config),
        Precision::F32,
        Layout::Burn,
    )
    .unwrap();

    let selected = select(DeviceChoice::Wgpu);
    println!("wgpu device: {}", selected.description);
    let gpu = selected.device;
    let (gpu_model, _) = load_model(&bytes, &gpu).unwrap();

    let input = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &cpu);
    let expected = model
        .forward(input.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let actual = gpu_model
        .forward(Tensor::from_data(input.into_data(), &gpu))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let difference = expected
        .iter()
        .zip(&actual)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("max |logit difference| wgpu vs cpu: {difference:e}");
    assert_eq!(expected.len(), 20);
    assert!(difference < 1e-4, "wgpu and cpu differ by {difference}");
}
