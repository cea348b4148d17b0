//! Appended exports read more than once. GCP appends billing rows with an increasing
//! `export_time`, and saves of the table that overlap hold some rows twice: a row at or
//! below the highest watermark of an earlier file of the same ingest (per billing account)
//! was read already. Every reader (JSON lines, CSV, Parquet) passes its rows through a gate.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime};

use super::row_layout::{RowLayout, RowValues};

/// The highest watermark read so far, per billing account, in [`watermark_key`] form.
pub type Watermarks = HashMap<String, String>;

/// Decides, row by row, what an earlier file of the ingest already gave.
pub struct WatermarkGate<'a> {
    earlier: &'a Watermarks,
    /// The highest marks of the rows let through.
    latest: Watermarks,
    skipped: u64,
    /// The row's account and mark as read, and the last decided ones with the decision:
    /// an export's rows come in runs of one mark, decided (parsed, compared) once per run.
    account: Vec<u8>,
    mark: Vec<u8>,
    decided: Option<(Vec<u8>, Vec<u8>, bool)>,
}

impl<'a> WatermarkGate<'a> {
    pub fn new(earlier: &'a Watermarks) -> Self {
        WatermarkGate {
            earlier,
            latest: Watermarks::new(),
            skipped: 0,
            account: Vec::new(),
            mark: Vec::new(),
            decided: None,
        }
    }

    /// Whether the row is new to this ingest; always so when the layout has no watermark.
    pub fn admits(&mut self, layout: &RowLayout, row: &mut impl RowValues) -> bool {
        if !layout.watermark(row, &mut self.account, &mut self.mark) {
            return true;
        }
        let admitted = match &self.decided {
            // The same mark again: raising the latest one to it would change nothing.
            Some((account, mark, admitted)) if *account == self.account && *mark == self.mark => *admitted,
            _ => {
                let account = String::from_utf8_lossy(&self.account).into_owned();
                let mark = watermark_key(&String::from_utf8_lossy(&self.mark));
                let admitted = self.earlier.get(&account).is_none_or(|after| mark > *after);
                if admitted {
                    raise(&mut self.latest, account, mark);
                }
                self.decided = Some((self.account.clone(), self.mark.clone(), admitted));
                admitted
            }
        };
        if !admitted {
            self.skipped += 1;
        }
        admitted
    }

    /// Takes in what a gate over another part of the same file saw.
    pub fn merge(&mut self, other: WatermarkGate<'_>) {
        self.skipped += other.skipped;
        for (account, mark) in other.latest {
            raise(&mut self.latest, account, mark);
        }
    }

    /// The file is read: its marks count for the files after it.
    pub fn finish(self, file: &Path) -> Watermarks {
        if self.skipped > 0 {
            tracing::info!(file = %file.display(), rows = self.skipped, "rows already read from an earlier file skipped");
        }
        self.latest
    }
}

/// Raises each account's mark in `into` to the ones in `marks`.
pub fn raise_all(into: &mut Watermarks, marks: Watermarks) {
    for (account, mark) in marks {
        raise(into, account, mark);
    }
}

fn raise(into: &mut Watermarks, account: String, mark: String) {
    let known = into.entry(account).or_default();
    if mark > *known {
        *known = mark;
    }
}

/// A watermark in a form that sorts the same whichever encoding wrote it: a time
/// (`2025-03-02T01:00:00Z` in JSON, `2025-03-02 01:00:00 UTC` in CSV, a Parquet timestamp
/// cast to text) becomes `YYYY-MM-DD HH:MM:SS.ffffff` in UTC; anything else stays as it is.
pub fn watermark_key(text: &str) -> String {
    let text = text.trim();
    let utc = text.strip_suffix(" UTC").unwrap_or(text);
    let parsed = DateTime::parse_from_rfc3339(utc)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(utc, "%Y-%m-%dT%H:%M:%S%.f"));
    match parsed {
        Ok(time) => time.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_from_every_encoding_compare_as_times() {
        let json = watermark_key("2025-03-02T01:00:00Z");
        assert_eq!(json, "2025-03-02 01:00:00.000000");
        assert_eq!(watermark_key("2025-03-02 01:00:00 UTC"), json);
        assert_eq!(watermark_key("2025-03-02 01:00:00.000000"), json);
        assert_eq!(watermark_key("2025-03-02T03:00:00+02:00"), json);
        assert!(watermark_key("2025-03-02 01:00:00.5") > json);
        assert_eq!(watermark_key("batch-7"), "batch-7");
    }
}
