//! Weights files on disk: read one and build its model, write one atomically, re-export one in
//! another layout or precision. Errors name the file.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use cifar_model::{Layout, Model, ModelInfo, Precision};

use crate::fsutil::write_atomic;

/// Reads a weights file and builds its model on `device`.
pub fn load(path: &Path, device: &Device) -> Result<(Model, ModelInfo)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))?;
    cifar_model::load_model(&bytes, device).with_context(|| format!("weights {}", path.display()))
}

/// Saves `model` as safetensors with `info` as metadata, atomically.
pub fn write(
    model: &Model,
    info: &ModelInfo,
    precision: Precision,
    layout: Layout,
    path: &Path,
) -> Result<()> {
    let bytes = cifar_model::to_safetensors(model, info, precision, layout)
        .with_context(|| format!("serialising {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// `export`: re-saves `weights` in `layout` and `precision` (on the CPU: no device needed).
pub fn export(weights: &Path, out: &Path, layout: Layout, precision: Precision) -> Result<()> {
    let (model, info) = load(weights, &Device::flex())?;
    write(&model, &info, precision, layout, out)?;
    println!("wrote {}", out.display());
    Ok(())
}
