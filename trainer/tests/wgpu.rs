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

/// One training step of the fast net (BatchNorm in training mode, GELU, max-pools, the backward
/// pass and an SGD update) on wgpu and on the CPU from the same weights: the same loss and the
/// same updated weights.
#[test]
fn wgpu_training_step_of_the_fast_net_matches_the_cpu_device() {
    if std::env::var_os("CIFAR_SKIP_WGPU_TEST").is_some() {
        println!("SKIPPED: CIFAR_SKIP_WGPU_TEST is set");
        return;
    }
    assert!(
        wgpu_available(),
        "wgpu finds no adapter (see the test above)"
    );
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use cifar_model::FastResNetConfig;

    let cpu = Device::flex();
    cpu.seed(21);
    let config = FastResNetConfig::new().with_widths(vec![8, 16, 16]);
    let bytes = to_safetensors(
        &config.init(&cpu),
        &ModelInfo::cifar10(config.clone()),
        Precision::F32,
        Layout::Burn,
    )
    .unwrap();
    let input = Tensor::<4>::random([6, 3, 32, 32], Distribution::Normal(0.0, 1.0), &cpu);
    let labels = TensorData::new(vec![0i64, 1, 2, 3, 4, 5], [6]);

    let step = |device: Device| -> (f32, Vec<f32>) {
        let train = device.clone().autodiff();
        let (model, _) = load_model(&bytes, &train).unwrap();
        let loss = CrossEntropyLossConfig::new().init(&train).forward(
            model.forward(Tensor::from_data(input.clone().into_data(), &train)),
            Tensor::from_data(labels.clone(), &train),
        );
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut optim = SgdConfig::new().init();
        let model = optim.step(0.1, model, grads);
        let bytes = to_safetensors(
            &model.valid(),
            &ModelInfo::cifar10(config.clone()),
            Precision::F32,
            Layout::Burn,
        )
        .unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
        names.sort();
        let values = names
            .iter()
            .flat_map(|name| {
                tensors
                    .tensor(name)
                    .unwrap()
                    .data()
                    .chunks(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect::<Vec<_>>()
            })
            .collect();
        (value, values)
    };
    let (cpu_loss, cpu_weights) = step(cpu.clone());
    let (gpu_loss, gpu_weights) = step(select(DeviceChoice::Wgpu).device);
    println!("loss cpu {cpu_loss} wgpu {gpu_loss}");
    assert!(
        (cpu_loss - gpu_loss).abs() < 1e-4,
        "{cpu_loss} vs {gpu_loss}"
    );
    assert_eq!(cpu_weights.len(), gpu_weights.len());
    let difference = cpu_weights
        .iter()
        .zip(&gpu_weights)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("max |weight difference| after one step, wgpu vs cpu: {difference:e}");
    assert!(difference < 1e-4, "updated weights differ by {difference}");
}
