//! Results of a scenario: tables, target checks and notes, as JSON and as Markdown.

use serde::Serialize;

/// A table of results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    /// What it shows.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with headings.
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("**{}**\n\n| {} |\n|", self.title, self.columns.join(" | "));
        for _ in &self.columns {
            out.push_str(" --- |");
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

/// A target and what was measured against it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The target, in words (`overhead p99 ≤ 20 ms at 100/s`).
    pub target: String,
    /// The figure measured.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

/// What one scenario reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Its parameters, in words.
    pub parameters: String,
    /// Result tables.
    pub tables: Vec<Table>,
    /// Targets checked.
    pub checks: Vec<Check>,
    /// Remarks and caveats.
    pub notes: Vec<String>,
    /// What went wrong during the run: refused requests, failed deployments, missing events.
    pub problems: Vec<String>,
}

impl ScenarioReport {
    /// A report for `name` with its parameters.
    pub fn new(name: &str, parameters: impl Into<String>) -> ScenarioReport {
        ScenarioReport {
            name: name.to_owned(),
            parameters: parameters.into(),
            ..ScenarioReport::default()
        }
    }

    /// Records a target check.
    pub fn check(&mut self, target: impl Into<String>, measured: impl Into<String>, met: bool) {
        self.checks.push(Check {
            target: target.into(),
            measured: measured.into(),
            met,
        });
    }

    /// The report in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n{} ({:.0} s)\n\n", self.name, self.parameters, self.seconds);
        for t in &self.tables {
            out.push_str(&t.markdown());
            out.push('\n');
        }
        if !self.checks.is_empty() {
            let mut t = Table::new("Targets", &["target", "measured", "met"]);
            for c in &self.checks {
                t.row(vec![
                    c.target.clone(),
                    c.measured.clone(),
                    if c.met { "yes".into() } else { "**no**".into() },
                ]);
            }
            out.push_str(&t.markdown());
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("- {n}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("- problem: {p}\n"));
        }
        if !self.notes.is_empty() || !self.problems.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_renders_as_markdown_with_a_separator_per_column() {
        let mut t = Table::new("T", &["a", "b"]);
        t.row(vec!["1".into(), "2".into()]);
        assert_eq!(t.markdown(), "**T**\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }

    #[test]
    fn missed_targets_are_marked_in_bold() {
        let mut r = ScenarioReport::new("x", "p");
        r.check("t", "m", false);
        assert!(r.markdown().contains("| t | m | **no** |"));
    }
}
