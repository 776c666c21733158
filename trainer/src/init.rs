//! Initialisations some recipes use: identity (Dirac) 3×3 convolutions, and the fast net's
//! whitening convolution from the training images' patch covariance (airbench).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use nalgebra::{DMatrix, SymmetricEigen};

/// Sets filter `i` of every 3×3 convolution weight `[out, in, 3, 3]` to the identity on channel
/// `i` (1 at the centre of channel `i`, 0 elsewhere) for `i < min(in, out)`; the other filters
/// keep their values. With a residual or a BatchNorm after it, the layer starts near the
/// identity map, which trains faster in short runs.
pub fn identity_init<M: Module>(model: M) -> M {
    model.map(&mut Dirac)
}

struct Dirac;

impl ModuleMapper for Dirac {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dims = param.shape().dims::<D>();
        if D != 4 || dims[2] != 3 || dims[3] != 3 {
            return param;
        }
        let (out, input) = (dims[0], dims[1]);
        param.map(|weight| {
            let device = weight.device();
            let active = weight.is_require_grad();
            let mut values = weight
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32");
            for filter in 0..out.min(input) {
                let start = filter * input * 9;
                values[start..start + input * 9].fill(0.0);
                values[start + filter * 9 + 4] = 1.0;
            }
            let weight = Tensor::<D>::from_data(TensorData::new(values, dims), &device);
            if active {
                weight.require_grad()
            } else {
                weight
            }
        })
    }
}

/// Mean patch outer product of `k`×`k` patches (stride 1, no padding) over `images`
/// (`[n, c, h, w]` row-major), in f64: `C[i][j] = mean(p_i · p_j)` with each patch flattened
/// channel-major (`c, y, x`), the order of a convolution weight. Not centred, as airbench.
pub fn patch_covariance(
    images: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
) -> DMatrix<f64> {
    let d = c * k * k;
    let mut sum = DMatrix::<f64>::zeros(d, d);
    let mut patch = vec![0f64; d];
    let mut count = 0usize;
    for image in images.chunks_exact(c * h * w).take(n) {
        for y in 0..=h - k {
            for x in 0..=w - k {
                let mut index = 0;
                for channel in 0..c {
                    for dy in 0..k {
                        for dx in 0..k {
                            patch[index] = image[channel * h * w + (y + dy) * w + x + dx] as f64;
                            index += 1;
                        }
                    }
                }
                // Upper triangle only, mirrored below.
                for i in 0..d {
                    let pi = patch[i];
                    for j in i..d {
                        sum[(i, j)] += pi * patch[j];
                    }
                }
                count += 1;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            sum[(i, j)] = sum[(j, i)];
        }
    }
    sum / count.max(1) as f64
}

/// The whitening filters for a patch covariance: its eigenvectors by decreasing eigenvalue, each
/// divided by `√(λ + ε)`, then the same negated (`2d` filters of `d` values). Applied to a patch
/// they give coordinates of unit variance along each principal direction (and their negatives,
/// so that a GELU after them keeps both signs).
pub fn whitening_filters(covariance: &DMatrix<f64>, epsilon: f64) -> Vec<Vec<f64>> {
    let eigen = SymmetricEigen::new(covariance.clone());
    let mut order: Vec<usize> = (0..eigen.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let positive: Vec<Vec<f64>> = order
        .iter()
        .map(|&i| {
            let scale = 1.0 / (eigen.eigenvalues[i].max(0.0) + epsilon).sqrt();
            eigen
                .eigenvectors
                .column(i)
                .iter()
                .map(|v| v * scale)
                .collect()
        })
        .collect();
    let negative = positive
        .iter()
        .map(|filter| filter.iter().map(|v| -v).collect())
        .collect::<Vec<_>>();
    positive.into_iter().chain(negative).collect()
}

/// Replaces a convolution weight `[2d, c, k, k]` by whitening filters for `images`
/// (`[n, c, h, w]` normalised values), keeping the parameter's id (so the optimiser and the
/// parameter groups still know it).
pub fn set_whitening(
    weight: Param<Tensor<4>>,
    images: &[f32],
    n: usize,
    [c, h, w]: [usize; 3],
    epsilon: f64,
) -> Param<Tensor<4>> {
    let dims = weight.shape().dims::<4>();
    let k = dims[2];
    let covariance = patch_covariance(images, n, c, h, w, k);
    let filters = whitening_filters(&covariance, epsilon);
    assert_eq!(
        filters.len(),
        dims[0],
        "the whitening conv has 2·c·k² filters"
    );
    let values: Vec<f32> = filters.into_iter().flatten().map(|v| v as f32).collect();
    weight.map(|old| {
        let active = old.is_require_grad();
        let new = Tensor::<4>::from_data(TensorData::new(values, dims), &old.device());
        if active { new.require_grad() } else { new }
    })
}
