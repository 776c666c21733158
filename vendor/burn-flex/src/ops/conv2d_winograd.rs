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
//! ResNet-18 spends about 88 % of its multiply-adds in such convolutions; BENCHMARKS.md
//! ("eleventh session") has the measurements. Images go through in runs sharing their GEMMs
//! (at least [`MIN_TILES`] tiles), runs in parallel; f32 and f64. The transforms add up to
//! four values before and after the products, so the rounding differs from im2col's; the
//! trainer's `conv_gradients` test holds both to 1e-5 of a direct f64 convolution.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Add, Mul, Range, Sub};

use super::conv2d_gemm::{Geometry, for_each_chunk, gemm, threads};

/// The element types the transforms compute in.
pub(crate) trait Real:
    Copy + Send + Sync + 'static + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self>
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
/// Row-wise so that the loops run along contiguous memory: each channel is first copied into a
/// zero-padded plane (`padded`) covering every tile, then for each row of tiles `Bᵀ` combines
/// the four input rows under it across the whole width, and `B` combines each tile's four
/// columns, writing each ξ's values for the row of tiles as one contiguous run.
fn transform_inputs<T: Real>(
    geo: &Geometry,
    x_images: &[T],
    band: Range<usize>,
    v: &mut [T],
    columns: usize,
    padded: &mut Vec<T>,
) {
    let tw = tiles(geo).1;
    let rows = band.len();
    // The band's rows of the padded plane: 2 per row of tiles, and the 2 below the last.
    let (ph, pw) = (2 * rows + 2, 2 * tw + 2);
    padded.clear();
    padded.resize(ph * pw, T::ZERO);
    let plane = geo.h * geo.w;
    let xi_stride = geo.c_in * columns;
    // Columns of the padded plane that hold input values; the others stay zero.
    let p1 = geo.padding[1];
    let cols_in = geo.w.min(pw - p1);
    let first_row = (2 * band.start) as isize - geo.padding[0] as isize;
    let mut bt = vec![T::ZERO; 4 * pw];
    for (b, image) in x_images.chunks_exact(geo.image_in()).enumerate() {
        for ci in 0..geo.c_in {
            let x = &image[ci * plane..][..plane];
            for r in 0..ph {
                let dst = &mut padded[r * pw + p1..][..cols_in];
                let iy = first_row + r as isize;
                if iy >= 0 && (iy as usize) < geo.h {
                    dst.copy_from_slice(&x[iy as usize * geo.w..][..cols_in]);
                } else {
                    dst.fill(T::ZERO);
                }
            }
            let row_base = ci * columns + b * rows * tw;
            for ty in 0..rows {
                let (d0, d1, d2, d3) = (
                    &padded[2 * ty * pw..][..pw],
                    &padded[(2 * ty + 1) * pw..][..pw],
                    &padded[(2 * ty + 2) * pw..][..pw],
                    &padded[(2 * ty + 3) * pw..][..pw],
                );
                let (t0, rest) = bt.split_at_mut(pw);
                let (t1, rest) = rest.split_at_mut(pw);
                let (t2, t3) = rest.split_at_mut(pw);
                for k in 0..pw {
                    t0[k] = d0[k] - d2[k];
                    t1[k] = d1[k] + d2[k];
                    t2[k] = d2[k] - d1[k];
                    t3[k] = d1[k] - d3[k];
                }
                for (i, t) in bt.chunks_exact(pw).enumerate() {
                    let start = row_base + ty * tw;
                    let (v0, rest) = v[(4 * i) * xi_stride + start..].split_at_mut(xi_stride);
                    let (v1, rest) = rest.split_at_mut(xi_stride);
                    let (v2, v3) = rest.split_at_mut(xi_stride);
                    let (v0, v1, v2, v3) =
                        (&mut v0[..tw], &mut v1[..tw], &mut v2[..tw], &mut v3[..tw]);
                    for tx in 0..tw {
                        let c = &t[2 * tx..2 * tx + 4];
                        v0[tx] = c[0] - c[2];
                        v1[tx] = c[1] + c[2];
                        v2[tx] = c[2] - c[1];
                        v3[tx] = c[1] - c[3];
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ·M·A` for a run of images, plus the bias; Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]. Row
/// by row of tiles, like [`transform_inputs`]: `Aᵀ` combines the four rows of ξ along the
/// contiguous run of the row's tiles, then `A` each tile's four columns.
fn transform_outputs<T: Real>(
    geo: &Geometry,
    m: &[T],
    band: Range<usize>,
    bias: Option<&[T]>,
    y_images: &mut [T],
    columns: usize,
) {
    let tw = tiles(geo).1;
    let rows = band.len();
    let (oh, ow) = (geo.oh, geo.ow);
    let plane = oh * ow;
    let xi_stride = geo.c_out * columns;
    // Aᵀ·M for one row of tiles: s[r][j][tx], r = output row within the tile, j = column of ξ.
    let mut s = vec![T::ZERO; 8 * tw];
    for (b, image) in y_images.chunks_exact_mut(geo.image_out()).enumerate() {
        for co in 0..geo.c_out {
            let y = &mut image[co * plane..][..plane];
            let offset = bias.map_or(T::ZERO, |bias| bias[co]);
            let row_base = co * columns + b * rows * tw;
            for ty in band.clone() {
                let start = row_base + (ty - band.start) * tw;
                for j in 0..4 {
                    let at = |i: usize| &m[(4 * i + j) * xi_stride + start..][..tw];
                    let (m0, m1, m2, m3) = (at(0), at(1), at(2), at(3));
                    let (s0, s1) = s.split_at_mut(4 * tw);
                    let (s0, s1) = (&mut s0[j * tw..][..tw], &mut s1[j * tw..][..tw]);
                    for tx in 0..tw {
                        s0[tx] = m0[tx] + m1[tx] + m2[tx];
                        s1[tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                for r in 0..2 {
                    let oy = 2 * ty + r;
                    if oy >= oh {
                        break;
                    }
                    let sr = &s[4 * r * tw..][..4 * tw];
                    let (c0, c1, c2, c3) = (
                        &sr[..tw],
                        &sr[tw..2 * tw],
                        &sr[2 * tw..3 * tw],
                        &sr[3 * tw..],
                    );
                    let out = &mut y[oy * ow..][..ow];
                    for tx in 0..ow / 2 {
                        out[2 * tx] = c0[tx] + c1[tx] + c2[tx] + offset;
                        out[2 * tx + 1] = c1[tx] - c2[tx] - c3[tx] + offset;
                    }
                    if ow % 2 == 1 {
                        let tx = ow / 2;
                        out[2 * tx] = c0[tx] + c1[tx] + c2[tx] + offset;
                    }
                }
            }
        }
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
    (v, m, padded): (&mut Vec<T>, &mut Vec<T>, &mut Vec<T>),
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
        v.resize(16 * geo.c_in * columns, T::ZERO);
        m.resize(16 * geo.c_out * columns, T::ZERO);
        transform_inputs(geo, x_images, band.clone(), v, columns, padded);
        let (u_len, v_len, m_len) = (
            geo.c_out * geo.c_in,
            geo.c_in * columns,
            geo.c_out * columns,
        );
        for xi in 0..16 {
            gemm(
                [geo.c_out, columns, geo.c_in],
                &mut m[xi * m_len..][..m_len],
                false,
                (&u[xi * u_len..][..u_len], 1, geo.c_in as isize),
                (&v[xi * v_len..][..v_len], 1, columns as isize),
                T::ONE,
                parallel,
            );
        }
        transform_outputs(geo, m, band, bias, y_images, columns);
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
        |(v, m, padded), y_images, x_images, parallel| {
            forward_images(geo, &u, bias, x_images, y_images, (v, m, padded), parallel)
        },
    );
    y
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
}

impl<T: Real> Winograd for T {
    const AVAILABLE: bool = true;

    fn winograd(geo: &Geometry, x: &[T], weight: &[T], bias: Option<&[T]>) -> Option<Vec<T>> {
        applies(geo).then(|| forward(geo, x, weight, bias))
    }
}

impl Winograd for burn_std::f16 {
    const AVAILABLE: bool = false;

    fn winograd(_: &Geometry, _: &[Self], _: &[Self], _: Option<&[Self]>) -> Option<Vec<Self>> {
        None
    }
}
