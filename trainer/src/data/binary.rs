//! The official binary layout: records of one label byte then 3072 planar RGB bytes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cifar_model::NUM_CLASSES;
use cifar_model::preprocess::IMAGE_BYTES;

use super::{Dataset, Limits};

/// Bytes of one record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Training files in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
/// The folder the official archive unpacks to.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// Parses whole records, checking the size and every label. `source` names the file in errors.
pub fn parse_records(bytes: &[u8], source: &str) -> Result<Dataset> {
    if bytes.is_empty() {
        bail!("{source} is empty");
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        bail!(
            "{source} is {} bytes, not a whole number of {RECORD_BYTES}-byte records \
             (truncated or not a CIFAR-10 batch file)",
            bytes.len()
        );
    }
    let count = bytes.len() / RECORD_BYTES;
    let mut data = Dataset {
        images: Vec::with_capacity(count * IMAGE_BYTES),
        labels: Vec::with_capacity(count),
    };
    for (index, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label as usize >= NUM_CLASSES {
            bail!("{source}: record {index} has label {label}, labels must be below {NUM_CLASSES}");
        }
        data.labels.push(label);
        data.images.extend_from_slice(&record[1..]);
    }
    Ok(data)
}

/// `path` itself or `path/cifar-10-batches-bin`, whichever holds the first batch file.
pub fn find_batches_dir(path: &Path) -> Option<PathBuf> {
    [path.to_path_buf(), path.join(BATCHES_DIR)]
        .into_iter()
        .find(|dir| dir.join(TRAIN_FILES[0]).is_file() || dir.join(TEST_FILE).is_file())
}

fn read_file(path: &Path) -> Result<Dataset> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_records(&bytes, &path.display().to_string())
}

/// Reads the batch files of `dir`, stopping once the limits are met.
pub fn load_dir(dir: &Path, limits: Limits) -> Result<super::Cifar10> {
    let mut data = super::Cifar10::default();
    for name in TRAIN_FILES {
        if limits.train.is_some_and(|limit| data.train.len() >= limit) {
            break;
        }
        let path = dir.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing (expected the five training batches)",
                path.display()
            );
        }
        data.train.append(read_file(&path)?);
    }
    if limits.test != Some(0) {
        let path = dir.join(TEST_FILE);
        if !path.is_file() {
            bail!("{} is missing", path.display());
        }
        data.test = read_file(&path)?;
    }
    Ok(data)
}
