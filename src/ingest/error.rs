//! Ingest errors. Bad input names the file, the place in it, the column and what was
//! expected, so the person holding the export can fix it; the store is never changed by it.

use std::fmt;
use std::path::PathBuf;

use crate::store::{ReconciliationLine, StoreError};

use super::mapping::MappingError;

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// A CSV record: the physical line it starts on (the header is line 1) and its number
    /// among the data rows (the first row after the header is 1).
    Row { line: u64, row: u64 },
    /// The header line (line 1): a column is missing or the format is unknown.
    Header,
    /// A byte offset, for damage below the row level (a truncated gzip stream).
    Byte(u64),
}

/// Input that cannot be ingested as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    pub file: PathBuf,
    pub position: Option<Position>,
    pub column: Option<String>,
    pub problem: String,
    pub expected: String,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match &self.position {
            Some(Position::Row { line, row }) => write!(f, ", line {line} (data row {row})")?,
            Some(Position::Header) => write!(f, ", line 1 (the header)")?,
            Some(Position::Byte(offset)) => write!(f, ", byte {offset}")?,
            None => {}
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}; expected {}", self.problem, self.expected)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("bad input, nothing was ingested: {0}")]
    BadInput(Box<BadInput>),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading {path} failed: {message}")]
    Engine { path: PathBuf, message: String },
    #[error("{}", unreconciled_message(.0))]
    Unreconciled(Vec<ReconciliationLine>),
    #[error(transparent)]
    Store(StoreError),
}

impl From<BadInput> for IngestError {
    fn from(bad: BadInput) -> Self {
        IngestError::BadInput(Box::new(bad))
    }
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unreconciled(lines) => IngestError::Unreconciled(lines),
            other => IngestError::Store(other),
        }
    }
}

impl IngestError {
    /// Errors the person running the ingest can fix in the input (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, IngestError::BadInput(_) | IngestError::Mapping(_))
    }
}

fn unreconciled_message(lines: &[ReconciliationLine]) -> String {
    let mut message =
        String::from("the stored figures do not match the export's own totals, so the ingest was rolled back:");
    for line in lines.iter().filter(|l| !l.balances()) {
        message.push_str(&format!(
            "\n  {} {} {}: export billed {} effective {}, stored billed {} effective {}",
            line.source,
            line.billing_period,
            line.currency,
            line.export.billed_cost,
            line.export.effective_cost,
            line.stored.billed_cost,
            line.stored.effective_cost
        ));
    }
    message.push_str("\nThis is a finopsd bug; please report it with the export's format and size.");
    message
}
