//! CIFAR-10 in memory, from any of the three layouts the trainer accepts:
//! - the official binary layout (`cifar-10-batches-bin/` or a folder holding it),
//! - the official `.tar.gz` archive, read directly without unpacking,
//! - an image-folder tree `train/<class>/*.png|jpg…` and `test/<class>/…`.

mod archive;
pub mod binary;
mod folder;

use std::path::Path;

use anyhow::{Context, Result, bail};
use cifar_model::preprocess::IMAGE_BYTES;
use cifar_model::{CLASS_NAMES, DataSummary};
use sha2::{Digest, Sha256};

pub use binary::{RECORD_BYTES, parse_records};

/// Images as planar `CHW` bytes back to back, with their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Planar bytes of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * IMAGE_BYTES..(index + 1) * IMAGE_BYTES]
    }

    /// Keeps the first `limit` records.
    pub fn truncate(&mut self, limit: usize) {
        self.labels.truncate(limit);
        self.images.truncate(limit * IMAGE_BYTES);
    }

    pub(crate) fn append(&mut self, other: Dataset) {
        self.images.extend(other.images);
        self.labels.extend(other.labels);
    }

    /// Planar bytes of the given records, in that order (a training batch).
    pub fn gather(&self, indices: &[usize]) -> Vec<u8> {
        let mut planar = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        for &index in indices {
            planar.extend_from_slice(self.image(index));
        }
        planar
    }
}

/// Which records to load.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub train: Option<usize>,
    pub test: Option<usize>,
}

/// The training and test sets.
#[derive(Clone, Debug, Default)]
pub struct Cifar10 {
    pub train: Dataset,
    pub test: Dataset,
}

impl Cifar10 {
    /// Loads `path` in whichever layout it is, keeping the first records up to the limits.
    pub fn load(path: &Path, limits: Limits) -> Result<Self> {
        let mut data = if !path.exists() {
            bail!("data path {} does not exist", path.display());
        } else if path.is_file() {
            archive::load(path, limits)
                .with_context(|| format!("reading the archive {}", path.display()))?
        } else if let Some(dir) = binary::find_batches_dir(path) {
            binary::load_dir(&dir, limits)?
        } else if path.join("train").is_dir() || path.join("test").is_dir() {
            folder::load(path, limits)?
        } else {
            bail!(
                "{} is neither a CIFAR-10 binary folder (cifar-10-batches-bin/ with \
                 data_batch_1.bin …), a .tar.gz archive, nor an image-folder tree \
                 (train/<class>/…, test/<class>/…)",
                path.display()
            );
        };
        if let Some(limit) = limits.train {
            data.train.truncate(limit);
        }
        if let Some(limit) = limits.test {
            data.test.truncate(limit);
        }
        if data.train.is_empty() && limits.train != Some(0) {
            bail!("{} holds no training images", path.display());
        }
        if data.test.is_empty() && limits.test != Some(0) {
            bail!("{} holds no test images", path.display());
        }
        Ok(data)
    }
}

/// Label index of a class name, in CIFAR-10 order.
pub fn class_index(name: &str) -> Option<usize> {
    CLASS_NAMES.iter().position(|class| *class == name)
}

/// How a weights file names the data at `path` it was trained on: the file or folder name (never
/// the directory it sits in on this machine) and a SHA-256 — of the file itself when `path` is
/// one (the archive: what `sha256sum` prints), else of `data`'s records as loaded (training then
/// test, each a label byte and the planar pixels).
pub fn summarize(path: &Path, data: &Cifar10) -> Result<DataSummary> {
    let name = std::fs::canonicalize(path)
        .ok()
        .and_then(|full| full.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| path.display().to_string());
    let (digest, of) = if path.is_file() {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("reading {}", path.display()))?;
        (hasher.finalize(), "file")
    } else {
        let mut hasher = Sha256::new();
        for split in [&data.train, &data.test] {
            for (index, &label) in split.labels.iter().enumerate() {
                hasher.update([label]);
                hasher.update(split.image(index));
            }
        }
        (hasher.finalize(), "records")
    };
    Ok(DataSummary {
        name,
        sha256: Some(hex::encode(digest)),
        sha256_of: Some(of.to_string()),
    })
}
