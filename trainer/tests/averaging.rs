//! Weight averaging against values computed by hand: every float tensor, BatchNorm's running
//! statistics included, becomes d·average + (1 − d)·model.

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_trainer::averaging::ema_update;

#[derive(Module, Debug)]
struct Tiny {
    linear: Linear,
    bn: BatchNorm,
}

fn tiny(device: &Device) -> Tiny {
    Tiny {
        linear: LinearConfig::new(2, 3).init(device),
        bn: BatchNormConfig::new(3).init(device),
    }
}

/// Every float tensor of the module, in one list: weight, bias, gamma, beta, mean, var.
fn values(model: &Tiny) -> Vec<f32> {
    let flat = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
    let mut all = flat(model.linear.weight.val().reshape([6]));
    all.extend(flat(model.linear.bias.as_ref().unwrap().val()));
    all.extend(flat(model.bn.gamma.val()));
    all.extend(flat(model.bn.beta.val()));
    all.extend(flat(model.bn.running_mean.value()));
    all.extend(flat(model.bn.running_var.value()));
    all
}

#[test]
fn ema_blends_every_float_tensor_by_hand() {
    let device = Device::flex();
    let average = tiny(&device);
    // Another model whose BatchNorm statistics moved (one training-mode pass), so that the
    // running buffers differ too.
    let autodiff = device.clone().autodiff();
    let trained = tiny(&autodiff);
    let input = Tensor::<4>::random([4, 3, 2, 2], Distribution::Normal(3.0, 2.0), &autodiff);
    let _ = trained.bn.forward(input);
    let current = trained.valid();
    let (a, b) = (values(&average), values(&current));
    assert_ne!(
        a[12..],
        b[12..],
        "running statistics should differ before averaging"
    );

    let decay = 0.9;
    let blended = values(&ema_update(average, &current, decay));
    assert_eq!(blended.len(), 21);
    for (k, value) in blended.iter().enumerate() {
        let expected = decay as f32 * a[k] + (1.0 - decay as f32) * b[k];
        assert!(
            (value - expected).abs() < 1e-6,
            "value {k}: {value} vs {expected}"
        );
    }
}

#[test]
fn lookahead_resets_the_model_to_the_slow_weights_and_keeps_its_parameters() {
    use cifar_trainer::averaging::assign;
    use cifar_trainer::settings::LookaheadConfig;

    let device = Device::flex();
    let autodiff = device.clone().autodiff();
    let slow = tiny(&device);
    let fast = tiny(&autodiff);
    let ids = (fast.linear.weight.id, fast.bn.beta.id);
    let (s, f) = (values(&slow), values(&fast.valid()));
    let decay = LookaheadConfig::new().decay_at(60, 100);
    // 0.95⁵ · 0.6³, by hand.
    assert!(
        (decay - 0.7737809374999998 * 0.216).abs() < 1e-15,
        "{decay}"
    );

    let slow = ema_update(slow, &fast.valid(), decay);
    let fast = assign(fast, &slow);
    let expected: Vec<f32> = s
        .iter()
        .zip(&f)
        .map(|(s, f)| decay as f32 * s + (1.0 - decay as f32) * f)
        .collect();
    for (k, (got, want)) in values(&fast.valid()).iter().zip(&expected).enumerate() {
        assert!((got - want).abs() < 1e-6, "value {k}: {got} vs {want}");
    }
    assert_eq!(values(&slow), values(&fast.valid()));
    // The optimiser's state is keyed by parameter id, and the model must still train.
    assert_eq!((fast.linear.weight.id, fast.bn.beta.id), ids);
    assert!(fast.linear.weight.val().is_require_grad());
}
