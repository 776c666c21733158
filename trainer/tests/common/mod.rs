//! Helpers shared by the trainer's integration tests: tiny generated CIFAR data in every layout.
#![allow(dead_code)]

pub mod tensors;

use std::io::Write;
use std::path::{Path, PathBuf};

use cifar_trainer::data::RECORD_BYTES;

/// `count` records whose label is `i % 10` and whose pixels encode the record index.
pub fn records(count: usize, offset: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(count * RECORD_BYTES);
    for i in 0..count {
        let index = i + offset;
        bytes.push((index % 10) as u8);
        bytes.extend((0..RECORD_BYTES - 1).map(|p| ((p + index * 7) % 251) as u8));
    }
    bytes
}

/// Writes `cifar-10-batches-bin/` with `per_batch` records per training file and `test` test
/// records, returning the folder.
pub fn write_binary_dir(root: &Path, per_batch: usize, test: usize) -> PathBuf {
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for batch in 1..=5 {
        std::fs::write(
            dir.join(format!("data_batch_{batch}.bin")),
            records(per_batch, (batch - 1) * per_batch),
        )
        .unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), records(test, 1000)).unwrap();
    std::fs::write(
        dir.join("batches.meta.txt"),
        cifar_model::CLASS_NAMES.join("\n"),
    )
    .unwrap();
    dir
}

/// Packs a binary folder as the official `.tar.gz` does.
pub fn write_archive(root: &Path, per_batch: usize, test: usize) -> PathBuf {
    let staging = root.join("staging");
    write_binary_dir(&staging, per_batch, test);
    let path = root.join("cifar-10-binary.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder
        .append_dir_all("cifar-10-batches-bin", staging.join("cifar-10-batches-bin"))
        .unwrap();
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
    path
}

/// The real data set beside the project, or from `CIFAR10_ARCHIVE`.
pub fn real_archive() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CIFAR10_ARCHIVE") {
        let path = PathBuf::from(path);
        if path.exists() {
            return Some(path);
        }
    }
    let beside =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cifar-10-binary.tar.gz");
    beside.exists().then_some(beside)
}

/// The first `count` raw records (label byte + pixels) of `test_batch.bin` in a CIFAR-10
/// `.tar.gz`, read directly with tar/flate2 (not through the trainer's loader).
pub fn real_test_records(archive: &Path, count: usize) -> Vec<u8> {
    use std::io::Read;
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().ends_with("test_batch.bin") {
            let mut records = vec![0; count * RECORD_BYTES];
            entry
                .take(records.len() as u64)
                .read_exact(&mut records)
                .unwrap();
            return records;
        }
    }
    panic!("{}: no test_batch.bin", archive.display());
}

/// Index `v` of a 32-pixel row or column with the borders reflected (−1 reads 1, 32 reads 30),
/// as PyTorch's `F.pad(mode="reflect")`.
pub fn reflect32(v: i32) -> usize {
    if v < 0 {
        (-v) as usize
    } else if v > 31 {
        (62 - v) as usize
    } else {
        v as usize
    }
}
