//! Reading tensors back for comparisons with loops written in the tests.

use burn::prelude::*;

/// The tensor's values, widened to f64.
pub fn values<const D: usize>(tensor: &Tensor<D>) -> Vec<f64> {
    tensor
        .to_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Largest |a − b| relative to the largest |b| (gradients are sums of many terms: an
/// elementwise relative error would judge the cancellations, not the kernel).
pub fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}
