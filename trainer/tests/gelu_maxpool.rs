//! The CPU backend's GELU and 2×2 max pooling (the patched burn-flex under `vendor/`: GELU with
//! a rational `erf`, split across threads; 2×2 stride-2 pooling without per-window bounds
//! arithmetic) against plain loops in f64, forward and backward through Burn's autodiff as
//! training takes them. Sizes reach the serial and the parallel paths.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::gelu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

mod common;

use common::tensors::values;

fn tensor(xs: &[f64], shape: [usize; 4], device: &Device) -> Tensor<4> {
    let xs: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(xs, shape), device)
}

fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// erf by its Taylor series (exact to ~1e-9 for |x| ≤ 4, where the terms stay below 5e6);
/// beyond, erf is ±1 within 1.6e-8.
fn erf(x: f64) -> f64 {
    if x.abs() > 4.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn gelu_ref(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn gelu_grad_ref(x: f64) -> f64 {
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2)) + x * pdf
}

/// Largest |got − want| / max(1, |x|): f32 GELU carries about 1e-7 of `erf`'s error times |x|.
fn worst(got: &[f64], want: &[f64], xs: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .zip(xs)
        .map(|((g, w), x)| (g - w).abs() / x.abs().max(1.0))
        .fold(0.0, f64::max)
}

#[test]
fn erf_reference_matches_known_values() {
    // Abramowitz & Stegun, table 7.1.
    for (x, want) in [
        (0.5, 0.520_499_877_8),
        (1.0, 0.842_700_792_9),
        (2.0, 0.995_322_265_0),
    ] {
        assert!((erf(x) - want).abs() < 1e-9, "erf({x}) = {}", erf(x));
    }
}

#[test]
fn gelu_forward_and_gradient_match_loops() {
    let device = Device::flex();
    device.seed(3);
    let autodiff = device.clone().autodiff();
    // 1,350 elements: one thread; 57,600: split across threads. With autodiff the input is
    // kept for the backward pass, so GELU writes a new buffer.
    for shape in [[2, 3, 15, 15], [4, 64, 15, 15]] {
        let mut xs = values(&Tensor::<4>::random(
            shape,
            Distribution::Normal(0.0, 3.0),
            &device,
        ));
        let special = [
            0.0, 1e-3, -1e-3, 0.7, -0.7, 4.0, -4.0, 6.0, -6.0, 12.0, -12.0, 80.0, -80.0,
        ];
        xs[..special.len()].copy_from_slice(&special);
        let x = tensor(&xs, shape, &autodiff).require_grad();
        let xs = values(&x); // the f32 values the backend sees
        let dy = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &autodiff);
        let y = gelu(x.clone());
        let grads = (y.clone() * dy.clone()).sum().backward();
        let dx = x.grad(&grads).expect("input gradient");

        let dys = values(&dy);
        let y_ref: Vec<f64> = xs.iter().map(|&x| gelu_ref(x)).collect();
        let dx_ref: Vec<f64> = xs
            .iter()
            .zip(&dys)
            .map(|(&x, &g)| g * gelu_grad_ref(x))
            .collect();
        // Inference: a tensor that owns its buffer alone is changed in place.
        let in_place = worst(&values(&gelu(tensor(&xs, shape, &device))), &y_ref, &xs);
        assert!(
            in_place < 2e-6,
            "GELU in place {shape:?}: error {in_place:e}"
        );
        let forward = worst(&values(&y), &y_ref, &xs);
        let backward = worst(&values(&dx), &dx_ref, &xs);
        assert!(forward < 2e-6, "GELU {shape:?}: error {forward:e}");
        assert!(
            backward < 2e-6,
            "GELU gradient {shape:?}: error {backward:e}"
        );

        // A transposed view (not dense) takes the generic path: same values.
        let transposed = gelu(x.clone().inner().swap_dims(1, 3)).swap_dims(1, 3);
        let error = worst(&values(&transposed), &y_ref, &xs);
        assert!(error < 2e-6, "GELU of a view {shape:?}: error {error:e}");
        // Its gradient too: autodiff keeps the view, so the backward pass takes the generic path.
        let x_view = tensor(&xs, shape, &autodiff).require_grad();
        let y_view = gelu(x_view.clone().swap_dims(1, 3));
        let grads = (y_view * dy.clone().swap_dims(1, 3)).sum().backward();
        let dx_view = x_view.grad(&grads).expect("input gradient");
        let error = worst(&values(&dx_view), &dx_ref, &xs);
        assert!(
            error < 2e-6,
            "GELU gradient of a view {shape:?}: error {error:e}"
        );
    }
}

/// 2×2 windows at stride 2 in plain loops: the first maximum in row-major window order (what
/// PyTorch and the general path pick on ties), its value and its input index per output.
fn pool_ref(xs: &[f64], [b, c, h, w]: [usize; 4]) -> (Vec<f64>, Vec<usize>) {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = Vec::new();
    let mut arg = Vec::new();
    for plane in 0..b * c {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let index = plane * h * w + (2 * i + di) * w + 2 * j + dj;
                    if best.1 == usize::MAX || xs[index] > best.0 {
                        best = (xs[index], index);
                    }
                }
                out.push(best.0);
                arg.push(best.1);
            }
        }
    }
    (out, arg)
}

#[test]
fn max_pool_2x2_matches_loops_with_ties_and_odd_sizes() {
    let device = Device::flex();
    device.seed(5);
    let autodiff = device.clone().autodiff();
    // Odd sizes drop the last row and column; 131,072 outputs take the parallel path.
    for shape in [[3, 5, 31, 31], [1, 1, 2, 3], [8, 64, 32, 32]] {
        // Values on a grid of 0.25 in [-1, 1]: many windows hold ties.
        let xs: Vec<f64> = values(&Tensor::<4>::random(
            shape,
            Distribution::Uniform(-1.0, 1.0),
            &device,
        ))
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect();
        let (out_ref, arg_ref) = pool_ref(&xs, shape);

        // Inference (no autodiff).
        let y = pool(tensor(&xs, shape, &device));
        assert_eq!(values(&y), out_ref, "pooled values {shape:?}");

        // Training: the gradient goes to the chosen element of each window only.
        let x = tensor(&xs, shape, &autodiff).require_grad();
        let y = pool(x.clone());
        let dy = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &autodiff);
        let grads = (y.clone() * dy.clone()).sum().backward();
        let mut dx_ref = vec![0.0; xs.len()];
        for (&index, g) in arg_ref.iter().zip(values(&dy)) {
            dx_ref[index] += g;
        }
        assert_eq!(values(&y), out_ref, "pooled values with autodiff {shape:?}");
        let dx = values(&x.grad(&grads).expect("input gradient"));
        assert_eq!(dx, dx_ref, "pooling gradient {shape:?}");
    }
}

#[test]
fn max_pool_2x2_propagates_nan() {
    let device = Device::flex();
    let mut xs = vec![0.0f32; 16];
    xs[5] = f32::NAN; // window (0, 0) of the 4×4 plane: rows 0–1, columns 0–1
    xs[10] = 3.0; // window (1, 1)
    let x = Tensor::<4>::from_data(TensorData::new(xs, [1, 1, 4, 4]), &device);
    let y = values(&pool(x));
    assert!(y[0].is_nan(), "{y:?}");
    assert_eq!(&y[1..], &[0.0, 0.0, 3.0]);
}
