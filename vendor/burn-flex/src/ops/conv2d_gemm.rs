//! 2D convolution and its two backward passes as GEMMs over im2col columns in NCHW.
//!
//! Without the backward passes here, Burn's generic fallbacks run: the input gradient as a
//! transposed convolution and the weight gradient as a convolution over swapped tensors, which
//! on this backend means one small GEMM per image (or per input channel) with the output
//! gradient re-packed each time. Per image `b` and group `g`, with `col` the im2col of the input
//! (`C_in/g·kh·kw` rows × `Ho·Wo` columns, built straight from NCHW) and `dY[b, g]` the output
//! gradient (`C_out/g × Ho·Wo`):
//!
//! - forward: `Y[b, g] = W[g] · col[b, g]`, written in place into the NCHW output (the generic
//!   forward converts the input to NHWC, builds im2col tiles of 512 pixels and scatters each
//!   tile's result back to NCHW with strided writes); images in parallel. Used for single-group
//!   convolutions other than unstrided, unpadded 1×1 ones and the small-channel case, which keep
//!   their own fast paths. 3×3 stride-1 convolutions with enough channels go to Winograd's
//!   F(2×2, 3×3) instead (`conv2d_winograd.rs`);
//! - weight gradient: `dW[g] = Σ_b dY[b, g] · col[b, g]ᵀ`, with `col[b, g]ᵀ` built directly
//!   (pixel-major, from a channels-last copy of the image) because `gemm` is slow on the
//!   transposed view when channels are few. Threads take contiguous runs of images, accumulate
//!   their own partial `dW` (one GEMM per image, or per chunk of images on small feature maps,
//!   accumulating into the same destination) and the partials are summed at the end;
//! - input gradient: for stride-1, undilated, single-group convolutions on maps of 32×32 or
//!   more, the forward above applied to `dY` with the kernel flipped and its channel axes
//!   swapped (one GEMM reducing over `C_out·kh·kw`, no scatter). Otherwise
//!   `dcol = W[g]ᵀ · dY[b, g]`, scattered back into `dX[b]` (col2im); from 32 channels per
//!   group pixel-major instead (`dcolt = dY[b, g]ᵀ · W[g]`, scattered into a channels-last
//!   gradient that is then transposed), which is faster there. Images run in parallel, each
//!   writing only its own `dX[b]`.
//!
//! With fewer images than threads, the GEMMs themselves run in parallel instead. Any stride,
//! padding (asymmetric too: the output size is read from `dY`), dilation and group count;
//! f32, f64 and f16 through `gemm`, bf16 through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::{Bytes, Shape, f16};
use core::ops::AddAssign;

use super::conv2d_winograd::Winograd;
use crate::{FlexTensor, Layout};

/// The sizes of one 2D convolution, read from its input, weight and output gradient.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) c_in: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) c_out: usize,
    pub(crate) groups: usize,
    /// Input and output channels per group.
    pub(crate) group_in: usize,
    pub(crate) group_out: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) stride: [usize; 2],
    pub(crate) padding: [usize; 2],
    pub(crate) dilation: [usize; 2],
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Geometry {
    fn new(x: &[usize], weight: &[usize], output: &[usize], options: &ConvOptions<2>) -> Self {
        let groups = options.groups;
        Self {
            batch: x[0],
            c_in: x[1],
            h: x[2],
            w: x[3],
            c_out: weight[0],
            groups,
            group_in: weight[1],
            group_out: weight[0] / groups,
            kh: weight[2],
            kw: weight[3],
            stride: options.stride,
            padding: options.padding_begin(),
            dilation: options.dilation,
            oh: output[2],
            ow: output[3],
        }
    }

    /// Rows of one group's im2col matrix (and columns of its weight matrix).
    fn col_rows(&self) -> usize {
        self.group_in * self.kh * self.kw
    }

    fn spatial_out(&self) -> usize {
        self.oh * self.ow
    }

    pub(crate) fn image_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub(crate) fn image_out(&self) -> usize {
        self.c_out * self.spatial_out()
    }

    /// The output columns `ox` whose input column `ox·stride + kx·dilation − padding` lies
    /// inside the image, as a range, with the input column of the first one.
    fn valid(&self, axis: usize, k: usize, out: usize, size: usize) -> (usize, usize, usize) {
        let offset = (k * self.dilation[axis]) as isize - self.padding[axis] as isize;
        let stride = self.stride[axis] as isize;
        // Smallest o with o·stride + offset ≥ 0, and the end of those with o·stride + offset < size.
        let first = if offset >= 0 {
            0
        } else {
            ((-offset + stride - 1) / stride) as usize
        };
        let end = if (size as isize) <= offset {
            0
        } else {
            (((size as isize - offset) + stride - 1) / stride) as usize
        };
        let end = end.min(out);
        let first = first.min(end);
        let input = (first as isize * stride + offset).max(0) as usize;
        (first, end, input)
    }
}

/// Writes group `g` of image `x` (`[C_in, H, W]`) as im2col columns into `col`
/// (`col_rows × Ho·Wo`, row-major); padding reads as zero.
fn im2col<T: Copy>(geo: &Geometry, x: &[T], g: usize, col: &mut [T], zero: T) {
    let (n, plane) = (geo.spatial_out(), geo.h * geo.w);
    let mut row = 0;
    for ci in 0..geo.group_in {
        let x_plane = &x[(g * geo.group_in + ci) * plane..][..plane];
        for ky in 0..geo.kh {
            let (y0, y1, iy0) = geo.valid(0, ky, geo.oh, geo.h);
            for kx in 0..geo.kw {
                let (x0, x1, ix0) = geo.valid(1, kx, geo.ow, geo.w);
                let dst = &mut col[row * n..][..n];
                row += 1;
                dst[..y0 * geo.ow].fill(zero);
                dst[y1 * geo.ow..].fill(zero);
                for oy in y0..y1 {
                    let iy = iy0 + (oy - y0) * geo.stride[0];
                    let src = &x_plane[iy * geo.w..][..geo.w];
                    let out = &mut dst[oy * geo.ow..][..geo.ow];
                    out[..x0].fill(zero);
                    out[x1..].fill(zero);
                    if geo.stride[1] == 1 {
                        out[x0..x1].copy_from_slice(&src[ix0..ix0 + (x1 - x0)]);
                    } else {
                        for (k, o) in out[x0..x1].iter_mut().enumerate() {
                            *o = src[ix0 + k * geo.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds columns `col` of group `g` back into image `dx`.
fn col2im<T: Copy + AddAssign>(geo: &Geometry, col: &[T], g: usize, dx: &mut [T]) {
    let (n, plane) = (geo.spatial_out(), geo.h * geo.w);
    let mut row = 0;
    for ci in 0..geo.group_in {
        let dx_plane = &mut dx[(g * geo.group_in + ci) * plane..][..plane];
        for ky in 0..geo.kh {
            let (y0, y1, iy0) = geo.valid(0, ky, geo.oh, geo.h);
            for kx in 0..geo.kw {
                let (x0, x1, ix0) = geo.valid(1, kx, geo.ow, geo.w);
                let src = &col[row * n..][..n];
                row += 1;
                for oy in y0..y1 {
                    let iy = iy0 + (oy - y0) * geo.stride[0];
                    let dst = &mut dx_plane[iy * geo.w..][..geo.w];
                    let from = &src[oy * geo.ow..][x0..x1];
                    for (k, &v) in from.iter().enumerate() {
                        dst[ix0 + k * geo.stride[1]] += v;
                    }
                }
            }
        }
    }
}

/// `dst (m×n) = read·dst + lhs (m×k) · rhs (k×n)` with explicit (column, row) strides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<T: Copy + 'static>(
    [m, n, k]: [usize; 3],
    dst: &mut [T],
    read_dst: bool,
    lhs: (&[T], isize, isize),
    rhs: (&[T], isize, isize),
    one: T,
    parallel: bool,
) {
    let parallelism = if parallel {
        parallelism()
    } else {
        gemm::Parallelism::None
    };
    debug_assert!(dst.len() >= m * n);
    // SAFETY: the callers pass slices covering every element the strides reach: `dst` is
    // m×n row-major; `lhs` and `rhs` are slices of whole matrices laid out by these strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            read_dst,
            lhs.0.as_ptr(),
            lhs.1,
            lhs.2,
            rhs.0.as_ptr(),
            rhs.1,
            rhs.2,
            one,
            one,
            false,
            false,
            false,
            parallelism,
        );
    }
}

fn parallelism() -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    {
        gemm::Parallelism::Rayon(0)
    }
    #[cfg(not(feature = "rayon"))]
    {
        gemm::Parallelism::None
    }
}

pub(crate) fn threads() -> usize {
    #[cfg(feature = "rayon")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "rayon"))]
    {
        1
    }
}

/// Runs `work(scratch, out_chunk, in_chunk, parallel_gemm)` over matching chunks of `out` and
/// `input` (`out_len` and `in_len` elements each: one image, or a run of images). With one
/// thread, or fewer images than threads, the chunks go one after another on this thread with
/// one scratch and the GEMMs inside run in parallel; otherwise the chunks run in parallel, each
/// rayon worker with its own scratch from `scratch`, and the GEMMs single-threaded.
pub(crate) fn for_each_chunk<T, S>(
    batch: usize,
    (out, out_len): (&mut [T], usize),
    (input, in_len): (&[T], usize),
    scratch: impl Fn() -> S + Send + Sync,
    work: impl Fn(&mut S, &mut [T], &[T], bool) + Send + Sync,
) where
    T: Send + Sync,
{
    let threads = threads();
    if threads <= 1 || batch < threads {
        let mut buffers = scratch();
        for (out_chunk, in_chunk) in out.chunks_mut(out_len).zip(input.chunks(in_len)) {
            work(&mut buffers, out_chunk, in_chunk, true);
        }
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(out_len)
            .zip(input.par_chunks(in_len))
            .for_each_init(scratch, |buffers, (out_chunk, in_chunk)| {
                work(buffers, out_chunk, in_chunk, false)
            });
    }
    #[cfg(not(feature = "rayon"))]
    unreachable!("one thread without rayon")
}

/// Writes the row-major `rows × cols` matrix `src` transposed into `dst` (`cols × rows`), in
/// 16×16 blocks so that both sides stay in cache. Images go channels-last and back with it
/// (`[C, H·W]` ↔ `[H·W, C]`), and weights between their layout and the tap-major one.
fn transpose<T: Copy>(rows: usize, cols: usize, src: &[T], dst: &mut [T]) {
    const BLOCK: usize = 16;
    for r0 in (0..rows).step_by(BLOCK) {
        for c0 in (0..cols).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(rows) {
                let run = &src[r * cols..][c0..(c0 + BLOCK).min(cols)];
                for (k, &v) in run.iter().enumerate() {
                    dst[(c0 + k) * rows + r] = v;
                }
            }
        }
    }
}

/// Transposes each output channel's `rows × cols` block of a weight-shaped `[C_out, rows·cols]`.
fn transpose_per_output<T: Copy>(rows: usize, cols: usize, weight: &[T], zero: T) -> Vec<T> {
    let mut out = vec![zero; weight.len()];
    for (src, dst) in weight
        .chunks_exact(rows * cols)
        .zip(out.chunks_exact_mut(rows * cols))
    {
        transpose(rows, cols, src, dst);
    }
    out
}

/// Writes group `g` of the channels-last image `nhwc` as pixel-major im2col rows into
/// `colt` (`Ho·Wo × col_rows`, row-major), each pixel's row ordered (ky, kx, channel) so that
/// every kernel tap is one contiguous copy of the group's channels; padding reads as zero.
///
/// This is the transpose of [`im2col`] with its rows permuted. The weight gradient needs the
/// columns as the right-hand side of `dY · colᵀ`, and `gemm` runs about ten times slower on a
/// right-hand side whose reduction axis is contiguous (what [`im2col`]'s layout gives) than on
/// a row-major one when the channels are few: 10 against 111 GFLOP/s for 16 channels on
/// 32×32, 47 against 114 for 32 on 16×16 (one core; the trainer's `examples/gemm_layouts.rs`,
/// BENCHMARKS.md).
fn im2col_pixels<T: Copy>(geo: &Geometry, nhwc: &[T], g: usize, colt: &mut [T], zero: T) {
    let rows = geo.col_rows();
    let gin = geo.group_in;
    for oy in 0..geo.oh {
        let iy0 = (oy * geo.stride[0]) as isize - geo.padding[0] as isize;
        for ox in 0..geo.ow {
            let ix0 = (ox * geo.stride[1]) as isize - geo.padding[1] as isize;
            let dst = &mut colt[(oy * geo.ow + ox) * rows..][..rows];
            for ky in 0..geo.kh {
                let iy = iy0 + (ky * geo.dilation[0]) as isize;
                for kx in 0..geo.kw {
                    let ix = ix0 + (kx * geo.dilation[1]) as isize;
                    let tap = &mut dst[(ky * geo.kw + kx) * gin..][..gin];
                    if iy < 0 || iy >= geo.h as isize || ix < 0 || ix >= geo.w as isize {
                        tap.fill(zero);
                    } else {
                        let pixel = (iy as usize * geo.w + ix as usize) * geo.c_in + g * gin;
                        tap.copy_from_slice(&nhwc[pixel..][..gin]);
                    }
                }
            }
        }
    }
}

/// The weight gradient's GEMMs reduce over at least this many output pixels: on small feature
/// maps several images share one GEMM. Each GEMM reads and writes all of `dW` (9.4 MB for a
/// 512→512 3×3 convolution), which with one 4×4 image per GEMM cost more than the products.
const WEIGHT_GRAD_MIN_PIXELS: usize = 256;

/// One thread's share of the weight gradient: `Σ` over `images` (a run of whole images of
/// `x` and `dy`) of `dY[b, g] · colt[b, g]`, as `[C_out, kh, kw, C_in/g]` (the tap-major order
/// of [`im2col_pixels`]; [`weight_backward_typed`] reorders the sum). Images go through the
/// GEMM in chunks of at least [`WEIGHT_GRAD_MIN_PIXELS`] pixels: their `colt` stacked, their
/// `dY[b, g]` packed side by side.
fn weight_grad_partial<T: Copy + 'static>(
    geo: &Geometry,
    x: &[T],
    dy: &[T],
    zero: T,
    one: T,
    parallel: bool,
) -> Vec<T> {
    let (rows, n, gout) = (geo.col_rows(), geo.spatial_out(), geo.group_out);
    let (image_in, image_out) = (geo.image_in(), geo.image_out());
    let images = x.len() / image_in;
    let chunk = WEIGHT_GRAD_MIN_PIXELS.div_ceil(n).clamp(1, images.max(1));
    let mut dw = vec![zero; geo.c_out * rows];
    let mut nhwc = vec![zero; chunk * image_in];
    let mut colt = vec![zero; chunk * n * rows];
    let mut dy_packed = vec![zero; if chunk > 1 { gout * chunk * n } else { 0 }];
    for (index, start) in (0..images).step_by(chunk).enumerate() {
        let count = chunk.min(images - start);
        let k = count * n;
        for j in 0..count {
            let x_image = &x[(start + j) * image_in..][..image_in];
            transpose(
                geo.c_in,
                geo.h * geo.w,
                x_image,
                &mut nhwc[j * image_in..][..image_in],
            );
        }
        for g in 0..geo.groups {
            for j in 0..count {
                let nhwc_image = &nhwc[j * image_in..][..image_in];
                im2col_pixels(geo, nhwc_image, g, &mut colt[j * n * rows..], zero);
            }
            let first_output = start * image_out + g * gout * n;
            let lhs = if count == 1 {
                &dy[first_output..]
            } else {
                // Row `o` of the packed matrix: channel `g·gout + o` of each image in turn.
                for o in 0..gout {
                    for j in 0..count {
                        let src = &dy[first_output + j * image_out + o * n..][..n];
                        dy_packed[o * k + j * n..][..n].copy_from_slice(src);
                    }
                }
                &dy_packed[..]
            };
            gemm(
                [gout, rows, k],
                &mut dw[g * gout * rows..][..gout * rows],
                index > 0,
                (lhs, 1, k as isize),
                (&colt, 1, rows as isize),
                one,
                parallel,
            );
        }
    }
    dw
}

/// Reorders a weight gradient from the tap-major `[C_out, kh, kw, C_in/g]` of
/// [`weight_grad_partial`] to the weight's `[C_out, C_in/g, kh, kw]`.
fn taps_to_weight_order<T: Copy>(geo: &Geometry, tap_major: &[T], zero: T) -> Vec<T> {
    transpose_per_output(geo.kh * geo.kw, geo.group_in, tap_major, zero)
}

fn weight_backward_typed<T>(geo: &Geometry, x: &[T], dy: &[T], zero: T, one: T) -> Vec<T>
where
    T: Copy + Send + Sync + AddAssign + Winograd + 'static,
{
    if let Some(dw) = T::winograd_weight_grad(geo, x, dy) {
        return dw;
    }
    let sum = sum_of_shares(geo, x, dy, |x, dy, parallel| {
        weight_grad_partial(geo, x, dy, zero, one, parallel)
    });
    taps_to_weight_order(geo, &sum, zero)
}

/// `share(x, dy, parallel_gemm)` over the batch split into one run of images per thread, the
/// runs' results summed: a weight gradient's per-thread partial sums. With one thread, or fewer
/// images than threads, one share on this thread with the GEMMs inside in parallel.
pub(crate) fn sum_of_shares<T>(
    geo: &Geometry,
    x: &[T],
    dy: &[T],
    share: impl Fn(&[T], &[T], bool) -> Vec<T> + Send + Sync,
) -> Vec<T>
where
    T: Copy + Send + Sync + AddAssign,
{
    let threads = threads();
    if threads <= 1 || geo.batch < threads {
        return share(x, dy, true);
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let per_thread = geo.batch.div_ceil(threads);
        x.par_chunks(per_thread * geo.image_in())
            .zip(dy.par_chunks(per_thread * geo.image_out()))
            .map(|(x, dy)| share(x, dy, false))
            .reduce_with(|mut sum, partial| {
                for (s, p) in sum.iter_mut().zip(partial) {
                    *s += p;
                }
                sum
            })
            .expect("at least one image")
    }
    #[cfg(not(feature = "rayon"))]
    unreachable!("one thread without rayon")
}

/// `dX[b]` of one image from its output gradient, channel-major: `dcol = W[g]ᵀ · dY[b, g]`,
/// then [`col2im`] adds it into `dx_image`, which must start at zero.
fn input_grad_image<T: Copy + AddAssign + 'static>(
    geo: &Geometry,
    weight: &[T],
    dy_image: &[T],
    dx_image: &mut [T],
    dcol: &mut [T],
    one: T,
    parallel: bool,
) {
    let (rows, n) = (geo.col_rows(), geo.spatial_out());
    for g in 0..geo.groups {
        gemm(
            [rows, n, geo.group_out],
            dcol,
            false,
            // W[g]ᵀ: element (row r, output channel o) is W[g][o·rows + r].
            (&weight[g * geo.group_out * rows..], rows as isize, 1),
            (&dy_image[g * geo.group_out * n..], 1, n as isize),
            one,
            parallel,
        );
        col2im(geo, dcol, g, dx_image);
    }
}

/// From this many input channels per group, the input gradient goes pixel-major
/// ([`input_grad_image_pixels`]). GEMM plus scatter for one image on one core: about even at 32
/// channels on 16×16, 1.11× faster at 64 on 8×8, 1.17× at 64 on 15×15, 1.27× at 192 on 7×7,
/// 1.33× at 128 on 4×4; with 16 or 24 channels the per-tap additions of a few channels make it
/// slower than [`col2im`] (0.57× and 0.94×). Measured with the trainer's
/// `examples/gemm_layouts.rs` (BENCHMARKS.md).
const PIXEL_MAJOR_MIN_CHANNELS: usize = 32;

/// The weight reordered from `[C_out, C_in/g, kh, kw]` to the tap-major `[C_out, kh, kw, C_in/g]`
/// of [`im2col_pixels`]' rows (the inverse of [`taps_to_weight_order`]).
fn weight_to_tap_order<T: Copy>(geo: &Geometry, weight: &[T], zero: T) -> Vec<T> {
    transpose_per_output(geo.group_in, geo.kh * geo.kw, weight, zero)
}

/// The adjoint of [`im2col_pixels`]: adds pixel-major columns `dcolt` of group `g` into the
/// channels-last image gradient `nhwc`, each kernel tap as one run of the group's channels.
fn col2im_pixels<T: Copy + AddAssign>(geo: &Geometry, dcolt: &[T], g: usize, nhwc: &mut [T]) {
    let rows = geo.col_rows();
    let gin = geo.group_in;
    for oy in 0..geo.oh {
        let iy0 = (oy * geo.stride[0]) as isize - geo.padding[0] as isize;
        for ox in 0..geo.ow {
            let ix0 = (ox * geo.stride[1]) as isize - geo.padding[1] as isize;
            let src = &dcolt[(oy * geo.ow + ox) * rows..][..rows];
            for ky in 0..geo.kh {
                let iy = iy0 + (ky * geo.dilation[0]) as isize;
                if iy < 0 || iy >= geo.h as isize {
                    continue;
                }
                for kx in 0..geo.kw {
                    let ix = ix0 + (kx * geo.dilation[1]) as isize;
                    if ix < 0 || ix >= geo.w as isize {
                        continue;
                    }
                    let pixel = (iy as usize * geo.w + ix as usize) * geo.c_in + g * gin;
                    let tap = &src[(ky * geo.kw + kx) * gin..][..gin];
                    for (d, &v) in nhwc[pixel..][..gin].iter_mut().zip(tap) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `dX[b]` of one image, pixel-major: `dcolt = dY[b, g]ᵀ · W[g]` (with `weight_taps` from
/// [`weight_to_tap_order`]), added into a channels-last gradient by [`col2im_pixels`], then
/// transposed into `dX[b]`. Both GEMM operands are read along their natural strides and the
/// scatter adds whole runs of channels.
#[allow(clippy::too_many_arguments)]
fn input_grad_image_pixels<T: Copy + AddAssign + 'static>(
    geo: &Geometry,
    weight_taps: &[T],
    dy_image: &[T],
    dx_image: &mut [T],
    dcolt: &mut [T],
    nhwc: &mut [T],
    zero: T,
    one: T,
    parallel: bool,
) {
    let (rows, n) = (geo.col_rows(), geo.spatial_out());
    nhwc.fill(zero);
    for g in 0..geo.groups {
        gemm(
            [n, rows, geo.group_out],
            dcolt,
            false,
            // dY[b, g]ᵀ: element (pixel p, output channel o) is dY[b, g][o·n + p].
            (&dy_image[g * geo.group_out * n..], n as isize, 1),
            (&weight_taps[g * geo.group_out * rows..], 1, rows as isize),
            one,
            parallel,
        );
        col2im_pixels(geo, dcolt, g, nhwc);
    }
    transpose(geo.h * geo.w, geo.c_in, nhwc, dx_image);
}

/// The input gradient goes through [`input_grad_as_forward`] from feature maps of this many
/// pixels (32×32). In `trainer bench --profile` (BENCHMARKS.md, "eighth session") the narrow
/// net's 16→16 input gradient on 32×32 maps took 10.6–10.7 ms a step that way against
/// 18.5–20.0 with col2im, ResNet-18's 64→64 on 32×32 111–115 ms against 133–136 pixel-major.
/// Smaller maps keep the scatters: there the forward is not faster than the input gradient
/// (the profile's own rows for 64 to 512 channels on 16×16 to 3×3), and the one build that
/// took this path on them (with a pixel-major forward, not kept) was 1.2–2.0× slower on the fast
/// net's layers from 31×31 down to 3×3. Where Winograd takes that forward (3×3, at least 16
/// channels each side, f32 and f64) every map size goes through it: BENCHMARKS.md, "eleventh
/// session".
const AS_FORWARD_MIN_PIXELS: usize = 1024;

/// The geometry of the input gradient as a forward convolution of `dY`, for stride-1,
/// undilated, single-group convolutions with a kernel larger than 1×1, a leading padding
/// smaller than the kernel, and either at least [`AS_FORWARD_MIN_PIXELS`] input pixels or a
/// forward that Winograd takes (`winograd`: the element type has it):
/// `dX[ci, y, x] = Σ W[co, ci, ky, kx] · dY[co, y + p − ky, x + p − kx]` is the convolution of
/// `dY` with the kernel flipped in both axes and its channel axes swapped, leading padding
/// `k − 1 − p`, output size `H × W`. `None` for the others.
///
/// Its GEMM reduces over `C_out·kh·kw` and writes `dX` once, where the col2im formulations
/// reduce over `C_out` only, write `kh·kw` values per input value and add them back.
fn input_grad_as_forward(geo: &Geometry, winograd: bool) -> Option<Geometry> {
    let supported = geo.groups == 1
        && geo.stride == [1, 1]
        && geo.dilation == [1, 1]
        && geo.kh * geo.kw > 1
        && geo.padding[0] < geo.kh
        && geo.padding[1] < geo.kw;
    if !supported {
        return None;
    }
    let forward = Geometry {
        batch: geo.batch,
        c_in: geo.c_out,
        h: geo.oh,
        w: geo.ow,
        c_out: geo.c_in,
        groups: 1,
        group_in: geo.c_out,
        group_out: geo.c_in,
        kh: geo.kh,
        kw: geo.kw,
        stride: [1, 1],
        padding: [geo.kh - 1 - geo.padding[0], geo.kw - 1 - geo.padding[1]],
        dilation: [1, 1],
        oh: geo.h,
        ow: geo.w,
    };
    let worth = geo.h * geo.w >= AS_FORWARD_MIN_PIXELS
        || (winograd && super::conv2d_winograd::applies(&forward));
    worth.then_some(forward)
}

/// The kernel of [`input_grad_as_forward`]: `W'[ci, co, ky, kx] = W[co, ci, kh−1−ky, kw−1−kx]`.
/// Reversing a channel pair's row-major `kh × kw` taps flips both axes at once.
fn flipped_kernel<T: Copy>(geo: &Geometry, weight: &[T], zero: T) -> Vec<T> {
    let taps = geo.kh * geo.kw;
    let mut flipped = vec![zero; weight.len()];
    for co in 0..geo.c_out {
        for ci in 0..geo.c_in {
            let src = &weight[(co * geo.c_in + ci) * taps..][..taps];
            let dst = &mut flipped[(ci * geo.c_out + co) * taps..][..taps];
            for (d, &s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = s;
            }
        }
    }
    flipped
}

fn input_backward_typed<T>(geo: &Geometry, weight: &[T], dy: &[T], zero: T, one: T) -> Vec<T>
where
    T: Copy + Send + Sync + AddAssign + Winograd + 'static,
{
    if let Some(forward) = input_grad_as_forward(geo, T::AVAILABLE) {
        let kernel = flipped_kernel(geo, weight, zero);
        return forward_typed(&forward, dy, &kernel, None, zero, one);
    }
    // Zeroed: the channel-major path adds into it.
    let mut dx = vec![zero; geo.batch * geo.image_in()];
    let dcol_len = geo.col_rows() * geo.spatial_out();
    let pixel_major = geo.group_in >= PIXEL_MAJOR_MIN_CHANNELS;
    let weight_taps = if pixel_major {
        weight_to_tap_order(geo, weight, zero)
    } else {
        Vec::new()
    };
    let scratch = || {
        let nhwc_len = if pixel_major { geo.image_in() } else { 0 };
        (vec![zero; dcol_len], vec![zero; nhwc_len])
    };
    let image = |(dcol, nhwc): &mut (Vec<T>, Vec<T>), dx_image: &mut [T], dy_image: &[T], par| {
        if pixel_major {
            input_grad_image_pixels(
                geo,
                &weight_taps,
                dy_image,
                dx_image,
                dcol,
                nhwc,
                zero,
                one,
                par,
            );
        } else {
            input_grad_image(geo, weight, dy_image, dx_image, dcol, one, par);
        }
    };
    for_each_chunk(
        geo.batch,
        (&mut dx, geo.image_in()),
        (dy, geo.image_out()),
        scratch,
        image,
    );
    dx
}

/// `Y[b]` of one image: `W[g] · col[b, g]` per group, plus the bias.
#[allow(clippy::too_many_arguments)]
fn forward_image<T: Copy + AddAssign + 'static>(
    geo: &Geometry,
    weight: &[T],
    bias: Option<&[T]>,
    x_image: &[T],
    y_image: &mut [T],
    col: &mut [T],
    zero: T,
    one: T,
    parallel: bool,
) {
    let (rows, n) = (geo.col_rows(), geo.spatial_out());
    for g in 0..geo.groups {
        im2col(geo, x_image, g, col, zero);
        gemm(
            [geo.group_out, n, rows],
            &mut y_image[g * geo.group_out * n..][..geo.group_out * n],
            false,
            (&weight[g * geo.group_out * rows..], 1, rows as isize),
            (col, 1, n as isize),
            one,
            parallel,
        );
    }
    if let Some(bias) = bias {
        for (channel, &b) in y_image.chunks_mut(n).zip(bias) {
            channel.iter_mut().for_each(|v| *v += b);
        }
    }
}

fn forward_typed<T>(
    geo: &Geometry,
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    zero: T,
    one: T,
) -> Vec<T>
where
    T: Copy + Send + Sync + AddAssign + Winograd + 'static,
{
    if let Some(y) = T::winograd(geo, x, weight, bias) {
        return y;
    }
    let mut y = vec![zero; geo.batch * geo.image_out()];
    let col_len = geo.col_rows() * geo.spatial_out();
    for_each_chunk(
        geo.batch,
        (&mut y, geo.image_out()),
        (x, geo.image_in()),
        || vec![zero; col_len],
        |col, y_image, x_image, parallel| {
            forward_image(
                geo, weight, bias, x_image, y_image, col, zero, one, parallel,
            )
        },
    );
    y
}

/// Whether [`conv2d`] takes this convolution: one group, not the pointwise case the generic
/// forward multiplies directly (1×1, stride 1, no padding: `conv.rs`'s `is_1x1_conv`), f32 or
/// f64. The others keep the generic forward's own fast paths.
/// Strided 1×1 convolutions (ResNet shortcuts) come here: the generic forward sends them through
/// its tiled NHWC im2col, where the narrow net's 16→32 shortcut on 32×32 took 3.3–4.0 ms a step
/// for 8 M multiply-adds. So do convolutions of few channels (the generic forward's small-channel
/// case, at most 4 in and 16 out): the narrow net's 3→16 stem on 32×32 took 1.9–2.0 ms a step
/// there and 0.6–0.9 here (`trainer bench --profile`, BENCHMARKS.md, "twelfth session").
pub fn takes_conv2d(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let w_shape = weight.layout().shape();
    let pointwise = w_shape[2] * w_shape[3] == 1
        && options.stride == [1, 1]
        && options.padding_begin() == [0, 0];
    options.groups == 1 && !pointwise && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// A 2D convolution with symmetric padding, for the convolutions [`takes_conv2d`] accepts.
pub fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let bias = bias.map(|b| b.to_contiguous());
    let (x_shape, w_shape) = (contiguous_shape(&x), contiguous_shape(&weight));
    let padding = options.padding_begin();
    let out = [0, 1].map(|axis| {
        calculate_conv_output_size(
            w_shape[2 + axis],
            options.stride[axis],
            padding[axis],
            options.dilation[axis],
            x_shape[2 + axis],
        )
    });
    let y_shape = vec![x_shape[0], w_shape[0], out[0], out[1]];
    let geo = Geometry::new(&x_shape, &w_shape, &y_shape, options);
    match x.dtype() {
        DType::F32 => {
            let bias = bias.as_ref().map(|b| b.storage::<f32>());
            let y = forward_typed(&geo, x.storage::<f32>(), weight.storage(), bias, 0.0, 1.0);
            finish(y, y_shape, DType::F32, DType::F32)
        }
        DType::F64 => {
            let bias = bias.as_ref().map(|b| b.storage::<f64>());
            let y = forward_typed(&geo, x.storage::<f64>(), weight.storage(), bias, 0.0, 1.0);
            finish(y, y_shape, DType::F64, DType::F64)
        }
        dtype => panic!("conv2d: unsupported dtype {dtype:?}"),
    }
}

fn contiguous_shape(tensor: &FlexTensor) -> Vec<usize> {
    tensor.layout().shape().to_vec()
}

fn to_f32(tensor: FlexTensor) -> FlexTensor {
    match tensor.dtype() {
        DType::BF16 => super::conv_common::convert_bf16_to_f32(&tensor),
        _ => tensor,
    }
}

fn finish<T: bytemuck::Pod + Send + Sync>(
    data: Vec<T>,
    shape: Vec<usize>,
    dtype: DType,
    out: DType,
) -> FlexTensor {
    let tensor = FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        dtype,
    );
    if out == DType::BF16 {
        super::conv_common::convert_f32_to_bf16(&tensor)
    } else {
        tensor
    }
}

/// Gradient of a 2D convolution with respect to its weight.
pub fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let out_dtype = x.dtype();
    let (x, dy) = (
        to_f32(x).to_contiguous(),
        to_f32(output_grad).to_contiguous(),
    );
    let w_shape = contiguous_shape(&weight);
    let geo = Geometry::new(
        &contiguous_shape(&x),
        &w_shape,
        &contiguous_shape(&dy),
        options,
    );
    match x.dtype() {
        DType::F32 => {
            let dw = weight_backward_typed(&geo, x.storage::<f32>(), dy.storage(), 0.0, 1.0);
            finish(dw, w_shape, DType::F32, out_dtype)
        }
        DType::F64 => {
            let dw = weight_backward_typed(&geo, x.storage::<f64>(), dy.storage(), 0.0, 1.0);
            finish(dw, w_shape, DType::F64, out_dtype)
        }
        DType::F16 => {
            let dw =
                weight_backward_typed(&geo, x.storage::<f16>(), dy.storage(), f16::ZERO, f16::ONE);
            finish(dw, w_shape, DType::F16, out_dtype)
        }
        dtype => panic!("conv2d_weight_backward: unsupported dtype {dtype:?}"),
    }
}

/// Gradient of a 2D convolution with respect to its input.
pub fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let out_dtype = x.dtype();
    let x_shape = contiguous_shape(&x);
    let (weight, dy) = (
        to_f32(weight).to_contiguous(),
        to_f32(output_grad).to_contiguous(),
    );
    let geo = Geometry::new(
        &x_shape,
        &contiguous_shape(&weight),
        &contiguous_shape(&dy),
        options,
    );
    match weight.dtype() {
        DType::F32 => {
            let dx = input_backward_typed(&geo, weight.storage::<f32>(), dy.storage(), 0.0, 1.0);
            finish(dx, x_shape, DType::F32, out_dtype)
        }
        DType::F64 => {
            let dx = input_backward_typed(&geo, weight.storage::<f64>(), dy.storage(), 0.0, 1.0);
            finish(dx, x_shape, DType::F64, out_dtype)
        }
        DType::F16 => {
            let dx = input_backward_typed(
                &geo,
                weight.storage::<f16>(),
                dy.storage(),
                f16::ZERO,
                f16::ONE,
            );
            finish(dx, x_shape, DType::F16, out_dtype)
        }
        dtype => panic!("conv2d_x_backward: unsupported dtype {dtype:?}"),
    }
}
