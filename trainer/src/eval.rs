//! `eval`: a weights file on a data set's test split (and its training split on request), with
//! the report's outputs (`report`) and `summary.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use cifar_model::{Classifier, ModelInfo, Tta};

use crate::data::{Cifar10, Dataset, Limits};
use crate::evaluate::{Predictions, check_cifar10_classes, predict_dataset};
use crate::fsutil::write_atomic;
use crate::report::{self, EvalSummary};
use crate::{training, weights_file};

pub struct EvalRequest {
    pub weights: PathBuf,
    pub data: PathBuf,
    pub limits: Limits,
    pub out: PathBuf,
    /// Also measure the training split.
    pub train: bool,
    pub tta: Tta,
    pub batch_size: usize,
    pub device: Device,
    pub progress: bool,
}

pub fn run(request: EvalRequest) -> Result<()> {
    let device = &request.device;
    let (model, info) = weights_file::load(&request.weights, device)?;
    check_cifar10_classes(info.config.num_classes())
        .with_context(|| format!("weights {}", request.weights.display()))?;
    let model = model.fold_batchnorm();
    let mut limits = request.limits;
    if !request.train {
        limits.train = Some(0);
    }
    let data = Cifar10::load(&request.data, limits)?;
    let evaluate =
        |split: &Dataset, name: &str| evaluate_split(&model, split, &info, &request, name);
    let test = evaluate(&data.test, "test")?;
    println!(
        "test accuracy: {:.2}% ({}/{}), loss {:.4} (TTA: {})",
        100.0 * test.accuracy(),
        test.correct(),
        test.len(),
        test.loss(),
        request.tta
    );
    let mut written =
        report::write_test_report(&test, &data.test, &info.class_names, &request.out)?;
    let train = if request.train {
        let train = evaluate(&data.train, "train")?;
        println!(
            "train accuracy: {:.2}% ({}/{})",
            100.0 * train.accuracy(),
            train.correct(),
            train.len()
        );
        Some(report::split_summary(&train))
    } else {
        None
    };
    let summary = EvalSummary {
        weights: request.weights.display().to_string(),
        tta: request.tta,
        test: report::split_summary(&test),
        train,
    };
    let summary_path = request.out.join(report::SUMMARY_JSON);
    write_atomic(
        &summary_path,
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    written.push(summary_path);
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `predict_dataset` over one split, with a progress bar named `name`.
fn evaluate_split(
    model: &impl Classifier,
    split: &Dataset,
    info: &ModelInfo,
    request: &EvalRequest,
    name: &str,
) -> Result<Predictions> {
    let bar = training::progress_bar(request.progress, split.len() as u64, name);
    let predictions = predict_dataset(
        model,
        split,
        &info.normalization,
        request.batch_size,
        request.tta,
        &request.device,
        Some(&bar),
    );
    bar.finish_and_clear();
    predictions
}
