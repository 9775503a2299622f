//! The results of a run: one row per measurement (its value and spread,
//! the baseline it is compared with and the ratio, the target and whether
//! it is met), notes for comparisons that were skipped, and the output as
//! text, Markdown and JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stats::{self, Summary};

/// A measured value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Value {
    /// Timings.
    Time(Summary),
    /// A memory size in bytes.
    Bytes {
        /// The size.
        bytes: u64,
    },
    /// CPU clock ticks (and the tick rate).
    Ticks {
        /// Ticks counted.
        ticks: u64,
        /// Ticks per second on this machine.
        per_sec: u64,
    },
    /// Anything else, already formatted.
    Text {
        /// The text.
        text: String,
    },
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Time(s) => s.text(),
            Value::Bytes { bytes } => stats::bytes(*bytes),
            Value::Ticks { ticks, per_sec } => format!("{ticks} ticks (1 tick = 1/{per_sec} s)"),
            Value::Text { text } => text.clone(),
        }
    }
}

/// A comparison with a baseline measured in the same run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ratio {
    /// What the row is compared with.
    pub baseline: String,
    /// This row's median divided by the baseline's.
    pub ratio: f64,
}

/// A target and whether this run met it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// The target, as the issue states it.
    pub text: String,
    /// Whether it was met.
    pub met: bool,
}

/// One measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// The group it belongs to (`cli`, `merge`, …).
    pub section: String,
    /// What was measured.
    pub what: String,
    /// The value.
    pub value: Value,
    /// Ratios against baselines.
    pub ratios: Vec<Ratio>,
    /// The target, if any.
    pub target: Option<Target>,
}

impl Row {
    /// A row without ratio or target.
    pub fn new(section: &str, what: impl Into<String>, value: Value) -> Row {
        Row {
            section: section.to_owned(),
            what: what.into(),
            value,
            ratios: Vec::new(),
            target: None,
        }
    }

    /// A timing row.
    pub fn time(section: &str, what: impl Into<String>, s: Summary) -> Row {
        Row::new(section, what, Value::Time(s))
    }

    /// Adds a ratio of medians against `base`.
    pub fn vs(mut self, baseline: impl Into<String>, base: &Summary) -> Row {
        if let Value::Time(s) = &self.value {
            if base.median > 0.0 {
                self.ratios.push(Ratio {
                    baseline: baseline.into(),
                    ratio: s.median / base.median,
                });
            }
        }
        self
    }

    /// Adds a ratio given directly.
    pub fn ratio(mut self, baseline: impl Into<String>, ratio: f64) -> Row {
        self.ratios.push(Ratio {
            baseline: baseline.into(),
            ratio,
        });
        self
    }

    /// Sets the target.
    pub fn target(mut self, text: impl Into<String>, met: bool) -> Row {
        self.target = Some(Target {
            text: text.into(),
            met,
        });
        self
    }

    fn ratio_text(&self) -> String {
        self.ratios
            .iter()
            .map(|r| format!("{} vs {}", stats::ratio(r.ratio), r.baseline))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn target_text(&self) -> String {
        match &self.target {
            Some(t) => format!("{} {}", if t.met { "MET" } else { "MISSED" }, t.text),
            None => String::new(),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// `quick` or `full`.
    pub mode: String,
    /// The machine, as `uname -srm` and the CPU model say.
    pub machine: String,
    /// The measurements, in order.
    pub rows: Vec<Row>,
    /// Comparisons skipped and why, and other remarks.
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report for `mode`.
    pub fn new(mode: &str) -> Report {
        Report {
            mode: mode.to_owned(),
            machine: machine_description(),
            ..Report::default()
        }
    }

    /// Records a row and prints it at once.
    pub fn add(&mut self, row: Row) {
        let mut line = format!("  {:<58} {}", row.what, row.value.text());
        let r = row.ratio_text();
        if !r.is_empty() {
            let _ = write!(line, "  [{r}]");
        }
        let t = row.target_text();
        if !t.is_empty() {
            let _ = write!(line, "  {t}");
        }
        println!("{line}");
        self.rows.push(row);
    }

    /// Records a note and prints it at once.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  note: {text}");
        self.notes.push(text);
    }

    /// The report as Markdown tables, one per section.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Mode: {}. Machine: {}.\n", self.mode, self.machine);
        let mut section = None;
        for row in &self.rows {
            if section != Some(&row.section) {
                section = Some(&row.section);
                let _ = writeln!(
                    out,
                    "\n#### {}\n\n| measurement | median (p5, p95, n) | ratio | target |\n| --- | --- | --- | --- |",
                    row.section
                );
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.what,
                row.value.text(),
                row.ratio_text(),
                row.target_text()
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }

    /// Writes the Markdown and/or JSON files asked for.
    pub fn write(&self, markdown: Option<&Path>, json: Option<&Path>) -> anyhow::Result<()> {
        if let Some(p) = markdown {
            std::fs::write(p, self.markdown())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        if let Some(p) = json {
            let text = serde_json::to_string_pretty(self).context("cannot encode the report")?;
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
        Ok(())
    }

    /// Prints how many targets were met and missed.
    pub fn print_targets(&self) {
        let with: Vec<&Row> = self.rows.iter().filter(|r| r.target.is_some()).collect();
        if with.is_empty() {
            return;
        }
        println!("\nTargets:");
        for r in with {
            println!(
                "  {:<7} {} — {}",
                if r.target.as_ref().is_some_and(|t| t.met) {
                    "MET"
                } else {
                    "MISSED"
                },
                r.what,
                r.value.text()
            );
        }
    }
}

/// `Linux 6.1.0 x86_64, <CPU model>, N cores`.
fn machine_description() -> String {
    let uname = std::process::Command::new("uname")
        .arg("-srm")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{uname}, {cpu}, {cores} cores, load average at start {}",
        load_average()
    )
}

/// The 1-minute load average (`/proc/loadavg`), as text.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Samples;
    use std::time::Duration;

    fn summary(ms: &[u64]) -> Summary {
        let mut s = Samples::new();
        for m in ms {
            s.push(Duration::from_millis(*m));
        }
        s.summary().expect("samples were pushed")
    }

    #[test]
    fn ratios_are_of_medians_and_markdown_has_every_row() {
        let base = summary(&[1, 1, 1]);
        let row = Row::time("cli", "coffer status", summary(&[2, 2, 3]))
            .vs("/bin/true", &base)
            .target("< 3× /bin/true", true);
        assert!((row.ratios[0].ratio - 2.0).abs() < 1e-9);
        let mut report = Report::new("quick");
        report.rows.push(row);
        report.notes.push("rbw not installed".into());
        let md = report.markdown();
        assert!(md.contains("| coffer status | 2.00 ms"), "{md}");
        assert!(md.contains("2.00× vs /bin/true"), "{md}");
        assert!(md.contains("MET < 3× /bin/true"), "{md}");
        assert!(md.contains("- rbw not installed"), "{md}");
        let json = serde_json::to_value(&report).expect("a report encodes");
        assert_eq!(json["rows"][0]["value"]["kind"], "time");
    }
}
