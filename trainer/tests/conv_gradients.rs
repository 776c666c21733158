//! The CPU backend's convolutions (the patched burn-flex under `vendor/`: forward, input and weight
//! gradients as GEMMs over im2col columns), with a bias, against a convolution written here as
//! plain loops in f64. The shapes reach every branch: stride 1 (on 32×32 maps the input gradient as
//! a forward convolution of the output gradient, or col2im where the padding is as large as the
//! kernel) and 2, padding 0, 1, 2, 3 and asymmetric, 1×1, 2×2 and 3×3 kernels, dilation 2, two
//! groups, 32 or more input channels per group (the pixel-major input gradient), batch 1 (the GEMMs
//! run in parallel), small maps (several images per weight-gradient GEMM and per Winograd run) and
//! batches of several images (the images do), channel counts that are not multiples of 8.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

mod common;

use common::tensors::{relative_error, values};

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    /// (begin, end) per axis.
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new_with_padding(self.stride, self.padding, self.dilation, self.groups)
    }

    fn out(&self, axis: usize) -> usize {
        let (begin, end) = self.padding[axis];
        let span = self.dilation[axis] * (self.kernel[axis] - 1) + 1;
        (self.size[axis] + begin + end - span) / self.stride[axis] + 1
    }

    /// For every (image, output channel, output pixel, input channel of its group, kernel
    /// tap) that reads a pixel inside the image: `f(y index, x index, w index)`.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [h, w] = self.size;
        let [kh, kw] = self.kernel;
        let (oh, ow) = (self.out(0), self.out(1));
        let (group_in, group_out) = (self.c_in / self.groups, self.c_out / self.groups);
        for b in 0..self.batch {
            for o in 0..self.c_out {
                let g = o / group_out;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let y_index = ((b * self.c_out + o) * oh + oy) * ow + ox;
                        for ci in 0..group_in {
                            let c = g * group_in + ci;
                            for ky in 0..kh {
                                let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize
                                    - self.padding[0].0 as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                for kx in 0..kw {
                                    let ix = (ox * self.stride[1] + kx * self.dilation[1]) as isize
                                        - self.padding[1].0 as isize;
                                    if ix < 0 || ix >= w as isize {
                                        continue;
                                    }
                                    let x_index =
                                        ((b * self.c_in + c) * h + iy as usize) * w + ix as usize;
                                    let w_index = ((o * group_in + ci) * kh + ky) * kw + kx;
                                    f(y_index, x_index, w_index);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What differs from the loops, one line per output (empty when all agree).
fn check(case: Case, seed: u64) -> Vec<String> {
    let device = Device::flex();
    device.seed(seed);
    let autodiff = device.clone().autodiff();
    let x_shape = [case.batch, case.c_in, case.size[0], case.size[1]];
    let w_shape = [
        case.c_out,
        case.c_in / case.groups,
        case.kernel[0],
        case.kernel[1],
    ];
    let y_shape = [case.batch, case.c_out, case.out(0), case.out(1)];
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random(x_shape, normal, &autodiff).require_grad();
    let w = Tensor::<4>::random(w_shape, normal, &autodiff).require_grad();
    let bias = Tensor::<1>::random([case.c_out], normal, &autodiff).require_grad();
    let dy = Tensor::<4>::random(y_shape, normal, &autodiff);

    let y = conv2d(x.clone(), w.clone(), Some(bias.clone()), case.options());
    let grads = (y.clone() * dy.clone()).sum().backward();
    let dx = x.grad(&grads).expect("input gradient");
    let dw = w.grad(&grads).expect("weight gradient");
    let dbias = bias.grad(&grads).expect("bias gradient");

    let (xv, wv, bv, dyv) = (values(&x), values(&w), values(&bias), values(&dy));
    // The bias of each output value's channel, and its gradient: the sum of that channel's
    // output gradient.
    let plane = case.out(0) * case.out(1);
    let channel_of = |yi: usize| (yi / plane) % case.c_out;
    let mut y_ref: Vec<f64> = (0..dyv.len()).map(|yi| bv[channel_of(yi)]).collect();
    let mut dbias_ref = vec![0.0; case.c_out];
    for (yi, &g) in dyv.iter().enumerate() {
        dbias_ref[channel_of(yi)] += g;
    }
    let mut dx_ref = vec![0.0; xv.len()];
    let mut dw_ref = vec![0.0; wv.len()];
    case.for_each_tap(|yi, xi, wi| {
        y_ref[yi] += xv[xi] * wv[wi];
        dx_ref[xi] += dyv[yi] * wv[wi];
        dw_ref[wi] += dyv[yi] * xv[xi];
    });
    let errors = [
        ("forward", relative_error(&values(&y), &y_ref)),
        ("input gradient", relative_error(&values(&dx), &dx_ref)),
        ("weight gradient", relative_error(&values(&dw), &dw_ref)),
        ("bias gradient", relative_error(&values(&dbias), &dbias_ref)),
    ];
    errors
        .into_iter()
        .filter(|(_, error)| error.is_nan() || *error >= 1e-5)
        .map(|(what, error)| format!("{what} of {case:?}: relative error {error:e}"))
        .collect()
}

#[test]
fn convolution_gradients_equal_direct_loops() {
    let base = Case {
        batch: 3,
        c_in: 5,
        c_out: 7,
        size: [9, 11],
        kernel: [3, 3],
        stride: [1, 1],
        padding: [(1, 1); 2],
        dilation: [1, 1],
        groups: 1,
    };
    let cases = [
        base,
        Case { batch: 1, ..base },
        Case {
            stride: [2, 2],
            ..base
        },
        Case {
            padding: [(0, 0); 2],
            ..base
        },
        Case {
            kernel: [1, 1],
            padding: [(0, 0); 2],
            ..base
        },
        // Strided or padded 1×1 convolutions take the patched forward too.
        Case {
            kernel: [1, 1],
            stride: [2, 2],
            padding: [(0, 0); 2],
            c_in: 12,
            ..base
        },
        Case {
            kernel: [1, 1],
            padding: [(1, 1); 2],
            ..base
        },
        // An RGB stem like the narrow net's (3 → 16, 3×3): the small-channel case, which the
        // patched forward takes since the thirteenth session (before, the published one did).
        Case {
            c_in: 3,
            c_out: 16,
            ..base
        },
        // The fast net's whitening layer: 2×2, no padding, 3 channels in.
        Case {
            c_in: 3,
            c_out: 24,
            kernel: [2, 2],
            padding: [(0, 0); 2],
            size: [12, 12],
            ..base
        },
        Case {
            dilation: [2, 2],
            padding: [(2, 2); 2],
            ..base
        },
        Case {
            groups: 2,
            c_in: 6,
            c_out: 10,
            ..base
        },
        Case {
            padding: [(1, 0), (0, 2)],
            stride: [2, 1],
            ..base
        },
        // More images than threads, with an odd count (uneven shares), wider channels.
        Case {
            batch: 9,
            c_in: 13,
            c_out: 17,
            size: [7, 7],
            ..base
        },
        // Small maps: the weight gradient takes several images per GEMM (7×7: 6 at a time),
        // with a shorter last chunk in each thread's run of images.
        Case {
            batch: 15,
            c_in: 4,
            c_out: 6,
            size: [7, 7],
            ..base
        },
        // Two groups on small maps: the published forward (the patch takes one group only) and
        // the patched backward passes, several images per weight-gradient GEMM.
        Case {
            batch: 9,
            groups: 2,
            c_in: 6,
            c_out: 10,
            size: [4, 4],
            ..base
        },
        // Winograd F(2×2, 3×3) (3×3, stride 1, 16 or more channels each side), for the
        // forward and for the input gradient as the forward of dY with the flipped kernel: odd
        // output sizes (partial tiles), padding 1, 0 and 2, asymmetric padding, several images
        // per GEMM on small maps (4×4 maps with 4 tiles each, two threads: runs of 4, 4 and 1)
        // and batch 1.
        Case {
            c_in: 16,
            c_out: 19,
            ..base
        },
        Case {
            c_in: 16,
            c_out: 19,
            padding: [(0, 0); 2],
            ..base
        },
        Case {
            c_in: 17,
            c_out: 16,
            padding: [(2, 2); 2],
            ..base
        },
        Case {
            c_in: 16,
            c_out: 16,
            padding: [(1, 0), (2, 1)],
            ..base
        },
        Case {
            batch: 9,
            c_in: 20,
            c_out: 24,
            size: [4, 4],
            ..base
        },
        Case {
            batch: 1,
            c_in: 16,
            c_out: 16,
            size: [5, 3],
            ..base
        },
        // A larger image goes through in bands of rows of tiles: 21×30 has 11 rows of 15
        // tiles, in bands of 5, 5 and 1.
        Case {
            batch: 2,
            c_in: 16,
            c_out: 18,
            size: [21, 30],
            ..base
        },
        // From 32 input channels per group the input gradient is computed pixel-major.
        Case {
            batch: 5,
            c_in: 33,
            c_out: 9,
            size: [6, 7],
            ..base
        },
        // Stride 1 on maps of 32×32 or more: the input gradient is a forward convolution of
        // the output gradient with the flipped kernel, padded by k − 1 − p: here 1, then 0
        // (p = 2), 1 and 2 (asymmetric), and wide; p = 3 ≥ k takes the col2im path.
        Case {
            batch: 1,
            size: [32, 33],
            ..base
        },
        Case {
            batch: 2,
            size: [32, 33],
            padding: [(2, 2); 2],
            ..base
        },
        Case {
            batch: 2,
            size: [33, 32],
            padding: [(1, 0), (0, 2)],
            ..base
        },
        Case {
            batch: 3,
            c_in: 33,
            c_out: 40,
            size: [32, 32],
            ..base
        },
        Case {
            batch: 2,
            size: [32, 33],
            padding: [(3, 3); 2],
            ..base
        },
        Case {
            batch: 1,
            groups: 2,
            c_in: 64,
            c_out: 6,
            size: [7, 9],
            padding: [(1, 0), (0, 2)],
            stride: [2, 1],
            dilation: [1, 2],
            ..base
        },
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .enumerate()
        .flat_map(|(seed, case)| check(case, seed as u64))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
