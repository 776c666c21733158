//! How fast the `gemm` crate (what the patched burn-flex's convolutions call) runs the three
//! products of a 3×3 convolution (stride 1, padding 1) for one image on one core, with each
//! operand laid out as burn-flex can build it, plus the cost of building those layouts:
//!
//! - im2col channel-major (`col`: one row per (channel, tap), `C·9 × H·W`), as the forward uses;
//! - im2col pixel-major (`colt`: one row per pixel, `H·W × 9·C`, tap then channel), built from a
//!   channels-last copy of the image, as the weight gradient now uses;
//! - the input gradient's scatter back (col2im) from either layout.
//!
//! It chose the layouts in `vendor/burn-flex/src/ops/conv2d_gemm.rs` (BENCHMARKS.md, "seventh
//! session"). The column builders here are plain loops written for this measurement, for this
//! one geometry only.
//!
//! `cargo test --release --workspace --no-run && $CARGO_TARGET_DIR/release/examples/gemm_layouts`
//! (optionally `C_OUT C_IN SIZE` for one shape; the default runs the narrow and fast nets' 3×3
//! convolutions).
use std::hint::black_box;
use std::time::Instant;

/// A row-major or strided operand: (data, column stride, row stride).
type Operand<'a> = (&'a [f32], isize, isize);

/// `dst (m×n, row stride dst_rs, column stride dst_cs) = read·dst + lhs · rhs`, one thread.
fn gemm(
    [m, n, k]: [usize; 3],
    (dst, dst_cs, dst_rs): (&mut [f32], isize, isize),
    read: bool,
    lhs: Operand,
    rhs: Operand,
) {
    // Every stride combination below stays inside its slice: the callers size each operand
    // as the full matrix the strides describe.
    let reach = |(data, cs, rs): Operand, rows: usize, cols: usize| {
        let last = (rows as isize - 1) * rs + (cols as isize - 1) * cs;
        assert!(last >= 0 && (last as usize) < data.len());
    };
    reach(lhs, m, k);
    reach(rhs, k, n);
    reach((dst, dst_cs, dst_rs), m, n);
    // SAFETY: the three `reach` checks above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs,
            dst_rs,
            read,
            lhs.0.as_ptr(),
            lhs.1,
            lhs.2,
            rhs.0.as_ptr(),
            rhs.1,
            rhs.2,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Microseconds per call (the mean of `reps` calls after one untimed call).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / reps as f64
}

/// The output range `[o0, o1)` whose input `o + k − 1` is inside `[0, size)`, for tap `k`.
fn valid(size: usize, k: usize) -> (usize, usize) {
    (usize::from(k == 0), if k == 2 { size - 1 } else { size })
}

/// Row copies per (channel, tap), as the patched forward builds its columns.
fn im2col_channel_major(c: usize, size: usize, x: &[f32], col: &mut [f32]) {
    let n = size * size;
    for ci in 0..c {
        for ky in 0..3 {
            let (y0, y1) = valid(size, ky);
            for kx in 0..3 {
                let (x0, x1) = valid(size, kx);
                let row = &mut col[(ci * 9 + ky * 3 + kx) * n..][..n];
                row.fill(0.0);
                for oy in y0..y1 {
                    let src = &x[ci * n + (oy + ky - 1) * size..][..size];
                    row[oy * size + x0..oy * size + x1]
                        .copy_from_slice(&src[x0 + kx - 1..x1 + kx - 1]);
                }
            }
        }
    }
}

/// `[C, H·W]` to `[H·W, C]` in 16×16 blocks.
fn transpose(rows: usize, cols: usize, src: &[f32], dst: &mut [f32]) {
    for r0 in (0..rows).step_by(16) {
        for c0 in (0..cols).step_by(16) {
            for r in r0..(r0 + 16).min(rows) {
                for col in c0..(c0 + 16).min(cols) {
                    dst[col * rows + r] = src[r * cols + col];
                }
            }
        }
    }
}

/// One copy of `C` channels per (pixel, tap) from a channels-last copy of the image.
fn im2col_pixel_major(c: usize, size: usize, x: &[f32], nhwc: &mut [f32], colt: &mut [f32]) {
    transpose(c, size * size, x, nhwc);
    for oy in 0..size {
        for ox in 0..size {
            let row = &mut colt[(oy * size + ox) * 9 * c..][..9 * c];
            for ky in 0..3 {
                for kx in 0..3 {
                    let dst = &mut row[(ky * 3 + kx) * c..][..c];
                    let (iy, ix) = ((oy + ky).checked_sub(1), (ox + kx).checked_sub(1));
                    match (iy.filter(|&i| i < size), ix.filter(|&i| i < size)) {
                        (Some(iy), Some(ix)) => {
                            dst.copy_from_slice(&nhwc[(iy * size + ix) * c..][..c])
                        }
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

fn col2im_channel_major(c: usize, size: usize, col: &[f32], dx: &mut [f32]) {
    let n = size * size;
    dx.fill(0.0);
    for ci in 0..c {
        for ky in 0..3 {
            let (y0, y1) = valid(size, ky);
            for kx in 0..3 {
                let (x0, x1) = valid(size, kx);
                let row = &col[(ci * 9 + ky * 3 + kx) * n..][..n];
                for oy in y0..y1 {
                    let dst = &mut dx[ci * n + (oy + ky - 1) * size..][..size];
                    for (d, &v) in dst[x0 + kx - 1..x1 + kx - 1]
                        .iter_mut()
                        .zip(&row[oy * size + x0..oy * size + x1])
                    {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Adds each (pixel, tap) run of `C` channels into a channels-last gradient, then transposes.
fn col2im_pixel_major(c: usize, size: usize, colt: &[f32], nhwc: &mut [f32], dx: &mut [f32]) {
    nhwc.fill(0.0);
    for oy in 0..size {
        for ox in 0..size {
            let row = &colt[(oy * size + ox) * 9 * c..][..9 * c];
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = ((oy + ky).checked_sub(1), (ox + kx).checked_sub(1));
                    if let (Some(iy), Some(ix)) =
                        (iy.filter(|&i| i < size), ix.filter(|&i| i < size))
                    {
                        let dst = &mut nhwc[(iy * size + ix) * c..][..c];
                        for (d, &v) in dst.iter_mut().zip(&row[(ky * 3 + kx) * c..][..c]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
    transpose(size * size, c, nhwc, dx);
}

fn shape(c_out: usize, c_in: usize, size: usize) {
    let (n, rows) = (size * size, c_in * 9);
    let values = |len: usize, m: usize| (0..len).map(|i| (i % m) as f32 * 0.1).collect::<Vec<_>>();
    let (x, w, dy) = (
        values(c_in * n, 11),
        values(c_out * rows, 3),
        values(c_out * n, 7),
    );
    let (mut col, mut colt, mut nhwc) = (
        vec![0.0; rows * n],
        vec![0.0; rows * n],
        vec![0.0; c_in * n],
    );
    let (mut y, mut dw, mut dx) = (
        vec![0.0; c_out * n],
        vec![0.0; c_out * rows],
        vec![0.0; c_in * n],
    );
    let (mut dcol, mut dcolt) = (vec![0.0; rows * n], vec![0.0; rows * n]);
    im2col_channel_major(c_in, size, &x, &mut col);
    im2col_pixel_major(c_in, size, &x, &mut nhwc, &mut colt);
    let reps = (2e8 / (c_out * rows * n) as f64).clamp(20.0, 2000.0) as usize;
    let gflops = |us: f64| 2.0 * (c_out * rows * n) as f64 / us / 1e3;
    let (ni, ri) = (n as isize, rows as isize);
    println!("conv {c_in}→{c_out} 3×3 on {size}×{size}, one image, one core ({reps} calls each):");
    let report = |what: &str, us: f64, flop: bool| {
        let rate = if flop {
            format!("{:6.1} GFLOP/s", gflops(us))
        } else {
            String::new()
        };
        println!("  {what:58} {us:8.1} µs {rate}");
    };
    report(
        "build col (channel-major im2col)",
        time(reps, || {
            im2col_channel_major(c_in, size, &x, black_box(&mut col))
        }),
        false,
    );
    report(
        "build colt (channels-last copy + pixel-major im2col)",
        time(reps, || {
            im2col_pixel_major(c_in, size, &x, &mut nhwc, black_box(&mut colt))
        }),
        false,
    );
    // One product: its label, [m, n, k], destination with (column, row) strides, whether it
    // accumulates, and the two operands.
    let product = |what: &str, dims, dst: &mut [f32], (cs, rs), read, lhs, rhs| {
        report(
            what,
            time(reps, || gemm(dims, (&mut *dst, cs, rs), read, lhs, rhs)),
            true,
        );
    };
    let forward = "forward    Y = W · col";
    product(
        forward,
        [c_out, n, rows],
        &mut y,
        (1, ni),
        false,
        (&w, 1, ri),
        (&col, 1, ni),
    );
    let transposed_view = "weight grad dW = dY · colᵀ (col's transposed view)";
    let (dy_rows, dw_strides) = ((&dy[..], 1, ni), (1, ri));
    product(
        transposed_view,
        [c_out, rows, n],
        &mut dw,
        dw_strides,
        true,
        dy_rows,
        (&col, ni, 1),
    );
    let pixel_major = "weight grad dW = dY · colt (pixel-major, row-major rhs)";
    product(
        pixel_major,
        [c_out, rows, n],
        &mut dw,
        dw_strides,
        true,
        dy_rows,
        (&colt, 1, ri),
    );
    let channel_major = "input grad dcol = Wᵀ · dY";
    product(
        channel_major,
        [rows, n, c_out],
        &mut dcol,
        (1, ni),
        false,
        (&w, ri, 1),
        dy_rows,
    );
    let scatter = time(reps, || {
        col2im_channel_major(c_in, size, &dcol, black_box(&mut dx))
    });
    report("  then col2im from col", scatter, false);
    let pixel_major = "input grad dcolt = dYᵀ · W (pixel-major)";
    product(
        pixel_major,
        [n, rows, c_out],
        &mut dcolt,
        (1, ri),
        false,
        (&dy, ni, 1),
        (&w, 1, ri),
    );
    let scatter = time(reps, || {
        col2im_pixel_major(c_in, size, &dcolt, &mut nhwc, black_box(&mut dx))
    });
    report(
        "  then col2im from colt (channels-last, transposed back)",
        scatter,
        false,
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("C_OUT C_IN SIZE: whole numbers"))
        .collect();
    match args[..] {
        [c_out, c_in, size] => shape(c_out, c_in, size),
        [] => {
            for (c_out, c_in, size) in [
                (16, 16, 32),
                (32, 32, 16),
                (64, 64, 8),
                (128, 128, 4),
                (64, 24, 31),
                (64, 64, 15),
                (192, 192, 7),
            ] {
                shape(c_out, c_in, size);
            }
        }
        _ => panic!("usage: gemm_layouts [C_OUT C_IN SIZE]"),
    }
}
