//! The fast recipe's options against hand-computed values: parameter groups and what a step
//! does to each, the batch-size-independent units, identity and whitening init.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::{FastResNetConfig, Model, ResNetConfig};
use cifar_trainer::init::{identity_init, patch_covariance, set_whitening};
use cifar_trainer::param_groups::{GradientPolicy, ParamGroups};
use cifar_trainer::settings::TrainingConfig;

fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn parameter_groups_are_found_by_structure() {
    let device = Device::flex();
    let fast: Model = FastResNetConfig::new()
        .with_widths(vec![4, 8, 8])
        .init(&device)
        .into();
    let groups = ParamGroups::of(&fast);
    assert_eq!(groups.batchnorm_scales.len(), 6);
    assert_eq!(groups.batchnorm_biases.len(), 6);
    assert_eq!(groups.whiten_weight.len(), 1);
    assert_eq!(groups.whiten_bias.len(), 1);
    let Model::Fast(net) = &fast else {
        unreachable!()
    };
    assert_eq!(groups.whiten_weight[0], net.whiten.weight.id);
    assert_eq!(groups.batchnorm_biases[3], net.layers[1].norm2.beta.id);

    // ResNet-18: the stem's, two per block and three shortcuts' BatchNorms; no whitening.
    let resnet: Model = ResNetConfig::narrow().init(&device).into();
    let groups = ParamGroups::of(&resnet);
    assert_eq!(groups.batchnorm_scales.len(), 1 + 8 * 2 + 3);
    assert!(groups.whiten_weight.is_empty() && groups.whiten_bias.is_empty());
}

/// A fast net of widths 4/8/8 on the CPU backend with autodiff, initialised from `seed`.
fn tiny_fast_net(seed: u64) -> (Model, Device) {
    let device = Device::flex();
    device.seed(seed);
    let autodiff = device.clone().autodiff();
    let model = FastResNetConfig::new()
        .with_widths(vec![4, 8, 8])
        .init(&autodiff)
        .into();
    (model, autodiff)
}

/// One loss and its gradients for `model` on fixed images. The images come from a formula, not
/// from the backend's random generator: that generator is shared by the tests running in
/// parallel, so a seed set here could be reset by another test before the draw.
fn gradients(model: &Model, device: &Device) -> GradientsParams {
    let values: Vec<f32> = (0..6 * 3 * 32 * 32)
        .map(|i| (i as f32 * 0.618_034).sin() * 1.5)
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(values, [6, 3, 32, 32]), device);
    let targets =
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3, 4, 5], [6]), device);
    let loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(model.forward(images), targets);
    GradientsParams::from_grads(loss.backward(), model)
}

#[test]
fn a_step_scales_bias_gradients_and_leaves_frozen_parameters_alone() {
    let (model, autodiff) = tiny_fast_net(5);
    let groups = ParamGroups::of(&model);
    let mut grads = gradients(&model, &autodiff);
    let bias = groups.batchnorm_biases[0];
    let plain = to_vec(grads.get::<1>(bias).unwrap());

    let policy = GradientPolicy {
        scaled: vec![(groups.batchnorm_biases.clone(), 64.0)],
        frozen_1d: groups.batchnorm_scales.clone(),
        frozen_4d: groups.whiten_weight.clone(),
    };
    policy.apply(&mut grads);
    let scaled = to_vec(grads.get::<1>(bias).unwrap());
    for (s, p) in scaled.iter().zip(&plain) {
        assert!(
            (s - 64.0 * p).abs() <= 1e-5 * s.abs().max(1.0),
            "{s} vs 64·{p}"
        );
    }
    assert!(grads.get::<1>(groups.batchnorm_scales[0]).is_none());
    assert!(grads.get::<4>(groups.whiten_weight[0]).is_none());

    // Plain SGD with weight decay: frozen parameters do not move at all (not even by the decay),
    // a bias moves by lr · (64·g + λ·β) with β = 0 at init.
    let Model::Fast(before) = &model else {
        unreachable!()
    };
    let gamma_before = to_vec(before.layers[0].norm1.gamma.val());
    let whiten_before = to_vec(before.whiten.weight.val());
    let mut optim = SgdConfig::new()
        .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(0.1)))
        .init();
    let model = optim.step(0.01, model, grads);
    let Model::Fast(after) = &model else {
        unreachable!()
    };
    assert_eq!(to_vec(after.layers[0].norm1.gamma.val()), gamma_before);
    assert_eq!(to_vec(after.whiten.weight.val()), whiten_before);
    let beta = to_vec(after.layers[0].norm1.beta.val());
    for (b, p) in beta.iter().zip(&plain) {
        let expected = -0.01 * 64.0 * p;
        assert!(
            (b - expected).abs() <= 1e-5 * expected.abs().max(1e-3),
            "{b} vs {expected}"
        );
    }
}

#[test]
fn frozen_parameters_get_no_gradient_and_leave_the_others_unchanged() {
    let (model, autodiff) = tiny_fast_net(7);
    let groups = ParamGroups::of(&model);
    // The whitening layer entirely frozen (its bias after `bias_epochs`) and the BatchNorm scales.
    let policy = GradientPolicy {
        scaled: vec![],
        frozen_1d: [groups.batchnorm_scales.clone(), groups.whiten_bias.clone()].concat(),
        frozen_4d: groups.whiten_weight.clone(),
    };
    let full = gradients(&model, &autodiff);
    let frozen_model = policy.freeze(model.clone());
    let mut frozen = gradients(&frozen_model, &autodiff);
    for id in policy.frozen_1d.iter() {
        assert!(
            full.get::<1>(*id).is_some(),
            "the reference has every gradient"
        );
        assert!(
            frozen.get::<1>(*id).is_none(),
            "a frozen 1-D parameter was differentiated"
        );
    }
    assert!(frozen.get::<4>(groups.whiten_weight[0]).is_none());

    // Every other gradient is the one the whole backward pass gives.
    let Model::Fast(net) = &model else {
        unreachable!()
    };
    let others_4d = [net.layers[0].conv1.weight.id, net.layers[2].conv2.weight.id];
    let others_1d = [groups.batchnorm_biases[0], groups.batchnorm_biases[5]];
    let others_2d = [net.head.weight.id];
    let close = |a: Vec<f32>, b: Vec<f32>| {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{x} vs {y}");
        }
    };
    for id in others_4d {
        close(
            to_vec(frozen.get::<4>(id).unwrap()),
            to_vec(full.get::<4>(id).unwrap()),
        );
    }
    for id in others_1d {
        close(
            to_vec(frozen.get::<1>(id).unwrap()),
            to_vec(full.get::<1>(id).unwrap()),
        );
    }
    for id in others_2d {
        close(
            to_vec(frozen.get::<2>(id).unwrap()),
            to_vec(full.get::<2>(id).unwrap()),
        );
    }

    // The optimiser leaves the mark in place: the next step still skips those gradients.
    policy.apply(&mut frozen);
    let mut optim = SgdConfig::new().init();
    let stepped = optim.step(0.01, frozen_model, frozen);
    let next = gradients(&stepped, &autodiff);
    assert!(next.get::<4>(groups.whiten_weight[0]).is_none());
    assert!(next.get::<1>(groups.batchnorm_scales[0]).is_none());
    assert!(next.get::<1>(groups.batchnorm_biases[0]).is_some());
}

#[test]
fn batch_independent_units_give_airbenchs_step_sizes() {
    let config = TrainingConfig::new()
        .with_learning_rate(11.5)
        .with_weight_decay(0.0153)
        .with_momentum(0.85)
        .with_batch_size(1024)
        .with_lr_reference_batch(Some(1024));
    // lr / (1 + 1/(1 − 0.85)) = 11.5 / 7.666… = 1.5 on the mean loss at batch 1024.
    assert!((config.step_learning_rate() - 1.5).abs() < 1e-12);
    // Decay per step = lr_step · λ = 0.0153 · 1024 / (1024 · 7.666…) = 0.0019957 (airbench's).
    let decay = config.step_learning_rate() * config.coupled_weight_decay();
    assert!(
        (decay - 0.0153 / (1.0 + 1.0 / 0.15)).abs() < 1e-12,
        "{decay}"
    );
    // Half the batch: half the step, half the decay per step (the same per example).
    let half = config.clone().with_batch_size(512);
    assert!((half.step_learning_rate() - 0.75).abs() < 1e-12);
    assert!((half.step_learning_rate() * half.coupled_weight_decay() - decay / 2.0).abs() < 1e-12);
    // Without the units, the numbers are used as they are.
    let plain = config.with_lr_reference_batch(None);
    assert_eq!(plain.step_learning_rate(), 11.5);
    assert_eq!(plain.coupled_weight_decay(), 0.0153);
}

#[test]
fn identity_init_makes_the_first_filters_pass_their_channel_through() {
    let device = Device::flex();
    device.seed(2);
    let conv = Conv2dConfig::new([4, 6], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(&device);
    let conv = identity_init(conv);
    let input = Tensor::<4>::random([2, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
    let output = conv.forward(input.clone());
    let passed = to_vec(output.clone().slice([0..2, 0..4]));
    assert_eq!(passed, to_vec(input.clone()));
    // The two extra filters keep their random init (their output is not a copy of a channel).
    let extra = to_vec(output.slice([0..2, 4..6]));
    assert!(extra.iter().any(|v| v.abs() > 1e-3));
}

/// Images whose channels and neighbouring pixels are strongly correlated (as photos are).
fn correlated_images(n: usize) -> Vec<f32> {
    let (h, w) = (8, 8);
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut images = Vec::with_capacity(n * 3 * h * w);
    for _ in 0..n {
        let noise: Vec<f32> = (0..(h + 1) * (w + 1)).map(|_| uniform()).collect();
        let smooth = |y: usize, x: usize| {
            noise[y * (w + 1) + x] + noise[(y + 1) * (w + 1) + x] + noise[y * (w + 1) + x + 1]
        };
        for channel in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    images.push((1.0 + channel as f32 * 0.3) * smooth(y, x) + 0.2 * uniform());
                }
            }
        }
    }
    images
}

#[test]
fn whitening_init_gives_outputs_with_identity_covariance() {
    let (n, h, w) = (400, 8, 8);
    let images = correlated_images(n);
    // The patches really are correlated: far from the identity before.
    let before = patch_covariance(&images, n, 3, h, w, 2);
    assert!(before[(0, 1)].abs() > 0.1 * before[(0, 0)], "{before}");

    let device = Device::flex();
    let mut conv = Conv2dConfig::new([3, 24], [2, 2])
        .with_bias(false)
        .init(&device);
    conv.weight = set_whitening(conv.weight, &images, n, [3, h, w], 1e-9);
    let input = Tensor::<4>::from_data(TensorData::new(images, [n, 3, h, w]), &device);
    // The convolution's outputs over every patch position, channel-last.
    let output = to_vec(
        conv.forward(input)
            .permute([0, 2, 3, 1])
            .reshape([n * 7 * 7, 24]),
    );
    for i in 0..24 {
        for j in 0..24 {
            let moment: f64 = output
                .chunks(24)
                .map(|row| row[i] as f64 * row[j] as f64)
                .sum::<f64>()
                / (n * 49) as f64;
            // The second 12 filters are the first 12 negated.
            let (a, b) = (i % 12, j % 12);
            let sign = if (i < 12) == (j < 12) { 1.0 } else { -1.0 };
            let expected = if a == b { sign } else { 0.0 };
            assert!(
                (moment - expected).abs() < 1e-3,
                "E[o{i}·o{j}] = {moment}, expected {expected}"
            );
        }
    }
}
