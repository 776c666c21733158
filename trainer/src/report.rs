//! `eval`: accuracy, per-class accuracy, the confusion matrix, the report's per-image log and a
//! grid of misclassified test images.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use cifar_model::preprocess::planar_to_rgb;
use serde::Serialize;

use crate::data::Dataset;
use crate::evaluate::Predictions;
use crate::fsutil::write_atomic;
use crate::plot;

pub const LOG_FILE: &str = "predictions.log";
pub const CONFUSION_JSON: &str = "confusion.json";
pub const CONFUSION_PNG: &str = "confusion.png";
pub const MISCLASSIFIED_PNG: &str = "misclassified.png";
pub const SUMMARY_JSON: &str = "summary.json";
/// At most this many images in the misclassified grid.
pub const GRID_LIMIT: usize = 100;

#[derive(Serialize)]
pub struct Confusion<'a> {
    pub class_names: &'a [String],
    /// `matrix[true][predicted]`.
    pub matrix: Vec<Vec<usize>>,
    pub per_class_accuracy: Vec<Option<f64>>,
    pub accuracy: f64,
    pub images: usize,
}

/// `summary.json` of `eval`.
#[derive(Serialize)]
pub struct EvalSummary {
    /// The weights file as given on the command line.
    pub weights: String,
    /// The test-time augmentation the accuracy was measured with.
    pub tta: cifar_model::Tta,
    pub test: SplitSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<SplitSummary>,
}

#[derive(Serialize)]
pub struct SplitSummary {
    pub accuracy: f64,
    pub loss: f64,
    pub images: usize,
    pub correct: usize,
}

/// The report's log: one `[prediction][label][correct]` line per image, class indices and
/// `True`/`False` as the PyTorch report printed them.
pub fn prediction_log(predictions: &Predictions) -> String {
    let mut log = String::with_capacity(predictions.len() * 16);
    for index in 0..predictions.len() {
        let predicted = predictions.predicted(index);
        let label = predictions.labels[index] as usize;
        let correct = if predicted == label { "True" } else { "False" };
        let _ = writeln!(log, "[{predicted}][{label}][{correct}]");
    }
    log
}

pub fn split_summary(predictions: &Predictions) -> SplitSummary {
    SplitSummary {
        accuracy: predictions.accuracy(),
        loss: predictions.loss(),
        images: predictions.len(),
        correct: predictions.correct(),
    }
}

/// Prints and writes everything `eval` produces for the test set. Returns the files written.
pub fn write_test_report(
    predictions: &Predictions,
    data: &Dataset,
    class_names: &[String],
    out: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let confusion = Confusion {
        class_names,
        matrix: predictions.confusion(),
        per_class_accuracy: predictions.per_class_accuracy(),
        accuracy: predictions.accuracy(),
        images: predictions.len(),
    };
    print_confusion(&confusion);

    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        write_atomic(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    write(LOG_FILE, prediction_log(predictions).as_bytes())?;
    write(
        CONFUSION_JSON,
        serde_json::to_string_pretty(&confusion)?.as_bytes(),
    )?;

    plot::confusion_matrix(&confusion.matrix, class_names, &out.join(CONFUSION_PNG))?;
    written.push(out.join(CONFUSION_PNG));

    let misclassified: Vec<_> = (0..predictions.len())
        .filter(|&i| predictions.predicted(i) != predictions.labels[i] as usize)
        .take(GRID_LIMIT)
        .map(|i| {
            let predicted = predictions.predicted(i);
            let caption = format!(
                "{} ({:.0}%) / {}",
                class_names[predicted],
                100.0 * predictions.probabilities.row(i)[predicted],
                class_names[predictions.labels[i] as usize]
            );
            (planar_to_rgb(data.image(i)), caption)
        })
        .collect();
    let total_wrong = predictions.len() - predictions.correct();
    let title = format!(
        "Misclassified test images: predicted (confidence) / true — first {} of {}",
        misclassified.len(),
        total_wrong
    );
    plot::image_grid(&misclassified, 10, 3, &title, &out.join(MISCLASSIFIED_PNG))?;
    written.push(out.join(MISCLASSIFIED_PNG));
    Ok(written)
}

fn print_confusion(confusion: &Confusion) {
    let names = confusion.class_names;
    println!("confusion matrix (rows: true class, columns: predicted):");
    let mut header = format!("{:>12}", "");
    for name in names {
        let _ = write!(header, " {:>6}", name.chars().take(6).collect::<String>());
    }
    println!("{header}");
    for (row, counts) in confusion.matrix.iter().enumerate() {
        let mut line = format!("{:>12}", names[row]);
        for count in counts {
            let _ = write!(line, " {count:>6}");
        }
        match confusion.per_class_accuracy[row] {
            Some(accuracy) => println!("{line}   {:.2}%", 100.0 * accuracy),
            None => println!("{line}   (no images)"),
        }
    }
}
