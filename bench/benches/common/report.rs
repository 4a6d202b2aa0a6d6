//! Statistics over repetitions, and the tables the bench prints.

use std::time::Duration;

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// The nearest-rank `percentile` (0..=100) of `samples`.
pub fn percentile(samples: &[u64], percentile: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (percentile / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Seconds of a duration, as `f64`.
pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// A time in nanoseconds, in the unit that keeps three significant digits.
pub fn nanos(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.2} µs", ns / 1e3),
        ns if ns < 1e9 => format!("{:.1} ms", ns / 1e6),
        ns => format!("{:.2} s", ns / 1e9),
    }
}

/// A whole number with thousands separators: `1,234,567`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// `value ÷ baseline` as `"3.40x"`, or `"-"` when there is no baseline figure.
pub fn ratio(value: f64, baseline: Option<f64>) -> String {
    match baseline {
        Some(baseline) if baseline > 0.0 => format!("{:.2}x", value / baseline),
        _ => "-".to_owned(),
    }
}

/// A table: a header row and rows of cells; the first column left-aligned, the rest right.
#[derive(Debug)]
pub struct Table {
    /// The column titles.
    header: Vec<String>,
    /// The rows, each as wide as the header.
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|title| (*title).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are left empty.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        let columns = self.header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row[column].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: &[String]| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, &width))| match column {
                    0 => format!("{cell:<width$}"),
                    _ if column == columns - 1 => cell.clone(), // the note: ragged
                    _ => format!("{cell:>width$}"),
                })
                .collect();
            println!("  {}", cells.join("   ").trim_end());
        };
        line(&self.header);
        let rule: Vec<String> = widths.iter().map(|&width| "-".repeat(width)).collect();
        println!("  {}", rule.join("   "));
        for row in &self.rows {
            line(row);
        }
        println!();
    }
}
