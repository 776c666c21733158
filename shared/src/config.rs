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
