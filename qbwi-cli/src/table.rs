//! Tables that fit a terminal: columns as wide as their widest cell, and the last column cut to
//! what is left of the terminal's width (`COLUMNS`, else 100), with `…` where it was cut.

/// A table being filled.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|cell| (*cell).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, at most `width` characters a line.
    pub fn render(&self, width: usize) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self
            .header
            .iter()
            .map(|cell| cell.chars().count())
            .collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
        // The last column gets what the others leave.
        let before: usize = widths[..columns - 1].iter().map(|w| w + 2).sum();
        widths[columns - 1] = widths[columns - 1].min(width.saturating_sub(before).max(8));
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (index, width) in widths.iter().enumerate() {
                let cell = cells.get(index).map_or("", String::as_str);
                let cell = cut(cell, *width);
                if index + 1 == columns {
                    out.push_str(&cell);
                } else {
                    out.push_str(&format!("{cell:<width$}  "));
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = line(&self.header);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// `text` in at most `width` characters, on one line.
fn cut(text: &str, width: usize) -> String {
    let text = text.replace(['\n', '\r', '\t'], " ");
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The terminal's width: `COLUMNS`, else 100.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.parse().ok())
        .filter(|&columns: &usize| columns >= 40)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_cells_and_the_last_is_cut_to_the_width() {
        let mut table = Table::new(&["id", "error"]);
        table.row(vec![
            "7".into(),
            "smtp 550: mailbox unavailable\nretry later".into(),
        ]);
        let narrow = table.render(20);
        assert_eq!(narrow, "id  error\n7   smtp 550: mailb…\n");
        assert!(narrow.lines().all(|line| line.chars().count() <= 20));
        assert_eq!(
            table.render(100),
            "id  error\n7   smtp 550: mailbox unavailable retry later\n"
        );
    }
}
