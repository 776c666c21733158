//! One JSON record per epoch in `metrics.jsonl`, the training log that plots and resumes use.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use cifar_model::Tta;
use serde::{Deserialize, Serialize};

pub const METRICS_FILE: &str = "metrics.jsonl";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Test-time augmentation of `test_loss`/`test_accuracy` (the config's `eval_tta` on the
    /// last epoch, none before: TTA costs several forward passes per image).
    #[serde(default)]
    pub test_tta: Tta,
    /// Learning rate at the last step of the epoch.
    pub learning_rate: f64,
    pub seconds: f64,
    /// Training throughput (augmentation, forward, backward and update).
    pub images_per_second: f64,
}

/// Reads every record of `run_dir/metrics.jsonl` (none if the file does not exist).
pub fn read(run_dir: &Path) -> Result<Vec<EpochRecord>> {
    let path = run_dir.join(METRICS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{} line {}: not an epoch record",
                    path.display(),
                    number + 1
                )
            })
        })
        .collect()
}

/// Keeps only the records up to `epoch` (a resumed run drops epochs it is about to redo).
pub fn truncate_after(run_dir: &Path, epoch: usize) -> Result<Vec<EpochRecord>> {
    let mut records = read(run_dir)?;
    records.retain(|record| record.epoch <= epoch);
    let mut text = String::new();
    for record in &records {
        text.push_str(&serde_json::to_string(record)?);
        text.push('\n');
    }
    crate::fsutil::write_atomic(&run_dir.join(METRICS_FILE), text.as_bytes())?;
    Ok(records)
}

pub fn append(run_dir: &Path, record: &EpochRecord) -> Result<()> {
    let path = run_dir.join(METRICS_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(record)?)
        .with_context(|| format!("appending to {}", path.display()))
}
