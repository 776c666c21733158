//! Training throughput of the fast residual net (`cifar_model::FastResNet`) at candidate widths
//! on this machine's CPU (Burn flex), to choose the widths of `configs/fast-cpu.json` by
//! measurement: the recipe needs about ten epochs, so the widths set the wall time.
//!
//! `cargo test --release --workspace --no-run && BATCH=512 $CARGO_TARGET_DIR/release/examples/fast_candidates`
//! (the trainer's `bench::measure`: forward, backward and an SGD step on random images, the
//! first step untimed).
use burn::prelude::*;
use cifar_model::{FastResNetConfig, ModelConfig};
use cifar_trainer::bench::{BenchSettings, measure};

fn main() {
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(512);
    let settings = BenchSettings {
        train_batch: batch,
        infer_batch: 500,
        warmup: 1,
        iterations: 3,
    };
    let device = Device::flex();
    for widths in [
        vec![64, 256, 256],
        vec![64, 192, 192],
        vec![64, 128, 128],
        vec![48, 128, 128],
        vec![32, 128, 128],
    ] {
        let config: ModelConfig = FastResNetConfig::new().with_widths(widths.clone()).into();
        let params = config.init(&device).num_learnable_params();
        let result = measure(&config, &settings, &device);
        println!(
            "fast {widths:?}: {params} parameters, train {:.1} img/s (batch {batch}), inference {:.1} img/s (folded, batch 500)",
            result.train_images_per_second,
            result.infer_folded_images_per_second.unwrap_or(f64::NAN),
        );
    }
}
