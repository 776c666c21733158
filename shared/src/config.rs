//! The model's hyper-parameters, saved beside (and inside) every weights file.

use burn::config::Config;

/// Every member of the family has four stages (`layer1`…`layer4`), as in the PyTorch layout.
pub const STAGES: usize = 4;

/// Shape of a CIFAR ResNet: a 3×3 stem, then stages of basic blocks, then a linear head.
///
/// The default is the ResNet-18 of our reference report (kuangliu/pytorch-cifar layout):
/// widths 64/128/256/512, two blocks per stage, 10 classes — 11,173,962 parameters.
#[derive(Config, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Output channels of each of the four stages; the stem produces `widths[0]` channels.
    #[config(default = "vec![64, 128, 256, 512]")]
    pub widths: Vec<usize>,
    /// Basic blocks per stage (four entries).
    #[config(default = "vec![2, 2, 2, 2]")]
    pub blocks: Vec<usize>,
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
}

impl ResNetConfig {
    /// The narrow member of the family (16/32/64/128) used for quick CPU training and tests.
    pub fn narrow() -> Self {
        Self::new().with_widths(vec![16, 32, 64, 128])
    }

    /// Checks that the config describes a buildable network.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.len() != STAGES {
            return Err(format!(
                "`widths` must have {STAGES} entries (one per stage), found {}",
                self.widths.len()
            ));
        }
        if self.widths.len() != self.blocks.len() {
            return Err(format!(
                "`widths` has {} stages but `blocks` has {}",
                self.widths.len(),
                self.blocks.len()
            ));
        }
        if self.widths.contains(&0) {
            return Err("every entry of `widths` must be at least 1".into());
        }
        if self.blocks.contains(&0) {
            return Err("every stage needs at least one block".into());
        }
        if self.num_classes == 0 {
            return Err("`num_classes` must be at least 1".into());
        }
        Ok(())
    }
}

/// Any member of the family: what `model_config` in a weights file (and `model` in a training
/// config) holds. In JSON the member is named by an `architecture` field, `resnet` or
/// `fast-resnet`; without one it is the kuangliu ResNet, so files written before the fast net
/// existed keep loading.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    ResNet(ResNetConfig),
    Fast(crate::fast::FastResNetConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::ResNet(ResNetConfig::new())
    }
}

impl From<ResNetConfig> for ModelConfig {
    fn from(config: ResNetConfig) -> Self {
        ModelConfig::ResNet(config)
    }
}

impl From<crate::fast::FastResNetConfig> for ModelConfig {
    fn from(config: crate::fast::FastResNetConfig) -> Self {
        ModelConfig::Fast(config)
    }
}

/// The JSON form: the member's own fields plus `architecture`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "architecture")]
enum Tagged {
    #[serde(rename = "resnet")]
    ResNet(ResNetConfig),
    #[serde(rename = "fast-resnet")]
    Fast(crate::fast::FastResNetConfig),
}

impl serde::Serialize for ModelConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.clone() {
            ModelConfig::ResNet(config) => Tagged::ResNet(config),
            ModelConfig::Fast(config) => Tagged::Fast(config),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ModelConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        if let Some(object) = value.as_object_mut() {
            object
                .entry("architecture")
                .or_insert_with(|| serde_json::Value::String("resnet".into()));
        }
        Ok(
            match serde_json::from_value(value).map_err(D::Error::custom)? {
                Tagged::ResNet(config) => ModelConfig::ResNet(config),
                Tagged::Fast(config) => ModelConfig::Fast(config),
            },
        )
    }
}

impl std::fmt::Display for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string_pretty(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

impl ModelConfig {
    /// Parses the JSON form (see the type's docs).
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|err| err.to_string())
    }

    /// The default config of the architecture named `architecture` (as in JSON).
    pub fn default_for(architecture: &str) -> Result<Self, String> {
        match architecture {
            "resnet" => Ok(ResNetConfig::new().into()),
            "fast-resnet" => Ok(crate::fast::FastResNetConfig::new().into()),
            other => Err(format!(
                "unknown architecture `{other}` (resnet, fast-resnet)"
            )),
        }
    }

    /// The architecture and its shape in words, e.g. `ResNet (64/128/256/512, blocks 2/2/2/2)`.
    pub fn describe(&self) -> String {
        let join = |values: &[usize]| {
            values
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/")
        };
        match self {
            ModelConfig::ResNet(config) => format!(
                "ResNet ({}, blocks {})",
                join(&config.widths),
                join(&config.blocks)
            ),
            ModelConfig::Fast(config) => {
                format!("fast residual net ({})", join(&config.widths))
            }
        }
    }

    /// The `architecture` name used in JSON.
    pub fn architecture(&self) -> &'static str {
        match self {
            ModelConfig::ResNet(_) => "resnet",
            ModelConfig::Fast(_) => "fast-resnet",
        }
    }

    pub fn num_classes(&self) -> usize {
        match self {
            ModelConfig::ResNet(config) => config.num_classes,
            ModelConfig::Fast(config) => config.num_classes,
        }
    }

    pub fn with_num_classes(self, num_classes: usize) -> Self {
        match self {
            ModelConfig::ResNet(config) => config.with_num_classes(num_classes).into(),
            ModelConfig::Fast(config) => config.with_num_classes(num_classes).into(),
        }
    }

    /// Checks that the config describes a buildable network.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ModelConfig::ResNet(config) => config.validate(),
            ModelConfig::Fast(config) => config.validate(),
        }
    }

    /// Builds the network with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If the config is invalid; call [`ModelConfig::validate`] first for untrusted configs.
    pub fn init(&self, device: &burn::prelude::Device) -> crate::model::Model {
        match self {
            ModelConfig::ResNet(config) => config.init(device).into(),
            ModelConfig::Fast(config) => config.init(device).into(),
        }
    }
}
