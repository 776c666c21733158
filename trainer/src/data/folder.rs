//! Image-folder trees: `train/<class>/*` and `test/<class>/*`, class folders named as in
//! CIFAR-10. Images of any size are brought to 32×32 with the model's own preprocessing.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cifar_model::CLASS_NAMES;
use cifar_model::preprocess::{rgb_to_planar, to_model_rgb};

use super::{Cifar10, Dataset, Limits, class_index};

pub fn load(root: &Path, limits: Limits) -> Result<Cifar10> {
    Ok(Cifar10 {
        train: load_split(&root.join("train"), limits.train)?,
        test: load_split(&root.join("test"), limits.test)?,
    })
}

/// Reads `split/<class>/<file>` in sorted order (deterministic), up to `limit` images.
fn load_split(split: &Path, limit: Option<usize>) -> Result<Dataset> {
    let mut data = Dataset::default();
    if !split.is_dir() || limit == Some(0) {
        return Ok(data);
    }
    let mut per_class: Vec<Vec<(std::path::PathBuf, u8)>> = Vec::new();
    for class_dir in sorted_entries(split)? {
        if !class_dir.is_dir() {
            continue;
        }
        let name = class_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let Some(label) = class_index(&name) else {
            bail!(
                "{}: `{name}` is not a CIFAR-10 class (expected one of {})",
                class_dir.display(),
                CLASS_NAMES.join(", ")
            );
        };
        let files = sorted_entries(&class_dir)?
            .into_iter()
            .filter(|file| file.is_file());
        per_class.push(files.map(|file| (file, label as u8)).collect());
    }
    // Interleave the classes, so that `--train-limit/--test-limit` keep every class.
    let longest = per_class.iter().map(Vec::len).max().unwrap_or(0);
    let files = (0..longest).flat_map(|i| {
        per_class
            .iter()
            .filter_map(move |class| class.get(i).cloned())
    });
    for (file, label) in files.take(limit.unwrap_or(usize::MAX)) {
        let image = image::open(&file)
            .with_context(|| format!("{} is not a readable image", file.display()))?;
        data.images.extend(rgb_to_planar(&to_model_rgb(&image)));
        data.labels.push(label);
    }
    Ok(data)
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    Ok(entries)
}
