//! Safetensors save/load through burn-store, with self-describing metadata.
//!
//! A file holds the tensors under the parameter paths of the [`Model`] (the PyTorch names:
//! kuangliu/pytorch-cifar's for the ResNet, `bench/pytorch_resnet.py`'s for the fast net; the
//! enum's variant is not part of a name) and, in its `__metadata__`, the model config (which
//! names the architecture), the class names, the input
//! normalisation and a training summary, so that [`load_model`] builds the right network from
//! the file alone. Two layouts exist:
//! - [`Layout::Burn`]: BatchNorm `gamma`/`beta`, Linear weight `[in, out]` (what Burn holds);
//! - [`Layout::PyTorch`]: BatchNorm `weight`/`bias`, Linear weight `[out, in]`, so that
//!   `torch.nn.Module.load_state_dict(strict=True)` takes the file as it is.
//!
//! Loading accepts both (detected from the tensor names), any float dtype (f32, f16, bf16, f64),
//! and files without our metadata (a PyTorch-saved `state_dict`): the config is then inferred
//! from the tensor shapes. A bad file gives an error naming the tensor, never a panic: burn-store
//! reports every missing, unused, mis-shaped or non-float tensor when it applies the file, and
//! [`load_into`] turns the first of them into a [`WeightsError`].

use std::collections::{BTreeMap, HashMap};

use burn::prelude::*;
use burn::store::ApplyError;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, HalfPrecisionAdapter, IdentityAdapter, ModuleAdapter,
    ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::DType;
use safetensors::SafeTensors;

use crate::config::{ModelConfig, ResNetConfig, STAGES};
use crate::fast::{FastResNetConfig, GROUPS};
use crate::metadata::{ModelInfo, TrainingSummary};
use crate::model::Model;
use crate::preprocess::Normalization;

/// Value of the `format` metadata key in files we write.
pub const FORMAT: &str = "cifar-resnet";
/// Version of the metadata layout this build writes and the newest it reads. Version 2 names the
/// training data by file name and SHA-256 (version 1 stored a path, still read).
pub const FORMAT_VERSION: u32 = 2;

/// Storage precision of the float tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            other => Err(format!("unknown precision `{other}` (f32, f16)")),
        }
    }
}

/// Naming and layout convention of the tensors (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Burn,
    PyTorch,
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "burn" => Ok(Layout::Burn),
            "pytorch" => Ok(Layout::PyTorch),
            other => Err(format!("unknown layout `{other}` (burn, pytorch)")),
        }
    }
}

/// Why a weights file could not be read or written. The caller adds the file name.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    #[error("metadata field `{key}` is invalid: {problem}")]
    Metadata { key: String, problem: String },
    #[error("cannot tell the model shape: {0}")]
    Config(String),
    #[error("tensor `{name}` is missing (the model has {expected:?})")]
    Missing { name: String, expected: Vec<usize> },
    #[error("tensor `{name}` is not part of this model (shape {actual:?})")]
    Unexpected { name: String, actual: Vec<usize> },
    #[error("tensor `{name}` has shape {actual:?}, the model expects {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("tensor `{name}` has dtype {dtype:?}, expected a float type")]
    DType { name: String, dtype: DType },
    #[error("could not apply the weights: {0}")]
    Apply(String),
    #[error("could not write the weights: {0}")]
    Write(String),
}

/// A file's tensor table and metadata, read without loading any tensor data.
#[derive(Debug)]
pub struct WeightsHeader {
    /// Tensor name → (dtype, shape).
    pub tensors: BTreeMap<String, (safetensors::Dtype, Vec<usize>)>,
    pub metadata: HashMap<String, String>,
    pub layout: Layout,
}

/// Serialises `model` (a [`Model`] or one member's network) with `info` as metadata.
pub fn to_safetensors<M: ModuleSnapshot>(
    model: &M,
    info: &ModelInfo,
    precision: Precision,
    layout: Layout,
) -> Result<Vec<u8>, WeightsError> {
    let mut store = SafetensorsStore::from_bytes(None).skip_enum_variants(true);
    for (key, value) in metadata_entries(info, precision, layout) {
        store = store.metadata(key, value);
    }
    let layout_adapter: Box<dyn ModuleAdapter> = match layout {
        Layout::Burn => Box::new(IdentityAdapter),
        Layout::PyTorch => Box::new(BurnToPyTorchAdapter),
    };
    store = match precision {
        Precision::F32 => store.with_to_adapter(BoxedAdapter(layout_adapter)),
        // BatchNorm is converted too (burn-store leaves it out by default): its running
        // variance stays well inside f16's range for this model, as the round-trip test checks.
        Precision::F16 => store.with_to_adapter(
            BoxedAdapter(layout_adapter)
                .chain(HalfPrecisionAdapter::new().with_module("BatchNorm")),
        ),
    };
    model
        .save_into(&mut store)
        .map_err(|err| WeightsError::Write(err.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|err| WeightsError::Write(err.to_string()))?;
    match layout {
        Layout::Burn => Ok(bytes),
        Layout::PyTorch => with_batch_counters(&bytes),
    }
}

/// Adds PyTorch's `num_batches_tracked` buffer (int64 scalar) beside every BatchNorm, so that
/// `load_state_dict(strict=True)` finds every key it expects. PyTorch reads the counter only
/// when a BatchNorm has `momentum=None`; we do not count batches, so it is 0.
fn with_batch_counters(bytes: &[u8]) -> Result<Vec<u8>, WeightsError> {
    let write_error = |err: safetensors::SafeTensorError| WeightsError::Write(err.to_string());
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(write_error)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(write_error)?;
    let zero = 0i64.to_le_bytes();
    let mut views = tensors.tensors();
    let counters: Vec<String> = views
        .iter()
        .filter_map(|(name, _)| name.strip_suffix(".running_mean"))
        .map(|module| format!("{module}.num_batches_tracked"))
        .collect();
    for name in counters {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![], &zero)
            .map_err(write_error)?;
        views.push((name, view));
    }
    safetensors::serialize(views, header.metadata().clone()).map_err(write_error)
}

fn metadata_entries(
    info: &ModelInfo,
    precision: Precision,
    layout: Layout,
) -> Vec<(&'static str, String)> {
    let json = |value: &dyn erased_json::Json| value.to_json();
    let mut entries = vec![
        ("format", FORMAT.to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("model_config", info.config.to_string()),
        ("class_names", json(&info.class_names)),
        ("normalization", json(&info.normalization)),
        (
            "precision",
            match precision {
                Precision::F32 => "f32",
                Precision::F16 => "f16",
            }
            .to_string(),
        ),
        (
            "layout",
            match layout {
                Layout::Burn => "burn",
                Layout::PyTorch => "pytorch",
            }
            .to_string(),
        ),
    ];
    if let Some(training) = &info.training {
        entries.push(("training", json(training)));
    }
    entries
}

/// Tiny helper so that metadata values of different types serialise through one closure.
mod erased_json {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("metadata types always serialise")
        }
    }
}

/// Reads the header: tensor names, dtypes and shapes, and the metadata.
pub fn read_header(bytes: &[u8]) -> Result<WeightsHeader, WeightsError> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|err| WeightsError::Format(err.to_string()))?;
    // read_metadata checks the header; deserialize also checks every tensor's byte range.
    SafeTensors::deserialize(bytes).map_err(|err| WeightsError::Format(err.to_string()))?;
    let tensors: BTreeMap<String, (safetensors::Dtype, Vec<usize>)> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, (info.dtype, info.shape.clone())))
        .collect();
    if tensors.is_empty() {
        return Err(WeightsError::Format("the file holds no tensors".into()));
    }
    // PyTorch names a BatchNorm's scale `weight`, Burn `gamma`.
    let layout = if tensors.keys().any(|name| {
        name.strip_suffix(".running_mean")
            .is_some_and(|module| tensors.contains_key(&format!("{module}.weight")))
    }) {
        Layout::PyTorch
    } else {
        Layout::Burn
    };
    Ok(WeightsHeader {
        tensors,
        metadata: metadata.metadata().clone().unwrap_or_default(),
        layout,
    })
}

impl WeightsHeader {
    /// The model info: from our metadata when present, else inferred from the shapes with
    /// CIFAR-10 defaults for the rest.
    pub fn model_info(&self) -> Result<ModelInfo, WeightsError> {
        self.check_format_version()?;
        let config = match self.metadata.get("model_config") {
            Some(text) => {
                let config =
                    ModelConfig::from_json(text).map_err(|problem| WeightsError::Metadata {
                        key: "model_config".into(),
                        problem,
                    })?;
                config
                    .validate()
                    .map_err(|problem| WeightsError::Metadata {
                        key: "model_config".into(),
                        problem,
                    })?;
                config
            }
            None => self.infer_config()?,
        };
        let mut info = ModelInfo::new(config);
        if let Some(names) = self.parse_field::<Vec<String>>("class_names")? {
            if names.len() != info.config.num_classes() {
                return Err(WeightsError::Metadata {
                    key: "class_names".into(),
                    problem: format!(
                        "{} names for {} classes",
                        names.len(),
                        info.config.num_classes()
                    ),
                });
            }
            info.class_names = names;
        }
        if let Some(norm) = self.parse_field::<Normalization>("normalization")? {
            if norm.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(WeightsError::Metadata {
                    key: "normalization".into(),
                    problem: "every std must be positive".into(),
                });
            }
            info.normalization = norm;
        }
        info.training = self.parse_field::<TrainingSummary>("training")?;
        Ok(info)
    }

    /// Files of a newer format than this build reads are refused (their fields may mean
    /// something else); files without our metadata (a PyTorch `state_dict`) have no version.
    fn check_format_version(&self) -> Result<(), WeightsError> {
        let Some(text) = self.metadata.get("format_version") else {
            return Ok(());
        };
        let problem = match text.parse::<u32>() {
            Ok(version) if (1..=FORMAT_VERSION).contains(&version) => return Ok(()),
            Ok(version) if version > FORMAT_VERSION => format!(
                "version {version} is newer than this build reads ({FORMAT_VERSION}): \
                 update cifar-resnet to load this file"
            ),
            _ => format!("`{text}` is not a format version (1 to {FORMAT_VERSION})"),
        };
        Err(WeightsError::Metadata {
            key: "format_version".into(),
            problem,
        })
    }

    fn parse_field<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, WeightsError> {
        self.metadata
            .get(key)
            .map(|text| {
                serde_json::from_str(text).map_err(|err| WeightsError::Metadata {
                    key: key.into(),
                    problem: err.to_string(),
                })
            })
            .transpose()
    }

    fn shape_of(&self, name: &str) -> Result<&[usize], WeightsError> {
        self.tensors
            .get(name)
            .map(|(_, shape)| shape.as_slice())
            .ok_or_else(|| WeightsError::Config(format!("no metadata and no tensor `{name}`")))
    }

    /// The architecture from the names (`whiten.weight` is the fast net's), its shape from the
    /// tensor shapes.
    fn infer_config(&self) -> Result<ModelConfig, WeightsError> {
        if self.tensors.contains_key("whiten.weight") {
            self.infer_fast_config().map(ModelConfig::Fast)
        } else {
            self.infer_resnet_config().map(ModelConfig::ResNet)
        }
    }

    /// Classes from the classifier's weight, `[in, out]` in Burn's layout, `[out, in]` in
    /// PyTorch's.
    fn classes_of(&self, name: &str) -> Result<usize, WeightsError> {
        let shape = self.shape_of(name)?;
        match self.layout {
            Layout::Burn => shape.get(1),
            Layout::PyTorch => shape.first(),
        }
        .copied()
        .ok_or_else(|| WeightsError::Config(format!("`{name}` is not a matrix")))
    }

    /// Widths from each group's first conv, the whitening kernel from its weight; the logit
    /// scale and BatchNorm ε (not stored as tensors) are the defaults.
    fn infer_fast_config(&self) -> Result<FastResNetConfig, WeightsError> {
        let widths = (0..GROUPS)
            .map(|group| Ok(self.shape_of(&format!("layers.{group}.conv1.weight"))?[0]))
            .collect::<Result<Vec<_>, WeightsError>>()?;
        let whiten_kernel = self.shape_of("whiten.weight")?.get(2).copied().unwrap_or(0);
        let config = FastResNetConfig::new()
            .with_widths(widths)
            .with_whiten_kernel(whiten_kernel)
            .with_num_classes(self.classes_of("head.weight")?);
        config.validate().map_err(WeightsError::Config)?;
        Ok(config)
    }

    /// Widths from each stage's first conv, blocks from the block indices present, classes
    /// from the classifier.
    fn infer_resnet_config(&self) -> Result<ResNetConfig, WeightsError> {
        let mut widths = Vec::with_capacity(STAGES);
        let mut blocks = Vec::with_capacity(STAGES);
        for stage in 1..=STAGES {
            let width = self.shape_of(&format!("layer{stage}.0.conv1.weight"))?[0];
            let prefix = format!("layer{stage}.");
            let count = self
                .tensors
                .keys()
                .filter_map(|name| name.strip_prefix(&prefix))
                .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
                .max()
                .map_or(0, |last| last + 1);
            widths.push(width);
            blocks.push(count);
        }
        let num_classes = self.classes_of("linear.weight")?;
        let config = ResNetConfig::new()
            .with_widths(widths)
            .with_blocks(blocks)
            .with_num_classes(num_classes);
        config.validate().map_err(WeightsError::Config)?;
        Ok(config)
    }
}

/// Builds the model described by the file and loads its weights onto `device`.
pub fn load_model(bytes: &[u8], device: &Device) -> Result<(Model, ModelInfo), WeightsError> {
    let header = read_header(bytes)?;
    let info = header.model_info()?;
    let mut model = info.config.init(device);
    load_into(&mut model, &header, bytes)?;
    Ok((model, info))
}

/// Loads weights into an existing model. On an error the model may be partly loaded: callers
/// load into a fresh model and keep the previous one until this succeeds (as [`load_model`]).
pub fn load_into(
    model: &mut Model,
    header: &WeightsHeader,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    let to_f32 = FloatCastAdapter::to(DType::F32);
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec())).skip_enum_variants(true);
    store = match header.layout {
        Layout::Burn => store.with_from_adapter(to_f32),
        Layout::PyTorch => store.with_from_adapter(PyTorchToBurnAdapter.chain(to_f32)),
    }
    // Collect every problem into the result instead of failing on the first kind.
    .allow_partial(true)
    .validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|err| WeightsError::Apply(err.to_string()))?;
    if let Some(error) = result.errors.into_iter().next() {
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => WeightsError::Shape {
                name: path,
                expected: expected.to_vec(),
                actual: found.to_vec(),
            },
            ApplyError::DTypeMismatch { path, found, .. } => WeightsError::DType {
                name: path,
                dtype: found,
            },
            other => WeightsError::Apply(other.to_string()),
        });
    }
    if let Some((name, _)) = result.missing.into_iter().next() {
        let expected = model_shapes(model).remove(&name).unwrap_or_default();
        return Err(WeightsError::Missing { name, expected });
    }
    // PyTorch's BatchNorm counter has no meaning for inference; everything else must fit.
    if let Some(name) = result
        .unused
        .into_iter()
        .find(|name| !name.ends_with("num_batches_tracked"))
    {
        let actual = header
            .tensors
            .get(&name)
            .map(|(_, shape)| shape.clone())
            .unwrap_or_default();
        return Err(WeightsError::Unexpected { name, actual });
    }
    Ok(())
}

/// Parameter path → shape, as the model holds them (Burn names).
fn model_shapes(model: &Model) -> BTreeMap<String, Vec<usize>> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|tensor| (tensor.name.clone(), tensor.shape.to_vec()))
        .collect()
}

/// Lets a boxed adapter be chained like a concrete one.
#[derive(Clone)]
struct BoxedAdapter(Box<dyn ModuleAdapter>);

impl ModuleAdapter for BoxedAdapter {
    fn adapt(
        &self,
        tensor: burn::store::burn_pack::Tensor,
        ctx: burn::store::ModuleContext<'_>,
    ) -> burn::store::burn_pack::Tensor {
        self.0.adapt(tensor, ctx)
    }
    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}
