//! 3×3, stride-1 2D convolutions by Winograd's minimal filtering algorithm F(2×2, 3×3)
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//!
//! Each 2×2 block of output pixels (a tile) is computed from the 4×4 block of input pixels
//! under it: with `U = G·g·Gᵀ` the 4×4 transform of each 3×3 filter `g` and `V = Bᵀ·d·B` that
//! of each input block `d`, the tile is `Aᵀ·(Σ_ci U[co, ci] ⊙ V[ci])·A`. For each of the 16
//! positions ξ of the transformed block, the sum over input channels is one GEMM,
//! `M_ξ = U_ξ · V_ξ` (`C_out × C_in` times `C_in × tiles`), so the GEMMs do 16 multiply-adds
//! per tile and channel pair where im2col does 36: 2.25× fewer. The transforms only add and
//! halve (`G`, `B` and `A` hold 0, ±1 and ½), and they replace the im2col copy, which writes
//! nine values per input value where the input transform writes four.
//!
//! The weight gradient goes the same way ([`weight_grad`]): `Gᵀ·(Σ_tiles (A·δ·Aᵀ) ⊙ V)·G`, the sum
//! over tiles one GEMM per ξ. The transforms are written for the compiler to vectorise along
//! rows of tiles, and compiled per instruction set (macerator's dispatch under `simd`).
//!
//! ResNet-18 spends about 88 % of its multiply-adds in such convolutions; BENCHMARKS.md
//! ("eleventh session") has the measurements. Images go through in runs sharing their GEMMs
//! (at least [`MIN_TILES`] tiles), runs in parallel; f32 and f64. The transforms add up to
//! four values before and after the products, so the rounding differs from im2col's; the
//! trainer's `conv_gradients` test holds both to 1e-5 of a direct f64 convolution.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Add, AddAssign, Mul, Range, Sub};

use super::conv2d_gemm::{Geometry, for_each_chunk, gemm, sum_of_shares, threads};

/// The element types the transforms compute in.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
}

/// Below this many channels on either side the 16 GEMMs reduce over too few values (or write
/// too few rows) to beat im2col's single GEMM, which reduces over nine times the channels.
const MIN_CHANNELS: usize = 16;

/// The GEMMs' tiles per run: small images share them until a run holds this many (4×4 images
/// have 4 tiles each, too few for `gemm`'s widest kernels), larger ones go through in bands of
/// this many or a few more. ResNet-18's folded inference at batch 256 (`trainer bench`, one
/// build with this value read from the environment, BENCHMARKS.md): 16 → 203–204 img/s,
/// 32 → 201–204, 64 → 200–217, 256 without bands → 173–176, one image per run (4 tiles on
/// 4×4) → 123–129; im2col 155.
const MIN_TILES: usize = 64;

/// Whether this convolution can go through [`forward`]: one group, a 3×3 kernel, stride 1, no
/// dilation, a leading padding of at most 2 (any output size: tiles reading outside the input
/// read zeros), and enough channels.
pub(crate) fn applies(geo: &Geometry) -> bool {
    geo.groups == 1
        && (geo.kh, geo.kw) == (3, 3)
        && geo.stride == [1, 1]
        && geo.dilation == [1, 1]
        && geo.padding[0] <= 2
        && geo.padding[1] <= 2
        && geo.c_in >= MIN_CHANNELS
        && geo.c_out >= MIN_CHANNELS
        && geo.oh > 0
        && geo.ow > 0
}

/// Where each ξ's matrix starts in the transformed blocks, for matrices of `len` values: a
/// cache line (of f32s) past the end of the previous one. Without the gap the 16 matrices lie
/// a power of two apart whenever the channels and tiles are powers of two (64 channels × 64
/// tiles: 16 KB), so a tile's 16 values fall in the same set of the level-1 cache, which
/// holds 8 or 12 of them: the 4×4 maps' input transform spent most of its time in those
/// writes (`perf annotate`).
fn xi_stride(len: usize) -> usize {
    len + 16
}

/// Tiles per image, down and across.
fn tiles(geo: &Geometry) -> (usize, usize) {
    (geo.oh.div_ceil(2), geo.ow.div_ceil(2))
}

/// `U = G·g·Gᵀ` for every filter, as 16 matrices `U_ξ` (`C_out × C_in`, row-major), ξ = 4·row +
/// column of the transformed block. `G` = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
fn transform_filters<T: Real>(geo: &Geometry, weight: &[T]) -> Vec<T> {
    let pairs = geo.c_out * geo.c_in;
    let mut u = vec![T::ZERO; 16 * pairs];
    let g_rows = |a: T, b: T, c: T| [a, T::HALF * (a + b + c), T::HALF * (a - b + c), c];
    for (pair, g) in weight.chunks_exact(9).enumerate() {
        // G·g: 4×3, one column of g at a time.
        let mut gg = [[T::ZERO; 3]; 4];
        for col in 0..3 {
            let column = g_rows(g[col], g[3 + col], g[6 + col]);
            for row in 0..4 {
                gg[row][col] = column[row];
            }
        }
        // (G·g)·Gᵀ: each row of G·g through G.
        for (row, r) in gg.iter().enumerate() {
            for (col, v) in g_rows(r[0], r[1], r[2]).into_iter().enumerate() {
                u[(4 * row + col) * pairs + pair] = v;
            }
        }
    }
    u
}

/// `V_ξ` for a run of images: 16 matrices of `C_in × columns` (row-major, tile `t` of image `b`
/// in column `b·tiles_per_image + t`), `V = Bᵀ·d·B` for each 4×4 input block `d`, with
/// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
///
/// Written so that the compiler vectorises it along rows of tiles: each channel's zero-padded
/// plane is held as its even and its odd columns (`planes`), so that tile `tx`'s four columns
/// are entries `tx` and `tx + 1` of both, and each ξ of a row of tiles is one contiguous run.
/// Under the `simd` feature macerator compiles it once per instruction set (AVX-512, AVX2, …)
/// and picks one at run time: built for the baseline x86-64 it ran four floats at a time at
/// best, and one at a time where a row read every other column.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn transform_inputs<#[cfg(feature = "simd")] S: macerator::Simd, T: Real>(
    geo: &Geometry,
    x_images: &[T],
    band: Range<usize>,
    v: &mut [T],
    columns: usize,
    planes: &mut Vec<T>,
) {
    // The common tile counts as constants, so that the short rows of small maps (2 or 4 tiles
    // on 4×4 and 8×8) unroll instead of looping.
    match tiles(geo).1 {
        2 => transform_inputs_for(2, geo, x_images, band, v, columns, planes),
        4 => transform_inputs_for(4, geo, x_images, band, v, columns, planes),
        8 => transform_inputs_for(8, geo, x_images, band, v, columns, planes),
        16 => transform_inputs_for(16, geo, x_images, band, v, columns, planes),
        tw => transform_inputs_for(tw, geo, x_images, band, v, columns, planes),
    }
}

/// [`transform_inputs`] for `tw` tiles across.
#[inline(always)]
fn transform_inputs_for<T: Real>(
    tw: usize,
    geo: &Geometry,
    x_images: &[T],
    band: Range<usize>,
    v: &mut [T],
    columns: usize,
    planes: &mut Vec<T>,
) {
    let rows = band.len();
    // The band's rows of the padded plane (2 per row of tiles, and the 2 below the last), each
    // 2·tw + 2 wide: `hw` even and `hw` odd columns.
    let (ph, hw) = (2 * rows + 2, tw + 1);
    let plane_len = 2 * ph * hw;
    // Channel by channel, every image of the run: the loops then write each row of `V_ξ` (one
    // channel's tiles, image after image) in one stretch, where images outermost wrote it in
    // pieces of a few tiles far apart in time, and the writes missed the cache (half the time
    // of the 4×4 maps' transform). And each channel's images are all split into their planes
    // before any is read back: reading values just written, by loads that straddle the
    // stores, stalls (store-to-load forwarding fails).
    let images = x_images.len() / geo.image_in();
    planes.clear();
    planes.resize(images * plane_len, T::ZERO);
    let plane = geo.h * geo.w;
    let xi_stride = xi_stride(geo.c_in * columns);
    let p1 = geo.padding[1];
    // Input columns inside the padded width; the padded planes' other columns stay zero, and
    // so do their rows outside the input, for every channel and image.
    let cols_in = geo.w.min(2 * hw - p1);
    let first_row = (2 * band.start) as isize - geo.padding[0] as isize;
    let rows_in =
        (-first_row).max(0) as usize..(geo.h as isize - first_row).clamp(0, ph as isize) as usize;
    for ci in 0..geo.c_in {
        for (image, planes) in x_images
            .chunks_exact(geo.image_in())
            .zip(planes.chunks_exact_mut(plane_len))
        {
            let x = &image[ci * plane..][..plane];
            let (even, odd) = planes.split_at_mut(ph * hw);
            for r in rows_in.clone() {
                let src = &x[(first_row + r as isize) as usize * geo.w..][..cols_in];
                deinterleave(src, p1, &mut even[r * hw..][..hw], &mut odd[r * hw..][..hw]);
            }
        }
        for (b, planes) in planes.chunks_exact(plane_len).enumerate() {
            let (even, odd) = planes.split_at(ph * hw);
            let row_base = ci * columns + b * rows * tw;
            for ty in 0..rows {
                let (e, o) = (
                    &even[2 * ty * hw..][..4 * hw],
                    &odd[2 * ty * hw..][..4 * hw],
                );
                let v = &mut v[row_base + ty * tw..];
                let row = |k: usize| (&e[k * hw..][..hw], &o[k * hw..][..hw]);
                // Bᵀ's rows, d0 − d2, d1 + d2, d2 − d1 and d1 − d3, into ξ = 4i..4i + 4.
                for (i, (a, b, add)) in [(0, 2, false), (1, 2, true), (2, 1, false), (1, 3, false)]
                    .into_iter()
                    .enumerate()
                {
                    let ((ea, oa), (eb, ob)) = (row(a), row(b));
                    let (v0, rest) = v[4 * i * xi_stride..].split_at_mut(xi_stride);
                    let (v1, rest) = rest.split_at_mut(xi_stride);
                    let (v2, v3) = rest.split_at_mut(xi_stride);
                    input_row(add, ea, eb, oa, ob, v0, v1, v2, v3, tw);
                }
            }
        }
    }
}

/// Input row `src`, which starts at column `p1` of the padded row, into that row's `even` and
/// `odd` columns.
#[inline(always)]
fn deinterleave<T: Copy>(src: &[T], p1: usize, even: &mut [T], odd: &mut [T]) {
    // `src[j]` is padded column j + p1: its even-indexed values land in one plane and its
    // odd-indexed ones in the other, which of the two depending on p1's parity.
    let (first, second, at) = if p1 % 2 == 0 {
        (even, odd, [p1 / 2, p1 / 2])
    } else {
        (odd, even, [p1 / 2, p1 / 2 + 1])
    };
    let pairs = src.len() / 2;
    let (first, second) = (&mut first[at[0]..], &mut second[at[1]..]);
    for ((f, s), pair) in first[..pairs]
        .iter_mut()
        .zip(&mut second[..pairs])
        .zip(src.chunks_exact(2))
    {
        *f = pair[0];
        *s = pair[1];
    }
    if src.len() % 2 == 1 {
        first[pairs] = src[src.len() - 1];
    }
}

/// One row of `Bᵀ·d·B` for a row of `tw` tiles: `t = d_a ± d_b` down the plane (`e*` and `o*`
/// the even and odd columns of rows `a` and `b`), then `B` across each tile's four columns,
/// t[2tx..2tx + 4] = (e[tx], o[tx], e[tx + 1], o[tx + 1]), into that row's four ξ.
///
/// Every slice is its own argument so that the compiler knows they do not overlap, which it
/// needs to vectorise the loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_row<T: Real>(
    add: bool,
    ea: &[T],
    eb: &[T],
    oa: &[T],
    ob: &[T],
    v0: &mut [T],
    v1: &mut [T],
    v2: &mut [T],
    v3: &mut [T],
    tw: usize,
) {
    let (ea, eb, oa, ob) = (&ea[..tw + 1], &eb[..tw + 1], &oa[..tw + 1], &ob[..tw + 1]);
    let (v0, v1, v2, v3) = (&mut v0[..tw], &mut v1[..tw], &mut v2[..tw], &mut v3[..tw]);
    for tx in 0..tw {
        let (e0, e1, o0, o1) = if add {
            (
                ea[tx] + eb[tx],
                ea[tx + 1] + eb[tx + 1],
                oa[tx] + ob[tx],
                oa[tx + 1] + ob[tx + 1],
            )
        } else {
            (
                ea[tx] - eb[tx],
                ea[tx + 1] - eb[tx + 1],
                oa[tx] - ob[tx],
                oa[tx + 1] - ob[tx + 1],
            )
        };
        v0[tx] = e0 - e1;
        v1[tx] = o0 + e1;
        v2[tx] = e1 - o0;
        v3[tx] = o0 - o1;
    }
}

/// `Y = Aᵀ·M·A` for a run of images, plus the bias; Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]. Row
/// by row of tiles, vectorised along the row like [`transform_inputs`]: each tile reads its
/// 16 ξ at the same column of `m` and writes a 2×2 block of `Y`.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn transform_outputs<'a, #[cfg(feature = "simd")] S: macerator::Simd, T: Real>(
    geo: &Geometry,
    m: &[T],
    band: Range<usize>,
    bias: Option<&'a [T]>,
    y_images: &mut [T],
    columns: usize,
) {
    match tiles(geo).1 {
        2 => transform_outputs_for(2, geo, m, band, bias, y_images, columns),
        4 => transform_outputs_for(4, geo, m, band, bias, y_images, columns),
        8 => transform_outputs_for(8, geo, m, band, bias, y_images, columns),
        16 => transform_outputs_for(16, geo, m, band, bias, y_images, columns),
        tw => transform_outputs_for(tw, geo, m, band, bias, y_images, columns),
    }
}

/// [`transform_outputs`] for `tw` tiles across.
#[inline(always)]
fn transform_outputs_for<T: Real>(
    tw: usize,
    geo: &Geometry,
    m: &[T],
    band: Range<usize>,
    bias: Option<&[T]>,
    y_images: &mut [T],
    columns: usize,
) {
    let rows = band.len();
    let (oh, ow) = (geo.oh, geo.ow);
    let plane = oh * ow;
    let xi_stride = xi_stride(geo.c_out * columns);
    // Aᵀ·M for one row of tiles: s[r][j][tx], r = output row within the tile, j = column of ξ.
    let mut s = vec![T::ZERO; 8 * tw];
    // Channel by channel, every image: each row of `M_ξ` is read in one stretch (see
    // [`transform_inputs`]).
    for co in 0..geo.c_out {
        let offset = bias.map_or(T::ZERO, |bias| bias[co]);
        for (b, image) in y_images.chunks_exact_mut(geo.image_out()).enumerate() {
            let y = &mut image[co * plane..][..plane];
            let row_base = co * columns + b * rows * tw;
            for ty in band.clone() {
                let m = &m[row_base + (ty - band.start) * tw..];
                let (s0, s1) = s.split_at_mut(4 * tw);
                for (j, (s0, s1)) in s0
                    .chunks_exact_mut(tw)
                    .zip(s1.chunks_exact_mut(tw))
                    .enumerate()
                {
                    let at = |i: usize| &m[(4 * i + j) * xi_stride..][..tw];
                    output_column(at(0), at(1), at(2), at(3), s0, s1);
                }
                for r in 0..2 {
                    let oy = 2 * ty + r;
                    if oy >= oh {
                        break;
                    }
                    let sr = &s[4 * r * tw..][..4 * tw];
                    let (c0, rest) = sr.split_at(tw);
                    let (c1, rest) = rest.split_at(tw);
                    let (c2, c3) = rest.split_at(tw);
                    output_row(c0, c1, c2, c3, offset, &mut y[oy * ow..][..ow]);
                }
            }
        }
    }
}

/// `Aᵀ` down column `j` of ξ for a row of tiles: from ξ = j, 4 + j, 8 + j, 12 + j (`m0`…`m3`)
/// the tile's two rows `s0` and `s1`. Separate slices so that the compiler vectorises it.
#[inline(always)]
fn output_column<T: Real>(m0: &[T], m1: &[T], m2: &[T], m3: &[T], s0: &mut [T], s1: &mut [T]) {
    let n = s0.len();
    let (m0, m1, m2, m3, s1) = (&m0[..n], &m1[..n], &m2[..n], &m3[..n], &mut s1[..n]);
    for tx in 0..n {
        s0[tx] = m0[tx] + m1[tx] + m2[tx];
        s1[tx] = m1[tx] - m2[tx] - m3[tx];
    }
}

/// `A` across one output row of tiles (`c0`…`c3` its four columns of `Aᵀ·M`), plus `offset`:
/// two outputs per tile, the last one alone where the width is odd.
#[inline(always)]
fn output_row<T: Real>(c0: &[T], c1: &[T], c2: &[T], c3: &[T], offset: T, out: &mut [T]) {
    let pairs = out.len() / 2;
    let (a0, a1, a2, a3) = (&c0[..pairs], &c1[..pairs], &c2[..pairs], &c3[..pairs]);
    for (tx, pair) in out[..2 * pairs].chunks_exact_mut(2).enumerate() {
        pair[0] = a0[tx] + a1[tx] + a2[tx] + offset;
        pair[1] = a1[tx] - a2[tx] - a3[tx] + offset;
    }
    if out.len() % 2 == 1 {
        out[2 * pairs] = c0[pairs] + c1[pairs] + c2[pairs] + offset;
    }
}

/// One run of images: input transform, the 16 GEMMs, output transform. A single image goes
/// through in bands of rows of tiles (at least [`MIN_TILES`] tiles each), so that its
/// transformed input and output stay small enough for the cache: a whole 32×32 image with 64
/// channels would make 2 MB of them.
fn forward_images<T: Real>(
    geo: &Geometry,
    u: &[T],
    bias: Option<&[T]>,
    x_images: &[T],
    y_images: &mut [T],
    (v, m, planes): (&mut Vec<T>, &mut Vec<T>, &mut Vec<T>),
    parallel: bool,
) {
    let (th, tw) = tiles(geo);
    let images = x_images.len() / geo.image_in();
    let band_rows = if images == 1 {
        MIN_TILES.div_ceil(tw).min(th)
    } else {
        th
    };
    for start in (0..th).step_by(band_rows) {
        let band = start..(start + band_rows).min(th);
        let columns = images * band.len() * tw;
        let (v_stride, m_stride) = (
            xi_stride(geo.c_in * columns),
            xi_stride(geo.c_out * columns),
        );
        v.resize(16 * v_stride, T::ZERO);
        m.resize(16 * m_stride, T::ZERO);
        transform_inputs::<T>(geo, x_images, band.clone(), v, columns, planes);
        let (u_len, v_len, m_len) = (
            geo.c_out * geo.c_in,
            geo.c_in * columns,
            geo.c_out * columns,
        );
        for xi in 0..16 {
            gemm(
                [geo.c_out, columns, geo.c_in],
                &mut m[xi * m_stride..][..m_len],
                false,
                (&u[xi * u_len..][..u_len], 1, geo.c_in as isize),
                (&v[xi * v_stride..][..v_len], 1, columns as isize),
                T::ONE,
                parallel,
            );
        }
        transform_outputs::<T>(geo, m, band, bias, y_images, columns);
    }
}

/// The convolution of `x` (`[B, C_in, H, W]`) with `weight` (`[C_out, C_in, 3, 3]`) plus the
/// bias, as `[B, C_out, Ho, Wo]`, for the geometries [`applies`] accepts.
pub(crate) fn forward<T: Real>(
    geo: &Geometry,
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
) -> Vec<T> {
    let u = transform_filters(geo, weight);
    let mut y = vec![T::ZERO; geo.batch * geo.image_out()];
    let (th, tw) = tiles(geo);
    let threads = threads();
    let wanted = MIN_TILES.div_ceil(th * tw);
    let run = wanted.min(geo.batch / threads.max(1)).max(1);
    for_each_chunk(
        geo.batch,
        (&mut y, run * geo.image_out()),
        (x, run * geo.image_in()),
        || (Vec::new(), Vec::new(), Vec::new()),
        |(v, m, planes), y_images, x_images, parallel| {
            forward_images(geo, &u, bias, x_images, y_images, (v, m, planes), parallel)
        },
    );
    y
}

/// `Z = A·δ·Aᵀ` for each 2×2 block `δ` of the output gradient (zero outside it), A = (Aᵀ)ᵀ with
/// Aᵀ as in [`transform_outputs`]: 16 matrices of `C_out × columns` in the layout of
/// [`transform_inputs`]' `V`. The adjoint of the output transform, vectorised the same way.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn transform_output_grads<#[cfg(feature = "simd")] S: macerator::Simd, T: Real>(
    geo: &Geometry,
    dy_images: &[T],
    band: Range<usize>,
    z: &mut [T],
    columns: usize,
    halves: &mut Vec<T>,
) {
    match tiles(geo).1 {
        2 => transform_output_grads_for(2, geo, dy_images, band, z, columns, halves),
        4 => transform_output_grads_for(4, geo, dy_images, band, z, columns, halves),
        8 => transform_output_grads_for(8, geo, dy_images, band, z, columns, halves),
        16 => transform_output_grads_for(16, geo, dy_images, band, z, columns, halves),
        tw => transform_output_grads_for(tw, geo, dy_images, band, z, columns, halves),
    }
}

/// [`transform_output_grads`] for `tw` tiles across.
#[inline(always)]
fn transform_output_grads_for<T: Real>(
    tw: usize,
    geo: &Geometry,
    dy_images: &[T],
    band: Range<usize>,
    z: &mut [T],
    columns: usize,
    halves: &mut Vec<T>,
) {
    let rows = band.len();
    let (oh, ow) = (geo.oh, geo.ow);
    let plane = oh * ow;
    let xi_stride = xi_stride(geo.c_out * columns);
    // Each channel's gradient rows in the band, as their even and odd columns (the odd ones'
    // last entry stays zero where the width is odd, rows below the map stay zero): channel by
    // channel, every image split before any is read back, as in [`transform_inputs`].
    let row_len = 2 * tw;
    let image_len = 2 * rows * row_len;
    let images = dy_images.len() / geo.image_out();
    halves.clear();
    halves.resize(images * image_len, T::ZERO);
    let first_row = 2 * band.start;
    let rows_in = first_row..(first_row + 2 * rows).min(oh);
    for co in 0..geo.c_out {
        for (image, halves) in dy_images
            .chunks_exact(geo.image_out())
            .zip(halves.chunks_exact_mut(image_len))
        {
            let dy = &image[co * plane..][..plane];
            for oy in rows_in.clone() {
                let (even, odd) = halves[(oy - first_row) * row_len..][..row_len].split_at_mut(tw);
                deinterleave(&dy[oy * ow..][..ow], 0, even, odd);
            }
        }
        for (b, halves) in halves.chunks_exact(image_len).enumerate() {
            let row_base = co * columns + b * rows * tw;
            for ty in 0..rows {
                let pair = &halves[2 * ty * row_len..][..2 * row_len];
                let (e0, rest) = pair.split_at(tw);
                let (o0, rest) = rest.split_at(tw);
                let (e1, o1) = rest.split_at(tw);
                let z = &mut z[row_base + ty * tw..];
                for i in 0..4 {
                    let (z0, rest) = z[4 * i * xi_stride..].split_at_mut(xi_stride);
                    let (z1, rest) = rest.split_at_mut(xi_stride);
                    let (z2, z3) = rest.split_at_mut(xi_stride);
                    output_grad_row(i, e0, o0, e1, o1, z0, z1, z2, z3, tw);
                }
            }
        }
    }
}

/// Row `i` of `Z = A·δ·Aᵀ` for a row of tiles, δ = [[a, b], [c, d]] with a, b from the top
/// gradient row's even and odd columns (`e0`, `o0`) and c, d from the bottom one's: A·δ has
/// rows (a, b), (a + c, b + d), (a − c, b − d) and (−c, −d), and each row (p, q) times Aᵀ is
/// (p, p + q, p − q, −q).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_grad_row<T: Real>(
    i: usize,
    e0: &[T],
    o0: &[T],
    e1: &[T],
    o1: &[T],
    z0: &mut [T],
    z1: &mut [T],
    z2: &mut [T],
    z3: &mut [T],
    tw: usize,
) {
    let (e0, o0, e1, o1) = (&e0[..tw], &o0[..tw], &e1[..tw], &o1[..tw]);
    let (z0, z1, z2, z3) = (&mut z0[..tw], &mut z1[..tw], &mut z2[..tw], &mut z3[..tw]);
    for tx in 0..tw {
        let (p, q) = match i {
            0 => (e0[tx], o0[tx]),
            1 => (e0[tx] + e1[tx], o0[tx] + o1[tx]),
            2 => (e0[tx] - e1[tx], o0[tx] - o1[tx]),
            _ => (T::ZERO - e1[tx], T::ZERO - o1[tx]),
        };
        z0[tx] = p;
        z1[tx] = p + q;
        z2[tx] = p - q;
        z3[tx] = T::ZERO - q;
    }
}

/// The weight gradient of the convolutions [`applies`] accepts, `[C_out, C_in, 3, 3]`.
///
/// The forward computes each tile as `Aᵀ·(U ⊙ V)·A` with `U = G·g·Gᵀ`, so the gradient with
/// respect to `U` is `Σ_tiles (A·δ·Aᵀ) ⊙ V` and that with respect to `g` is `Gᵀ·∂U·G`
/// (Lavin and Gray 2015, section 4). Per ξ the sum over tiles is one GEMM,
/// `∂U_ξ = Z_ξ · V_ξᵀ` (`C_out × tiles` times `tiles × C_in`), 16 multiply-adds per tile and
/// channel pair where the im2col weight gradient does 36; the transforms replace its
/// channels-last copy and im2col. Each thread sums its share of the batch into its own `∂U`.
pub(crate) fn weight_grad<T: Real>(geo: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let dw_u = sum_of_shares(geo, x, dy, |x, dy, parallel| {
        weight_grad_share(geo, x, dy, parallel)
    });
    filter_grads(geo, &dw_u)
}

/// `∂U` (16 matrices `C_out × C_in`) from the images `x` and their output gradients `dy`, in
/// runs of images (or bands of one image's rows of tiles) sized so that `V` and `Z` together
/// stay near 512 KB, the GEMMs reducing over at least 64 tiles at a time.
fn weight_grad_share<T: Real>(geo: &Geometry, x: &[T], dy: &[T], parallel: bool) -> Vec<T> {
    let (th, tw) = tiles(geo);
    let pairs = geo.c_out * geo.c_in;
    let mut dw_u = vec![T::ZERO; 16 * pairs];
    let wanted = (8192 / (geo.c_in + geo.c_out)).max(64);
    let run = (wanted / (th * tw)).max(1);
    let band_rows = if run == 1 {
        wanted.div_ceil(tw).min(th)
    } else {
        th
    };
    let (mut v, mut z, mut planes, mut halves) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let images = x.len() / geo.image_in();
    let mut first = true;
    for start in (0..images).step_by(run) {
        let count = run.min(images - start);
        let x_run = &x[start * geo.image_in()..][..count * geo.image_in()];
        let dy_run = &dy[start * geo.image_out()..][..count * geo.image_out()];
        for band_start in (0..th).step_by(band_rows) {
            let band = band_start..(band_start + band_rows).min(th);
            let columns = count * band.len() * tw;
            let (v_stride, z_stride) = (
                xi_stride(geo.c_in * columns),
                xi_stride(geo.c_out * columns),
            );
            v.resize(16 * v_stride, T::ZERO);
            z.resize(16 * z_stride, T::ZERO);
            transform_inputs::<T>(geo, x_run, band.clone(), &mut v, columns, &mut planes);
            transform_output_grads::<T>(geo, dy_run, band, &mut z, columns, &mut halves);
            let (v_len, z_len) = (geo.c_in * columns, geo.c_out * columns);
            for xi in 0..16 {
                gemm(
                    [geo.c_out, geo.c_in, columns],
                    &mut dw_u[xi * pairs..][..pairs],
                    !first,
                    (&z[xi * z_stride..][..z_len], 1, columns as isize),
                    // V_ξᵀ: element (tile t, input channel c) is V_ξ[c·columns + t].
                    (&v[xi * v_stride..][..v_len], columns as isize, 1),
                    T::ONE,
                    parallel,
                );
            }
            first = false;
        }
    }
    dw_u
}

/// `Gᵀ·∂U·G` for every channel pair: the `[C_out, C_in, 3, 3]` weight gradient from `∂U`.
/// G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]], as in [`transform_filters`].
fn filter_grads<T: Real>(geo: &Geometry, dw_u: &[T]) -> Vec<T> {
    let pairs = geo.c_out * geo.c_in;
    let mut dw = vec![T::ZERO; 9 * pairs];
    // Gᵀ applied to four values: (a + ½(b + c), ½(b − c), ½(b + c) + d).
    let gt = |a: T, b: T, c: T, d: T| {
        [
            a + T::HALF * (b + c),
            T::HALF * (b - c),
            T::HALF * (b + c) + d,
        ]
    };
    for (pair, g) in dw.chunks_exact_mut(9).enumerate() {
        let at = |row: usize, col: usize| dw_u[(4 * row + col) * pairs + pair];
        // Gᵀ·∂U: 3×4, one column of ∂U at a time.
        let mut q = [[T::ZERO; 4]; 3];
        for col in 0..4 {
            let column = gt(at(0, col), at(1, col), at(2, col), at(3, col));
            for row in 0..3 {
                q[row][col] = column[row];
            }
        }
        // (Gᵀ·∂U)·G: each row through Gᵀ.
        for (row, r) in q.iter().enumerate() {
            g[3 * row..3 * row + 3].copy_from_slice(&gt(r[0], r[1], r[2], r[3]));
        }
    }
    dw
}

/// The element types [`super::conv2d_gemm`]'s forward can hand to [`forward`]; f16 keeps
/// im2col (its rounding would grow with the transforms' additions).
pub(crate) trait Winograd: Sized {
    /// Whether [`Winograd::winograd`] can ever answer (so that callers can choose a
    /// formulation that pays off only with it).
    const AVAILABLE: bool;

    /// The convolution by [`forward`], or `None` where it does not apply.
    fn winograd(
        geo: &Geometry,
        x: &[Self],
        weight: &[Self],
        bias: Option<&[Self]>,
    ) -> Option<Vec<Self>>;

    /// The weight gradient by [`weight_grad`], or `None` where it does not apply.
    fn winograd_weight_grad(geo: &Geometry, x: &[Self], dy: &[Self]) -> Option<Vec<Self>>;
}

impl<T: Real> Winograd for T {
    const AVAILABLE: bool = true;

    fn winograd(geo: &Geometry, x: &[T], weight: &[T], bias: Option<&[T]>) -> Option<Vec<T>> {
        applies(geo).then(|| forward(geo, x, weight, bias))
    }

    fn winograd_weight_grad(geo: &Geometry, x: &[T], dy: &[T]) -> Option<Vec<T>> {
        applies(geo).then(|| weight_grad(geo, x, dy))
    }
}

impl Winograd for burn_std::f16 {
    const AVAILABLE: bool = false;

    fn winograd(_: &Geometry, _: &[Self], _: &[Self], _: Option<&[Self]>) -> Option<Vec<Self>> {
        None
    }

    fn winograd_weight_grad(_: &Geometry, _: &[Self], _: &[Self]) -> Option<Vec<Self>> {
        None
    }
}
