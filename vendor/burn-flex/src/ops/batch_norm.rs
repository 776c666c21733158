//! Batch normalisation with the batch's own statistics (training) and its backward pass, fused
//! per channel.
//!
//! Burn's default `batch_norm_train` composes it from tensor operations: a transpose and a copy
//! to reduce over each channel, twice (mean, then variance), then four broadcast passes for the
//! output; its default backward takes about ten passes and two more transposes. In NCHW each
//! channel's values are `batch` runs of `H·W` contiguous elements, so here each channel is reduced
//! and written along those runs, channels in parallel: forward reads the input twice (mean, then
//! the centred variance) and writes the output once; backward reads the input and the output
//! gradient once for its two sums and once more to write the input gradient. Sums are
//! accumulated in f64 over eight independent lanes (so that they vectorise); f32 and f64 run
//! natively, f16 and bf16 through f32.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ops::{Add, Mul};

use burn_backend::Element;
use burn_std::{Bytes, Shape};
// Without `std`, compilers whose `core` lacks `f64::sqrt` take it from `num_traits` (libm); newer
// ones have it in `core` and leave the import unused (as in `activation.rs`).
#[cfg(not(feature = "std"))]
#[allow(unused_imports)]
use num_traits::Float;

use crate::{FlexTensor, Layout};

/// A float element computed here, with its f64 conversions.
pub trait Real:
    Element + bytemuck::Pod + Copy + Send + Sync + Add<Output = Self> + Mul<Output = Self>
{
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Real for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
}

/// Below this many elements the channels run on one thread.
#[cfg(feature = "rayon")]
const PARALLEL_ELEMENTS: usize = 64 * 1024;

const LANES: usize = 8;

/// Σ f(values[i]) in f64 over eight lanes.
#[inline(always)]
fn lane_sum<T: Real>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += f(value.to_f64());
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v.to_f64())).sum();
    lanes.iter().sum::<f64>() + tail
}

/// (Σ dy, Σ dy·(x − mean)) in f64 over eight lanes.
#[inline(always)]
fn lane_sums_2<T: Real>(dy: &[T], x: &[T], mean: f64) -> (f64, f64) {
    let mut sum = [0.0f64; LANES];
    let mut dot = [0.0f64; LANES];
    let mut dy_chunks = dy.chunks_exact(LANES);
    let mut x_chunks = x.chunks_exact(LANES);
    for (dy8, x8) in (&mut dy_chunks).zip(&mut x_chunks) {
        for lane in 0..LANES {
            let g = dy8[lane].to_f64();
            sum[lane] += g;
            dot[lane] += g * (x8[lane].to_f64() - mean);
        }
    }
    let mut tail = (0.0, 0.0);
    for (&g, &v) in dy_chunks.remainder().iter().zip(x_chunks.remainder()) {
        let g = g.to_f64();
        tail.0 += g;
        tail.1 += g * (v.to_f64() - mean);
    }
    (
        sum.iter().sum::<f64>() + tail.0,
        dot.iter().sum::<f64>() + tail.1,
    )
}

/// `[batch, channels, inner]` of a contiguous tensor of rank ≥ 2.
fn split_shape(shape: &Shape) -> (usize, usize, usize) {
    let dims = shape.as_slice();
    let inner = dims[2..].iter().product();
    (dims[0], dims[1], inner)
}

fn per_channel<T: Real>(values: &[f64]) -> FlexTensor {
    let values: Vec<T> = values.iter().map(|&v| T::from_f64(v)).collect();
    let channels = values.len();
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(vec![channels])),
        T::dtype(),
    )
}

fn values_f64<T: Real>(tensor: &FlexTensor) -> Vec<f64> {
    let tensor = tensor.to_contiguous();
    tensor.storage::<T>().iter().map(|v| v.to_f64()).collect()
}

/// The output runs of one channel: run `b` is `out[(b·channels + c)·inner ..][..inner]`.
/// Runs of different channels never overlap, so each channel can be written by its own task.
struct ChannelRuns<'a, T> {
    base: *mut T,
    channels: usize,
    inner: usize,
    channel: usize,
    _out: PhantomData<&'a mut [T]>,
}

impl<T> ChannelRuns<'_, T> {
    fn run(&mut self, b: usize) -> &mut [T] {
        // SAFETY: in bounds of the `[batch, channels, inner]` output (b < batch), disjoint from
        // every other channel's runs, and borrowed one at a time through `&mut self`.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.base
                    .add((b * self.channels + self.channel) * self.inner),
                self.inner,
            )
        }
    }
}

/// `f(channel, its output runs)` for every channel of the `[batch, channels, inner]` output,
/// channels in parallel when the tensor is large.
fn for_each_channel<T: Real, R: Send>(
    out: &mut [T],
    channels: usize,
    inner: usize,
    f: impl Fn(usize, ChannelRuns<'_, T>) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if out.len() >= PARALLEL_ELEMENTS && channels > 1 {
        use rayon::prelude::*;
        let ptr = crate::ops::SendMutPtr::new(out.as_mut_ptr());
        return (0..channels)
            .into_par_iter()
            .map(|channel| {
                // SAFETY: offset 0 of the output buffer.
                let base = unsafe { ptr.ptr_add(0) };
                f(
                    channel,
                    ChannelRuns {
                        base,
                        channels,
                        inner,
                        channel,
                        _out: PhantomData,
                    },
                )
            })
            .collect();
    }
    let base = out.as_mut_ptr();
    (0..channels)
        .map(|channel| {
            f(
                channel,
                ChannelRuns {
                    base,
                    channels,
                    inner,
                    channel,
                    _out: PhantomData,
                },
            )
        })
        .collect()
}

/// `(output, mean, biased variance)` of batch normalisation over `[batch, channels, ...]`.
pub fn batch_norm_train<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let (batch, channels, inner) = split_shape(&shape);
    let n = (batch * inner) as f64;
    let (gamma, beta) = (values_f64::<T>(&gamma), values_f64::<T>(&beta));
    let xs: &[T] = &x.storage::<T>()[..batch * channels * inner];
    let run = |b: usize, c: usize| &xs[(b * channels + c) * inner..][..inner];

    let mut out = vec![T::from_f64(0.0); xs.len()];
    let stats = for_each_channel(&mut out, channels, inner, |c, mut out_runs| {
        let mean = (0..batch).map(|b| lane_sum(run(b, c), |v| v)).sum::<f64>() / n;
        let variance = (0..batch)
            .map(|b| lane_sum(run(b, c), |v| (v - mean) * (v - mean)))
            .sum::<f64>()
            / n;
        let scale = gamma[c] / (variance + epsilon).sqrt();
        let (scale, shift) = (T::from_f64(scale), T::from_f64(beta[c] - mean * scale));
        for b in 0..batch {
            for (o, &v) in out_runs.run(b).iter_mut().zip(run(b, c)) {
                *o = v * scale + shift;
            }
        }
        (mean, variance)
    });
    let (mean, variance): (Vec<f64>, Vec<f64>) = stats.into_iter().unzip();
    (
        FlexTensor::new(
            Bytes::from_elems(out),
            Layout::contiguous(shape),
            T::dtype(),
        ),
        per_channel::<T>(&mean),
        per_channel::<T>(&variance),
    )
}

/// `(x_grad, gamma_grad, beta_grad)` of [`batch_norm_train`], given the statistics it returned.
pub fn batch_norm_train_backward<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let output_grad = output_grad.to_contiguous();
    let shape = x.layout().shape().clone();
    let (batch, channels, inner) = split_shape(&shape);
    let n = (batch * inner) as f64;
    let gamma = values_f64::<T>(&gamma);
    let (mean, variance) = (values_f64::<T>(&mean), values_f64::<T>(&variance));
    let len = batch * channels * inner;
    let xs: &[T] = &x.storage::<T>()[..len];
    let dys: &[T] = &output_grad.storage::<T>()[..len];
    let at = |b: usize, c: usize| (b * channels + c) * inner;

    let mut x_grad = vec![T::from_f64(0.0); len];
    let sums = for_each_channel(&mut x_grad, channels, inner, |c, mut out_runs| {
        let mean = mean[c];
        let inv_std = 1.0 / (variance[c] + epsilon).sqrt();
        let (mut sum_dy, mut sum_dy_centred) = (0.0, 0.0);
        for b in 0..batch {
            let (s, d) = lane_sums_2(&dys[at(b, c)..][..inner], &xs[at(b, c)..][..inner], mean);
            sum_dy += s;
            sum_dy_centred += d;
        }
        // dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) with x̂ = (x − μ)·σ⁻¹, as a·dy + b·x + c.
        let a = gamma[c] * inv_std;
        let b_coef = -a * inv_std * inv_std * sum_dy_centred / n;
        let c_coef = -a * sum_dy / n - b_coef * mean;
        let (a, b_coef, c_coef) = (T::from_f64(a), T::from_f64(b_coef), T::from_f64(c_coef));
        for b in 0..batch {
            let (dy, x) = (&dys[at(b, c)..][..inner], &xs[at(b, c)..][..inner]);
            for ((o, &g), &v) in out_runs.run(b).iter_mut().zip(dy).zip(x) {
                *o = a * g + b_coef * v + c_coef;
            }
        }
        (sum_dy_centred * inv_std, sum_dy)
    });
    let (gamma_grad, beta_grad): (Vec<f64>, Vec<f64>) = sums.into_iter().unzip();
    (
        FlexTensor::new(
            Bytes::from_elems(x_grad),
            Layout::contiguous(shape),
            T::dtype(),
        ),
        per_channel::<T>(&gamma_grad),
        per_channel::<T>(&beta_grad),
    )
}
