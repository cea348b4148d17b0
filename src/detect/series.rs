//! Daily series from a CSV file (`series_id,date,cost`), for replaying history through the
//! detector with `finopsd anomalies scan`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{path}, row {row}, column `{column}`: {problem}")]
    Row { path: PathBuf, row: u64, column: &'static str, problem: String },
}

const COLUMNS: [&str; 3] = ["series_id", "date", "cost"];

/// Every series of the file by id, one value per day from its first day to its last (days
/// the file leaves out cost nothing).
pub fn read_series_csv(path: &Path) -> Result<BTreeMap<String, Vec<(NaiveDate, f64)>>, SeriesError> {
    let file = std::fs::File::open(path).map_err(|source| SeriesError::Io { path: path.into(), source })?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(file);
    let headers = reader.headers().map_err(|e| SeriesError::File { path: path.into(), problem: e.to_string() })?;
    let mut positions = [0usize; 3];
    for (position, column) in positions.iter_mut().zip(COLUMNS) {
        *position = headers.iter().position(|h| h == column).ok_or_else(|| SeriesError::File {
            path: path.into(),
            problem: format!("the header has no `{column}` column (it needs series_id,date,cost)"),
        })?;
    }
    let mut days: BTreeMap<String, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        // Row numbers count the header as row 1, as a spreadsheet shows them.
        let row = index as u64 + 2;
        let bad = |column: &'static str, problem: String| SeriesError::Row { path: path.into(), row, column, problem };
        let record = record.map_err(|e| bad("series_id", e.to_string()))?;
        let field = |i: usize| record.get(positions[i]).unwrap_or("");
        let id = field(0);
        if id.is_empty() {
            return Err(bad("series_id", "is empty".into()));
        }
        let date: NaiveDate =
            field(1).parse().map_err(|_| bad("date", format!("`{}` is not a date (YYYY-MM-DD)", field(1))))?;
        let cost: f64 = field(2)
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite())
            .ok_or_else(|| bad("cost", format!("`{}` is not a number", field(2))))?;
        if days.entry(id.to_string()).or_default().insert(date, cost).is_some() {
            return Err(bad("date", format!("series `{id}` has {date} twice")));
        }
    }
    Ok(days
        .into_iter()
        .map(|(id, costs)| {
            let (first, last) =
                (*costs.keys().next().expect("a series has a day"), *costs.keys().last().expect("a series has a day"));
            let filled = first
                .iter_days()
                .take_while(|d| *d <= last)
                .map(|d| (d, costs.get(&d).copied().unwrap_or(0.0)))
                .collect();
            (id, filled)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_read_by_id_with_missing_days_at_zero_and_bad_rows_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("series.csv");
        std::fs::write(&path, "date,series_id,cost\n2025-01-01,a,10\n2025-01-03,a,12.5\n2025-01-01,b,1\n").unwrap();
        let series = read_series_csv(&path).unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(series["a"], vec![(day("2025-01-01"), 10.0), (day("2025-01-02"), 0.0), (day("2025-01-03"), 12.5)]);
        assert_eq!(series["b"], vec![(day("2025-01-01"), 1.0)]);

        std::fs::write(&path, "series_id,date,cost\na,2025-01-01,10\na,2025-13-01,3\n").unwrap();
        let err = read_series_csv(&path).unwrap_err().to_string();
        assert!(err.contains("series.csv, row 3, column `date`") && err.contains("2025-13-01"), "{err}");
        std::fs::write(&path, "series_id,date,cost\na,2025-01-01,ten\n").unwrap();
        let err = read_series_csv(&path).unwrap_err().to_string();
        assert!(err.contains("row 2, column `cost`") && err.contains("`ten`"), "{err}");
        std::fs::write(&path, "series,date,cost\n").unwrap();
        let err = read_series_csv(&path).unwrap_err().to_string();
        assert!(err.contains("no `series_id` column"), "{err}");
    }
}
