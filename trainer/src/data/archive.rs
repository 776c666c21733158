//! The official `.tar.gz` archive, read entry by entry without unpacking to disk.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

use super::binary::{TEST_FILE, TRAIN_FILES, parse_records};
use super::{Cifar10, Dataset, Limits};

pub fn load(path: &Path, limits: Limits) -> Result<Cifar10> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut train: [Option<Dataset>; 5] = Default::default();
    let mut test = None;
    for entry in archive
        .entries()
        .context("not a readable .tar.gz archive")?
    {
        let mut entry = entry.context("corrupt archive entry")?;
        let entry_path = entry
            .path()
            .context("archive entry with a bad name")?
            .into_owned();
        let Some(name) = entry_path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let slot = if name == TEST_FILE {
            &mut test
        } else if let Some(index) = TRAIN_FILES.iter().position(|file| *file == name) {
            &mut train[index]
        } else {
            continue;
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name} from the archive (truncated?)"))?;
        *slot = Some(parse_records(
            &bytes,
            &format!("{}:{name}", path.display()),
        )?);
    }
    let mut data = Cifar10::default();
    for (name, batch) in TRAIN_FILES.iter().zip(train) {
        if limits.train.is_some_and(|limit| data.train.len() >= limit) {
            break;
        }
        match batch {
            Some(batch) => data.train.append(batch),
            None => bail!("the archive has no {name}"),
        }
    }
    if limits.test != Some(0) {
        data.test = test.with_context(|| format!("the archive has no {TEST_FILE}"))?;
    }
    Ok(data)
}
