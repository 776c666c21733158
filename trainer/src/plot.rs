//! PNG figures: training curves (like the report's accuracy-per-epoch plot), the confusion
//! matrix, and a labelled grid of images.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::fsutil::write_atomic_with;
use crate::metrics::EpochRecord;

const FONT: &str = "sans-serif";

/// plotters draws text with fonts we embed (DejaVu Sans), so plots need no system fonts.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| ())
            .expect("the embedded DejaVu font parses");
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| ())
            .expect("the embedded DejaVu font parses");
    });
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("drawing failed: {error:?}")
}

/// A named series of `(epoch, value)` points in one colour.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// Accuracy (left) and loss (right) per epoch, train and test.
pub fn training_curves(records: &[EpochRecord], path: &Path) -> Result<()> {
    register_fonts();
    write_atomic_with(path, |temp| {
        let root = BitMapBackend::new(temp, (1200, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (left, right) = root.split_horizontally(600);
        let last_epoch = records.iter().map(|r| r.epoch).max().unwrap_or(1).max(1);
        let series = |get: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            records.iter().map(|r| (r.epoch as f64, get(r))).collect()
        };
        let accuracy = [
            ("train", series(|r| 100.0 * r.train_accuracy), BLUE),
            ("test", series(|r| 100.0 * r.test_accuracy), RED),
        ];
        let loss = [
            ("train", series(|r| r.train_loss), BLUE),
            ("test", series(|r| r.test_loss), RED),
        ];
        let max_loss = loss
            .iter()
            .flat_map(|(_, points, _)| points.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.1f64, f64::max);
        draw_lines(
            &left,
            "Accuracy per epoch",
            "accuracy (%)",
            last_epoch,
            0.0..100.0,
            &accuracy,
        )?;
        draw_lines(
            &right,
            "Loss per epoch",
            "cross-entropy",
            last_epoch,
            0.0..max_loss * 1.05,
            &loss,
        )?;
        root.present().map_err(plot_error)?;
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}

fn draw_lines(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    last_epoch: usize,
    y_range: std::ops::Range<f64>,
    lines: &[Line],
) -> Result<()> {
    let x_start = if last_epoch > 1 { 1.0 } else { 0.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x_start..last_epoch as f64, y_range)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .label_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    for (name, points, color) in lines {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Heat map of `matrix[true][predicted]` with counts in the cells.
pub fn confusion_matrix(matrix: &[Vec<usize>], class_names: &[String], path: &Path) -> Result<()> {
    register_fonts();
    let classes = matrix.len();
    let cell = 56i32;
    let (left, top) = (120i32, 70i32);
    let width = (left + cell * classes as i32 + 20) as u32;
    let height = (top + cell * classes as i32 + 50) as u32;
    write_atomic_with(path, |temp| {
        let root = BitMapBackend::new(temp, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |size: u32| TextStyle::from((FONT, size).into_font()).color(&BLACK);
        root.draw_text(
            "Confusion matrix (rows: true class, columns: predicted)",
            &text(18),
            (10, 10),
        )
        .map_err(plot_error)?;
        for (row, counts) in matrix.iter().enumerate() {
            let total = counts.iter().sum::<usize>().max(1) as f64;
            let y = top + row as i32 * cell;
            root.draw_text(&class_names[row], &text(14), (8, y + cell / 2 - 7))
                .map_err(plot_error)?;
            for (column, &count) in counts.iter().enumerate() {
                let x = left + column as i32 * cell;
                let share = count as f64 / total;
                let fill = if row == column {
                    RGBColor(
                        255 - (share * 200.0) as u8,
                        255 - (share * 90.0) as u8,
                        255 - (share * 200.0) as u8,
                    )
                } else {
                    RGBColor(
                        255,
                        255 - (share * 600.0).min(200.0) as u8,
                        255 - (share * 600.0).min(200.0) as u8,
                    )
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    fill.filled(),
                ))
                .map_err(plot_error)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    BLACK.mix(0.2),
                ))
                .map_err(plot_error)?;
                root.draw_text(&count.to_string(), &text(13), (x + 6, y + cell / 2 - 7))
                    .map_err(plot_error)?;
            }
        }
        let label_y = top + classes as i32 * cell + 8;
        for (column, name) in class_names.iter().enumerate() {
            let x = left + column as i32 * cell + 2;
            let short: String = name.chars().take(6).collect();
            root.draw_text(&short, &text(12), (x, label_y + (column as i32 % 2) * 16))
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Draws images (scaled up ×`scale`) in a grid with a caption line under each.
pub fn image_grid(
    images: &[(RgbImage, String)],
    columns: usize,
    scale: u32,
    title: &str,
    path: &Path,
) -> Result<()> {
    register_fonts();
    let columns = columns.max(1);
    let rows = images.len().div_ceil(columns).max(1);
    let tile = 32 * scale;
    let (cell_w, cell_h) = (tile + 60, tile + 24);
    let (width, height) = (columns as u32 * cell_w + 10, rows as u32 * cell_h + 40);
    write_atomic_with(path, |temp| {
        let root = BitMapBackend::new(temp, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |size: u32| TextStyle::from((FONT, size).into_font()).color(&BLACK);
        root.draw_text(title, &text(16), (8, 8))
            .map_err(plot_error)?;
        for (index, (image, caption)) in images.iter().enumerate() {
            let x0 = 5 + (index % columns) as u32 * cell_w + 30;
            let y0 = 34 + (index / columns) as u32 * cell_h;
            for (px, py, pixel) in image.enumerate_pixels() {
                let color = RGBColor(pixel.0[0], pixel.0[1], pixel.0[2]);
                let (x, y) = ((x0 + px * scale) as i32, (y0 + py * scale) as i32);
                root.draw(&Rectangle::new(
                    [(x, y), (x + scale as i32, y + scale as i32)],
                    color.filled(),
                ))
                .map_err(plot_error)?;
            }
            root.draw_text(
                caption,
                &text(11),
                ((x0 as i32) - 28, (y0 + tile + 4) as i32),
            )
            .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}
