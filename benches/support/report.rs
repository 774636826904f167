//! The report a benchmark prints: Markdown tables and number formats.

/// A table, printed as Markdown.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Default for Table {
    /// The table of measures: `| measure | figure | goal |`.
    fn default() -> Table {
        Table::with_header(&["measure", "figure", "goal"])
    }
}

impl Table {
    /// An empty table with these column titles.
    pub fn with_header(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of a table of measures: what is measured, the figure, and the goal with its
    /// verdict.
    pub fn add(
        &mut self,
        measure: impl Into<String>,
        figure: impl Into<String>,
        goal: impl Into<String>,
    ) {
        self.rows
            .push(vec![measure.into(), figure.into(), goal.into()]);
    }

    /// Adds a row of any table.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table, after an empty line.
    pub fn print(&self) {
        println!();
        println!("| {} |", self.header.join(" | "));
        println!("|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
    }
}

/// `met`, or `**not met**`.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// Bytes as whole MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

/// A number rounded to a whole, with thousands separated by commas.
pub fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
