//! `download`: fetch the CIFAR-10 binary archive, verify its checksum, unpack it atomically.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::data::binary::BATCHES_DIR;

/// The official archive.
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// MD5 published for the official archive.
pub const OFFICIAL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
pub const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";

/// Which digest the archive must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    Sha256(String),
    Md5(String),
    /// Explicitly unchecked (`--no-verify`).
    None,
}

pub struct Download {
    pub url: String,
    pub to: PathBuf,
    pub checksum: Checksum,
    pub progress: bool,
}

/// Downloads and unpacks; returns the `cifar-10-batches-bin` folder.
pub fn run(request: &Download) -> Result<PathBuf> {
    let target = request.to.join(BATCHES_DIR);
    if target.join("test_batch.bin").is_file() {
        println!("{} already exists; nothing to do", target.display());
        return Ok(target);
    }
    std::fs::create_dir_all(&request.to)
        .with_context(|| format!("creating {}", request.to.display()))?;
    let archive = request.to.join(ARCHIVE_NAME);
    fetch(request, &archive)?;
    unpack(&archive, &request.to)?;
    println!("unpacked to {}", target.display());
    Ok(target)
}

/// Streams the body to a temporary file while hashing it; renames only if the digest matches.
fn fetch(request: &Download, archive: &Path) -> Result<()> {
    let mut response = ureq::get(&request.url)
        .call()
        .with_context(|| format!("downloading {}", request.url))?;
    let length = response.body().content_length();
    let bar = if request.progress {
        let bar = ProgressBar::new(length.unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template(
                "{bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} ({eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let dir = archive.parent().context("archive path has no folder")?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    let mut reader = response.body_mut().as_reader();
    let (mut sha256, mut md5) = (Sha256::new(), Md5::new());
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let read = reader
            .read(&mut buffer)
            .with_context(|| format!("reading {} (connection lost?)", request.url))?;
        if read == 0 {
            break;
        }
        sha256.update(&buffer[..read]);
        md5.update(&buffer[..read]);
        temp.write_all(&buffer[..read])
            .context("writing the download")?;
        total += read as u64;
        bar.set_position(total);
    }
    bar.finish_and_clear();
    if let Some(expected) = length
        && expected != total
    {
        bail!(
            "{}: got {total} bytes, the server announced {expected} (truncated download)",
            request.url
        );
    }
    let (sha256, md5) = (hex::encode(sha256.finalize()), hex::encode(md5.finalize()));
    let (kind, expected, actual) = match &request.checksum {
        Checksum::Sha256(expected) => ("SHA-256", expected, &sha256),
        Checksum::Md5(expected) => ("MD5", expected, &md5),
        Checksum::None => {
            println!("checksum not verified (--no-verify); sha256 {sha256}");
            temp.persist(archive)?;
            return Ok(());
        }
    };
    if !expected.eq_ignore_ascii_case(actual) {
        bail!(
            "{}: {kind} is {actual}, expected {expected}: the download is corrupt or not the \
             CIFAR-10 archive (for a mirror, pass its --sha256 or --md5)",
            request.url
        );
    }
    println!("downloaded {total} bytes, {kind} verified");
    temp.persist(archive)
        .with_context(|| format!("saving {}", archive.display()))?;
    Ok(())
}

/// Unpacks into a temporary folder beside the target, then renames the batches folder in place.
fn unpack(archive: &Path, to: &Path) -> Result<()> {
    let staging = tempfile::Builder::new().prefix(".unpack-").tempdir_in(to)?;
    let file = std::fs::File::open(archive)?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(staging.path())
        .with_context(|| format!("unpacking {}", archive.display()))?;
    let unpacked = staging.path().join(BATCHES_DIR);
    if !unpacked.join("test_batch.bin").is_file() {
        bail!(
            "{} does not contain {BATCHES_DIR}/test_batch.bin",
            archive.display()
        );
    }
    // Check every batch file parses before the folder appears under its real name.
    crate::data::binary::load_dir(&unpacked, crate::data::Limits::default())?;
    std::fs::rename(&unpacked, to.join(BATCHES_DIR))
        .context("moving the unpacked folder in place")?;
    Ok(())
}
