//! ResNet-18's folded inference (what `eval` and `predict` run) in a loop, with the trainer's
//! allocator settings, for a profiler: `trainer bench --profile` times training only.
//!
//! `cargo test --release --workspace --no-run && perf record -o /tmp/perf.data
//! $CARGO_TARGET_DIR/release/examples/infer_loop [ITERATIONS [BATCH]] && perf report -i
//! /tmp/perf.data --no-children --sort symbol` (BENCHMARKS.md, "eleventh session"; defaults 10
//! and 256). It prints img/s per iteration after one untimed one.
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::{Classifier, ModelConfig};

fn main() {
    if let Err(error) = cifar_trainer::allocator::keep_freed_buffers() {
        eprintln!("warning: {error}");
    }
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let iterations = args.next().unwrap_or(Ok(10)).expect("ITERATIONS: a count");
    let batch = args.next().unwrap_or(Ok(256)).expect("BATCH: a count");
    let device = Device::flex();
    device.seed(0);
    let model = ModelConfig::default().init(&device).fold_batchnorm();
    let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    for iteration in 0..=iterations {
        let started = Instant::now();
        let _ = model.logits(images.clone()).sum().into_scalar::<f32>(); // waits for the device
        if iteration > 0 {
            let rate = batch as f64 / started.elapsed().as_secs_f64();
            println!("{rate:.1} img/s");
        }
    }
}
