//! Per-epoch checkpoints for `--resume`: the model (burnpack, which keeps the parameter ids that
//! the optimiser state is keyed by), the SGD momentum buffers, and the loop's position.
//!
//! A checkpoint is a folder written whole under a temporary name and swapped in by renames, so a
//! crash at any point leaves either the previous checkpoint or the new one, never a mix.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use cifar_model::Model;
use serde::{Deserialize, Serialize};

pub const CHECKPOINT_DIR: &str = "checkpoint";
const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const AVERAGE_FILE: &str = "average.bpk";
const STATE_FILE: &str = "state.json";

/// Where the training loop stood after an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimisation steps taken (the schedule's position).
    pub step: usize,
    pub best_test_accuracy: Option<f64>,
    pub best_epoch: Option<usize>,
}

fn paths(run_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        run_dir.join(CHECKPOINT_DIR),
        run_dir.join(format!("{CHECKPOINT_DIR}.partial")),
        run_dir.join(format!("{CHECKPOINT_DIR}.previous")),
    )
}

/// Saves the model, the optimiser, the weight average (when the run keeps one) and the state.
pub fn save(
    run_dir: &Path,
    model: &Model,
    optimizer: &ModuleOptimizer,
    average: Option<&Model>,
    state: &LoopState,
) -> Result<()> {
    let (current, partial, previous) = paths(run_dir);
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    model
        .clone()
        .save_file(partial.join(MODEL_FILE))
        .map_err(|err| anyhow::anyhow!("saving the model checkpoint: {err:?}"))?;
    optimizer
        .save(partial.join(OPTIMIZER_FILE))
        .map_err(|err| anyhow::anyhow!("saving the optimiser state: {err:?}"))?;
    if let Some(average) = average {
        average
            .clone()
            .save_file(partial.join(AVERAGE_FILE))
            .map_err(|err| anyhow::anyhow!("saving the weight average: {err:?}"))?;
    }
    std::fs::write(partial.join(STATE_FILE), serde_json::to_vec_pretty(state)?)
        .context("writing the loop state")?;
    // Swap: current → previous, partial → current, drop previous. When a crash between the two
    // renames left only `previous`, it stays until the new checkpoint is in place: at no moment
    // is there no complete checkpoint.
    if current.exists() {
        if previous.exists() {
            std::fs::remove_dir_all(&previous)?;
        }
        std::fs::rename(&current, &previous).context("moving the old checkpoint aside")?;
    }
    std::fs::rename(&partial, &current).context("putting the new checkpoint in place")?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous)?;
    }
    Ok(())
}

/// The newest complete checkpoint folder: `checkpoint/`, or `checkpoint.previous/` if a crash
/// happened between the two renames.
pub fn find(run_dir: &Path) -> Option<PathBuf> {
    let (current, _, previous) = paths(run_dir);
    [current, previous]
        .into_iter()
        .find(|dir| dir.join(STATE_FILE).is_file())
}

/// What a checkpoint restores.
pub struct Restored {
    pub model: Model,
    pub optimizer: ModuleOptimizer,
    pub average: Option<Model>,
    pub state: LoopState,
}

/// Restores model, optimiser and (when `average` is given, as a template) the weight average
/// from the newest checkpoint.
pub fn load(
    run_dir: &Path,
    model: Model,
    optimizer: ModuleOptimizer,
    average: Option<Model>,
) -> Result<Restored> {
    let Some(dir) = find(run_dir) else {
        bail!(
            "--resume: no checkpoint in {} (nothing to resume)",
            run_dir.display()
        );
    };
    let state_path = dir.join(STATE_FILE);
    let state: LoopState = serde_json::from_slice(
        &std::fs::read(&state_path).with_context(|| format!("reading {}", state_path.display()))?,
    )
    .with_context(|| format!("{} is not a valid loop state", state_path.display()))?;
    let model_path = dir.join(MODEL_FILE);
    let model = model
        .try_load_file(&model_path)
        .map_err(|err| anyhow::anyhow!("loading {}: {err:?}", model_path.display()))?;
    let optimizer_path = dir.join(OPTIMIZER_FILE);
    let optimizer = optimizer
        .load(&optimizer_path)
        .map_err(|err| anyhow::anyhow!("loading {}: {err:?}", optimizer_path.display()))?;
    let average_path = dir.join(AVERAGE_FILE);
    let average = average
        .map(|template| {
            template
                .try_load_file(&average_path)
                .map_err(|err| anyhow::anyhow!("loading {}: {err:?}", average_path.display()))
        })
        .transpose()?;
    Ok(Restored {
        model,
        optimizer,
        average,
        state,
    })
}
