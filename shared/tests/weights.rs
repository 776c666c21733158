//! Safetensors save/load: round trips in both precisions and layouts, metadata, and every kind
//! of bad file giving an error rather than a panic.

use std::collections::HashMap;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use cifar_model::weights::{WeightsError, load_into, read_header};
use cifar_model::{
    Classifier, DataSummary, Layout, Model, ModelInfo, Precision, ResNet, ResNetConfig,
    TrainingSummary, load_model, to_safetensors,
};

/// The ResNet inside a loaded model (these tests write ResNets).
fn resnet(model: &Model) -> &ResNet {
    match model {
        Model::ResNet(model) => model,
        other => panic!("expected a ResNet, loaded {other:?}"),
    }
}

fn device() -> Device {
    Device::flex()
}

/// A narrow model whose BatchNorm statistics are not the initial 0/1, so round trips test them.
fn trained_like_model() -> ResNet {
    let device = device();
    device.seed(7);
    let model = ResNetConfig::narrow().init(&device.clone().autodiff());
    // One training-mode forward pass updates every BatchNorm's running statistics.
    let input = Tensor::<4>::random(
        [8, 3, 32, 32],
        Distribution::Normal(0.5, 2.0),
        &device.clone().autodiff(),
    );
    let _ = model.forward(input);
    model.valid()
}

fn info() -> ModelInfo {
    ModelInfo::cifar10(ResNetConfig::narrow()).with_training(TrainingSummary {
        epochs: 3,
        seconds: Some(12.5),
        images_processed: Some(900),
        test_accuracy: Some(0.5),
        tta: None,
        train_accuracy: Some(0.6),
        test_images: Some(100),
        data: DataSummary {
            name: "cifar-10-binary.tar.gz".into(),
            sha256: Some("ab".repeat(32)),
            sha256_of: Some("file".into()),
        },
        train_images: 300,
        seed: 1,
        date: "2026-11-28T00:00:00Z".into(),
        git_commit: Some("abc".into()),
    })
}

/// A fixed input (not drawn from the device RNG, which tests running in parallel share).
fn input() -> Tensor<4> {
    let values: Vec<f32> = (0..4 * 3 * 32 * 32)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [4, 3, 32, 32]), &device())
}

fn logits(model: &impl Classifier) -> Vec<f32> {
    model
        .logits(input())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn f32_round_trip_is_exact_and_keeps_metadata() {
    let model = trained_like_model();
    let bytes = to_safetensors(&model, &info(), Precision::F32, Layout::Burn).unwrap();
    let (loaded, loaded_info) = load_model(&bytes, &device()).unwrap();
    assert_eq!(loaded_info, info());
    assert_eq!(logits(&loaded), logits(&model));
    // Running statistics travelled too (they are not the 0/1 they start at).
    let original = model
        .bn1
        .running_var
        .value()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let restored = resnet(&loaded)
        .bn1
        .running_var
        .value()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(original, restored);
    assert!(original.iter().any(|v| (v - 1.0).abs() > 1e-3));
}

#[test]
fn f16_round_trip_includes_batchnorm_and_stays_close() {
    let model = trained_like_model();
    let bytes = to_safetensors(&model, &info(), Precision::F16, Layout::Burn).unwrap();
    let header = read_header(&bytes).unwrap();
    for name in [
        "conv1.weight",
        "bn1.gamma",
        "bn1.running_var",
        "layer2.0.shortcut.1.running_mean",
        "linear.weight",
    ] {
        assert_eq!(
            header.tensors[name].0,
            safetensors::Dtype::F16,
            "{name} should be stored as f16"
        );
    }
    let f32_bytes = to_safetensors(&model, &info(), Precision::F32, Layout::Burn).unwrap();
    assert!(
        bytes.len() * 10 < f32_bytes.len() * 6,
        "f16 file should be about half the size"
    );

    let (loaded, _) = load_model(&bytes, &device()).unwrap();
    let (a, b) = (logits(&model), logits(&loaded));
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let error = max_abs_diff(&a, &b);
    println!("f16 round trip: max |Δlogit| = {error:e} (max |logit| = {scale})");
    assert!(error < 1e-2 * scale.max(1.0), "f16 error {error} too large");
    assert!(error > 0.0, "f16 storage should not be bit-exact");
}

#[test]
fn pytorch_layout_uses_state_dict_names_and_loads_back() {
    let model = trained_like_model();
    let bytes = to_safetensors(&model, &info(), Precision::F32, Layout::PyTorch).unwrap();
    let header = read_header(&bytes).unwrap();
    assert_eq!(header.layout, Layout::PyTorch);
    assert!(header.tensors.contains_key("bn1.weight"));
    assert!(header.tensors.contains_key("layer2.0.shortcut.1.bias"));
    assert!(
        !header
            .tensors
            .keys()
            .any(|k| k.ends_with("gamma") || k.ends_with("beta"))
    );
    // PyTorch's Linear weight is [out, in].
    assert_eq!(header.tensors["linear.weight"].1, vec![10, 128]);
    // Every BatchNorm has its int64 batch counter, as in a PyTorch state_dict (122 entries).
    assert_eq!(
        header.tensors["layer2.0.shortcut.1.num_batches_tracked"],
        (safetensors::Dtype::I64, vec![])
    );
    assert_eq!(header.tensors.len(), 122);
    let (loaded, _) = load_model(&bytes, &device()).unwrap();
    assert_eq!(logits(&loaded), logits(&model));
}

/// Rewrites a file's tensors with other metadata (none, or replaced entries).
fn rewrite(bytes: &[u8], metadata: Option<HashMap<String, String>>, drop: &[&str]) -> Vec<u8> {
    let tensors = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| !drop.contains(&name.as_str()))
        .collect();
    safetensors::serialize(kept, metadata).unwrap()
}

#[test]
fn files_without_metadata_are_understood_from_their_shapes() {
    let model = trained_like_model();
    for layout in [Layout::Burn, Layout::PyTorch] {
        let bytes = to_safetensors(&model, &info(), Precision::F32, layout).unwrap();
        let bare = rewrite(&bytes, None, &[]);
        let (loaded, loaded_info) = load_model(&bare, &device()).unwrap();
        assert_eq!(loaded_info.config, ResNetConfig::narrow().into());
        assert_eq!(loaded_info.training, None);
        assert_eq!(logits(&loaded), logits(&model));
    }
}

fn expect_err(bytes: &[u8]) -> WeightsError {
    match load_model(bytes, &device()) {
        Ok(_) => panic!("loading should fail"),
        Err(error) => error,
    }
}

#[test]
fn garbage_and_hostile_headers_are_errors() {
    assert!(matches!(expect_err(b""), WeightsError::Format(_)));
    assert!(matches!(
        expect_err(b"definitely not safetensors"),
        WeightsError::Format(_)
    ));
    // A header length far larger than the file.
    let mut hostile = (1u64 << 40).to_le_bytes().to_vec();
    hostile.extend_from_slice(b"{}");
    assert!(matches!(expect_err(&hostile), WeightsError::Format(_)));
    // A valid header promising more data than the file holds (truncated file).
    let bytes =
        to_safetensors(&trained_like_model(), &info(), Precision::F32, Layout::Burn).unwrap();
    let error = expect_err(&bytes[..bytes.len() - 100]);
    assert!(matches!(error, WeightsError::Format(_)), "{error}");
}

#[test]
fn shape_mismatches_name_the_tensor_and_both_shapes() {
    // Metadata says ResNet-18, tensors are the narrow model's.
    let bytes =
        to_safetensors(&trained_like_model(), &info(), Precision::F32, Layout::Burn).unwrap();
    let mut metadata = read_header(&bytes).unwrap().metadata;
    metadata.insert("model_config".into(), ResNetConfig::new().to_string());
    let error = expect_err(&rewrite(&bytes, Some(metadata), &[]));
    let message = error.to_string();
    assert!(matches!(error, WeightsError::Shape { .. }), "{message}");
    // The first mismatching tensor (in the model's order: the stem) is named with both shapes.
    assert!(
        message.contains("conv1.weight")
            && message.contains("[64, 3, 3, 3]")
            && message.contains("[16, 3, 3, 3]"),
        "{message}"
    );

    // Loading into an existing model of another shape.
    let header = read_header(&bytes).unwrap();
    let mut other: Model = ResNetConfig::new().init(&device()).into();
    assert!(matches!(
        load_into(&mut other, &header, &bytes),
        Err(WeightsError::Shape { .. })
    ));
}

#[test]
fn missing_extra_and_non_float_tensors_are_errors() {
    let bytes =
        to_safetensors(&trained_like_model(), &info(), Precision::F32, Layout::Burn).unwrap();
    let metadata = read_header(&bytes).unwrap().metadata;
    let missing = rewrite(
        &bytes,
        Some(metadata.clone()),
        &["layer3.1.bn2.running_mean"],
    );
    let error = expect_err(&missing);
    assert!(
        error.to_string().contains("layer3.1.bn2.running_mean"),
        "{error}"
    );
    assert!(matches!(error, WeightsError::Missing { .. }));

    // An unknown tensor.
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let extra_data = [0u8; 16];
    let mut all: Vec<(String, safetensors::tensor::TensorView)> = tensors.tensors();
    all.push((
        "decoder.weight".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &extra_data)
            .unwrap(),
    ));
    let error = expect_err(&safetensors::serialize(all, Some(metadata.clone())).unwrap());
    assert!(matches!(error, WeightsError::Unexpected { .. }), "{error}");

    // An integer tensor where a float is expected.
    let mut all: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "linear.bias")
        .collect();
    let int_data = [0u8; 80];
    all.push((
        "linear.bias".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![10], &int_data).unwrap(),
    ));
    let error = expect_err(&safetensors::serialize(all, Some(metadata)).unwrap());
    assert!(matches!(error, WeightsError::DType { .. }), "{error}");
}

#[test]
fn corrupt_metadata_names_the_field() {
    let bytes =
        to_safetensors(&trained_like_model(), &info(), Precision::F32, Layout::Burn).unwrap();
    for (key, value) in [
        ("model_config", "{not json"),
        (
            "model_config",
            r#"{"widths":[16,32],"blocks":[2,2],"num_classes":10}"#,
        ),
        ("class_names", r#"["only", "three", "names"]"#),
        ("normalization", r#"{"mean":[0,0,0],"std":[0,1,1]}"#),
        ("training", "42"),
    ] {
        let mut metadata = read_header(&bytes).unwrap().metadata;
        metadata.insert(key.into(), value.into());
        let error = expect_err(&rewrite(&bytes, Some(metadata), &[]));
        assert!(
            matches!(&error, WeightsError::Metadata { key: k, .. } if k == key),
            "{key}: {error}"
        );
    }
}

#[test]
fn folding_batchnorm_keeps_the_logits() {
    use cifar_model::Classifier;
    let model = trained_like_model();
    let folded = model.fold_batchnorm();
    let (a, b) = (
        logits(&model),
        folded
            .logits(input())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    let error = max_abs_diff(&a, &b);
    println!("folded BatchNorm: max |Δlogit| = {error:e}");
    assert!(error < 1e-4, "folding changed the logits by {error}");
    // Every BatchNorm is gone: the folded network holds convolutions and the classifier only,
    // each convolution with the bias the fold gave it.
    use burn::store::ModuleSnapshot;
    let names: Vec<String> = folded
        .collect(None, None, false)
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".weight") || n.ends_with(".bias")),
        "{names:?}"
    );
    let convolutions = names
        .iter()
        .filter(|n| n.ends_with(".weight") && !n.starts_with("linear"))
        .count();
    // Stem + 8 blocks × 2 + 3 projection shortcuts = 20 convolutions, 20 BatchNorms folded.
    assert_eq!(convolutions, 20);
    assert_eq!(names.len(), 2 * 20 + 2);
}

/// `fold` against the formula computed element by element: w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε).
#[test]
fn fold_matches_the_formula_element_by_element() {
    let model = trained_like_model();
    let folded = cifar_model::fold::fold(&model.conv1, &model.bn1);
    let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
    let gamma = values(model.bn1.gamma.val());
    let beta = values(model.bn1.beta.val());
    let mean = values(model.bn1.running_mean.value());
    let var = values(model.bn1.running_var.value());
    let weight = model
        .conv1
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let folded_weight = folded.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let folded_bias = values(folded.bias.as_ref().unwrap().val());
    // In f64, to within a few f32 rounding steps (relative 5e-7): leaving ε out, for one,
    // changes the scale by ε/(2σ²), about 1e-6 here.
    let close = |actual: f32, expected: f64| {
        (actual as f64 - expected).abs() <= 5e-7 * expected.abs() + 1e-12
    };
    let per_channel = weight.len() / gamma.len();
    for channel in 0..gamma.len() {
        let scale = gamma[channel] as f64 / (var[channel] as f64 + model.bn1.epsilon).sqrt();
        for k in 0..per_channel {
            let index = channel * per_channel + k;
            let expected = weight[index] as f64 * scale;
            assert!(
                close(folded_weight[index], expected),
                "weight {index}: {} vs {expected}",
                folded_weight[index]
            );
        }
        let expected = beta[channel] as f64 - mean[channel] as f64 * scale;
        assert!(
            close(folded_bias[channel], expected),
            "bias {channel}: {} vs {expected}",
            folded_bias[channel]
        );
    }
}

#[test]
fn newer_format_versions_are_refused_and_version_1_still_loads() {
    let bytes =
        to_safetensors(&trained_like_model(), &info(), Precision::F32, Layout::Burn).unwrap();
    let metadata = read_header(&bytes).unwrap().metadata;
    assert_eq!(metadata["format_version"], "2");
    for bad in ["3", "two"] {
        let mut newer = metadata.clone();
        newer.insert("format_version".into(), bad.into());
        let error = expect_err(&rewrite(&bytes, Some(newer), &[]));
        let message = error.to_string();
        assert!(
            matches!(&error, WeightsError::Metadata { key, .. } if key == "format_version"),
            "{message}"
        );
        assert!(message.contains(bad), "{message}");
    }
    // Version 1 stored the data as a path of the training machine: read as its last part.
    let mut old = metadata.clone();
    old.insert("format_version".into(), "1".into());
    let training = old["training"].replace(
        &serde_json::to_string(&info().training.unwrap().data).unwrap(),
        r#""/var/cache/runs/data/cifar-10-binary.tar.gz""#,
    );
    assert!(training.contains("/var/cache"), "{training}");
    old.insert("training".into(), training);
    let (_, loaded) = load_model(&rewrite(&bytes, Some(old), &[]), &device()).unwrap();
    let data = loaded.training.unwrap().data;
    assert_eq!(data, DataSummary::name_only("cifar-10-binary.tar.gz"));
    assert_eq!(data.name, "cifar-10-binary.tar.gz");
    assert_eq!(data.sha256, None);
}

#[test]
fn layouts_and_precisions_parse_from_their_names() {
    assert_eq!("pytorch".parse::<Layout>(), Ok(Layout::PyTorch));
    assert_eq!("burn".parse::<Layout>(), Ok(Layout::Burn));
    assert_eq!("f16".parse::<Precision>(), Ok(Precision::F16));
    assert!("onnx".parse::<Layout>().unwrap_err().contains("onnx"));
    assert!("f8".parse::<Precision>().unwrap_err().contains("f8"));
}
