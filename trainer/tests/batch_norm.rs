//! The CPU backend's training BatchNorm (the patched burn-flex under `vendor/`: statistics,
//! output and the three gradients fused per channel) against plain f64 loops, through Burn's
//! autodiff as training takes it. Ranks 2 to 4, sizes on the sequential and the parallel path,
//! channels with a large mean (where a one-pass variance would lose digits).

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::batch_norm_train;

mod common;

use common::tensors::{relative_error, values};

struct Reference {
    output: Vec<f64>,
    mean: Vec<f64>,
    variance: Vec<f64>,
    x_grad: Vec<f64>,
    gamma_grad: Vec<f64>,
    beta_grad: Vec<f64>,
}

/// Batch normalisation over `[batch, channels, inner]` and its gradients for the loss
/// `Σ output · dy`, by the textbook formulas.
fn reference(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    dy: &[f64],
    (batch, channels, inner): (usize, usize, usize),
    epsilon: f64,
) -> Reference {
    let index = |b: usize, c: usize, i: usize| (b * channels + c) * inner + i;
    let n = (batch * inner) as f64;
    let mut r = Reference {
        output: vec![0.0; x.len()],
        mean: vec![0.0; channels],
        variance: vec![0.0; channels],
        x_grad: vec![0.0; x.len()],
        gamma_grad: vec![0.0; channels],
        beta_grad: vec![0.0; channels],
    };
    for c in 0..channels {
        let all = || (0..batch).flat_map(move |b| (0..inner).map(move |i| index(b, c, i)));
        let mean = all().map(|k| x[k]).sum::<f64>() / n;
        let variance = all().map(|k| (x[k] - mean).powi(2)).sum::<f64>() / n;
        let inv_std = 1.0 / (variance + epsilon).sqrt();
        let x_hat = |k: usize| (x[k] - mean) * inv_std;
        for k in all() {
            r.output[k] = gamma[c] * x_hat(k) + beta[c];
        }
        let sum_dy: f64 = all().map(|k| dy[k]).sum();
        let sum_dy_xhat: f64 = all().map(|k| dy[k] * x_hat(k)).sum();
        for k in all() {
            r.x_grad[k] = gamma[c] * inv_std * (dy[k] - sum_dy / n - x_hat(k) * sum_dy_xhat / n);
        }
        r.mean[c] = mean;
        r.variance[c] = variance;
        r.gamma_grad[c] = sum_dy_xhat;
        r.beta_grad[c] = sum_dy;
    }
    r
}

fn check<const D: usize>(shape: [usize; D], seed: u64) -> Vec<String> {
    let device = Device::flex();
    device.seed(seed);
    let autodiff = device.clone().autodiff();
    let channels = shape[1];
    let inner: usize = shape[2..].iter().product();
    let normal = Distribution::Normal(0.0, 1.0);
    // Channel c has mean 10·c: the variance must be taken around the mean.
    let offsets: Vec<f32> = (0..channels).map(|c| 10.0 * c as f32).collect();
    let offsets = Tensor::<1>::from_data(TensorData::new(offsets, [channels]), &autodiff);
    let mut offset_shape = [1; D];
    offset_shape[1] = channels;
    let x = (Tensor::<D>::random(shape, normal, &autodiff) * 2.0 + offsets.reshape(offset_shape))
        .detach()
        .require_grad();
    let gamma = Tensor::<1>::random([channels], normal, &autodiff).require_grad();
    let beta = Tensor::<1>::random([channels], normal, &autodiff).require_grad();
    let dy = Tensor::<D>::random(shape, normal, &autodiff);
    let epsilon = 1e-5;

    let result = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), epsilon);
    let grads = (result.output.clone() * dy.clone()).sum().backward();
    let want = reference(
        &values(&x),
        &values(&gamma),
        &values(&beta),
        &values(&dy),
        (shape[0], channels, inner),
        epsilon,
    );
    let got = [
        ("output", values(&result.output), &want.output),
        ("mean", values(&result.mean), &want.mean),
        ("variance", values(&result.variance), &want.variance),
        (
            "input gradient",
            values(&x.grad(&grads).unwrap()),
            &want.x_grad,
        ),
        (
            "gamma gradient",
            values(&gamma.grad(&grads).unwrap()),
            &want.gamma_grad,
        ),
        (
            "beta gradient",
            values(&beta.grad(&grads).unwrap()),
            &want.beta_grad,
        ),
    ];
    got.into_iter()
        .filter_map(|(what, got, want)| {
            let error = relative_error(&got, want);
            (error.is_nan() || error >= 2e-5)
                .then(|| format!("{what} of {shape:?}: relative error {error:e}"))
        })
        .collect()
}

#[test]
fn training_batch_norm_equals_direct_loops() {
    let mut failures = Vec::new();
    failures.extend(check([5, 7, 9, 9], 1)); // 2,835 elements: one thread
    failures.extend(check([16, 64, 16, 16], 2)); // 262,144: channels in parallel
    failures.extend(check([3, 5, 4, 4], 3)); // 4×4 planes, a batch of 3
    failures.extend(check([33, 12], 4)); // rank 2: one value per channel and image
    failures.extend(check([4, 6, 10], 5)); // rank 3
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
