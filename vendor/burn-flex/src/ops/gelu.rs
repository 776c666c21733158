//! GELU and its gradient for f32, the activation of many small vision nets and of transformers.
//!
//! The generic elementwise path calls libm's `erff` once per element on one thread; `erff` is a
//! branchy scalar routine, so GELU cost as much as a small convolution. Here `erf` is Eigen's
//! rational approximation (`generic_fast_erf_float`, max absolute error about 1e-7, below f32's
//! resolution near ±1), which has no branches and compiles to SIMD, and large tensors are split
//! across threads. f64 keeps libm's `erf`.

use alloc::vec;

use burn_backend::DType;
use burn_std::Bytes;
#[cfg(not(feature = "std"))]
#[allow(unused_imports)]
use num_traits::Float;

use crate::{FlexTensor, Layout};

/// Element count above which the work is split across threads: each element costs about twenty
/// floating-point operations, so the split pays off far below the generic threshold.
#[cfg(feature = "rayon")]
const PARALLEL_ELEMENTS: usize = 32 * 1024;
#[cfg(feature = "rayon")]
const CHUNK: usize = 8 * 1024;

/// `erf(x)` for f32: odd numerator of degree 13 over an even denominator of degree 8 in `x`,
/// with `x` clamped to [-4, 4] (beyond, `erf` rounds to ±1 in f32). Plain multiply-adds, not
/// `mul_add`, which is a libm call on targets without FMA.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_15e-5_f32;
    q = q * x2 - 2.133_740_5e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_3e-3;
    q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU of one f32 value (also the generic path's, for views).
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_f32(x * FRAC_1_SQRT_2))
}

/// `exp(t)` for f32 `t ≤ 0`, the Gaussian density's factor in GELU's gradient: libm's `expf`
/// is a scalar call, which kept the gradient loop from vectorising (it took four times the
/// forward pass). Cephes' `expf` scheme without branches: `t = n·ln 2 + r` with `|r| ≤ ln 2 / 2`,
/// `n` rounded by adding 1.5·2²³ (the integer then sits in the low mantissa bits), `e^r` by its
/// degree-7 minimax polynomial (relative error about 1e-7) and `2^n` built from its exponent
/// bits. `t` is clamped to −87, where `e^t` is still a normal f32 (about 1.6e-38).
#[inline(always)]
fn exp_nonpositive_f32(t: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    // ln 2 in two parts: the first has few mantissa bits, so `n · LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let t = t.clamp(-87.0, 0.0);
    let shifted = t * core::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = t - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_2e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e_r = p * (r * r) + r + 1.0;
    let exponent = shifted.to_bits().wrapping_sub(SHIFT.to_bits()) as i32 + 127;
    e_r * f32::from_bits((exponent as u32) << 23)
}

/// `g · GELU'(x)` for one f32 value (also the generic path's, for views and broadcasting).
#[inline(always)]
pub(crate) fn gelu_grad(x: f32, g: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf_f32(x * FRAC_1_SQRT_2));
    let pdf = FRAC_1_SQRT_2PI * exp_nonpositive_f32(-0.5 * x * x);
    g * (cdf + x * pdf)
}

/// Whether the tensor's elements are exactly its buffer, in order.
fn is_dense(tensor: &FlexTensor) -> bool {
    tensor.layout().is_contiguous()
        && tensor.layout().start_offset() == 0
        && tensor.storage::<f32>().len() == tensor.layout().num_elements()
}

/// GELU of a dense f32 tensor: in place when the tensor is unique, else into a new buffer (as
/// in training, where autodiff keeps the input for the backward pass). `Err` gives the tensor
/// back when its layout is not handled here (the caller's generic path takes it).
pub fn gelu_f32(mut tensor: FlexTensor) -> Result<FlexTensor, FlexTensor> {
    if tensor.dtype() != DType::F32 || !is_dense(&tensor) {
        return Err(tensor);
    }
    if tensor.is_unique() {
        map_in_place(tensor.storage_mut());
        return Ok(tensor);
    }
    let src: &[f32] = tensor.storage();
    let mut out = vec![0.0f32; src.len()];
    #[cfg(feature = "rayon")]
    if out.len() >= PARALLEL_ELEMENTS {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(out, src)| map_into(out, src));
    } else {
        map_into(&mut out, src);
    }
    #[cfg(not(feature = "rayon"))]
    map_into(&mut out, src);
    Ok(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(tensor.layout().shape().clone()),
        DType::F32,
    ))
}

fn map_in_place(data: &mut [f32]) {
    #[cfg(feature = "rayon")]
    if data.len() >= PARALLEL_ELEMENTS {
        use rayon::prelude::*;
        data.par_chunks_mut(CHUNK)
            .for_each(|chunk| chunk.iter_mut().for_each(|x| *x = gelu(*x)));
        return;
    }
    data.iter_mut().for_each(|x| *x = gelu(*x));
}

fn map_into(out: &mut [f32], src: &[f32]) {
    for (o, &x) in out.iter_mut().zip(src) {
        *o = gelu(x);
    }
}

/// `grad · GELU'(x)` for f32 tensors of the same shape, both dense; `Err` gives both back
/// otherwise (broadcasting and views take the caller's generic path).
pub fn gelu_backward_f32(
    x: FlexTensor,
    grad: FlexTensor,
) -> Result<FlexTensor, (FlexTensor, FlexTensor)> {
    if x.dtype() != DType::F32
        || grad.dtype() != DType::F32
        || x.layout().shape() != grad.layout().shape()
        || !is_dense(&x)
        || !is_dense(&grad)
    {
        return Err((x, grad));
    }
    let xs: &[f32] = x.storage();
    let gs: &[f32] = grad.storage();
    let mut out = vec![0.0f32; xs.len()];
    #[cfg(feature = "rayon")]
    if out.len() >= PARALLEL_ELEMENTS {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK)))
            .for_each(|(out, (xs, gs))| fill_grad(out, xs, gs));
    } else {
        fill_grad(&mut out, xs, gs);
    }
    #[cfg(not(feature = "rayon"))]
    fill_grad(&mut out, xs, gs);
    Ok(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(x.layout().shape().clone()),
        DType::F32,
    ))
}

fn fill_grad(out: &mut [f32], xs: &[f32], gs: &[f32]) {
    for ((o, &x), &g) in out.iter_mut().zip(xs).zip(gs) {
        *o = gelu_grad(x, g);
    }
}
