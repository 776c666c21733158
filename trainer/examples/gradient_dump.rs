//! One training step of the fast net on Burn's CPU backend, written out for a comparison with
//! PyTorch (`bench/gradient_check.py`): the initial weights, the batch, and the weights after
//! one plain SGD step with learning rate 1 (so `w0 − w1` is the gradient, and BatchNorm's
//! running statistics show its training-mode update).
//!
//! `$CARGO_TARGET_DIR/release/examples/gradient_dump OUT_DIR`
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use cifar_model::{FastResNetConfig, Layout, ModelConfig, ModelInfo, Precision, to_safetensors};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: gradient_dump OUT_DIR"),
    );
    std::fs::create_dir_all(&out).unwrap();
    let (batch, classes) = (64usize, 10usize);
    let config: ModelConfig = FastResNetConfig::new().with_widths(vec![32, 48, 48]).into();
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = config.init(&device);
    let info = ModelInfo::cifar10(config.clone());
    let save = |name: &str, model: &cifar_model::Model| {
        let bytes = to_safetensors(model, &info, Precision::F32, Layout::PyTorch).unwrap();
        std::fs::write(out.join(name), bytes).unwrap();
    };
    save("w0.safetensors", &model);

    let mut rng = StdRng::seed_from_u64(3);
    let pixels: Vec<f32> = (0..batch * 3 * 32 * 32)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let labels: Vec<i64> = (0..batch)
        .map(|_| rng.random_range(0..classes as i64))
        .collect();
    std::fs::write(
        out.join("images.f32"),
        pixels
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::write(
        out.join("labels.i64"),
        labels
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();

    let images = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, 32, 32]), &device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let loss = CrossEntropyLossConfig::new()
        .with_smoothing(Some(0.2))
        .init(&device)
        .forward(model.forward(images), targets);
    println!("loss {}", loss.clone().into_scalar::<f32>());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = SgdConfig::new().init();
    let model = optim.step(1.0, model, grads);
    save("w1.safetensors", &model.valid());
}
