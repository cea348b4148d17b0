//! Finding the exact row, column and value behind a refused CSV export.
//!
//! The fast reader (polars) knows that a file is bad but not always where. When it refuses a
//! file, or its output breaks a rule, this pass reads the same file row by row with the same
//! rules and reports the first offending field. It runs only on failure, so it costs nothing
//! on good files.

use chrono::NaiveDate;

use super::error::{BadInput, IngestError, Position};
use super::export_file::ExportFile;
use super::mapping::ExportMapping;
use super::tags::TagFilter;
use crate::focus::{CurrencyPolicy, FocusColumn};

/// The rules a row must satisfy; the fast reader enforces the same ones.
pub struct RowRules<'a> {
    pub mapping: &'a ExportMapping,
    pub header: &'a [String],
    pub currencies: &'a CurrencyPolicy,
    pub tags: &'a TagFilter,
}

struct CheckedColumn<'a> {
    index: usize,
    name: &'a str,
    focus: FocusColumn,
    required: bool,
    zero_if_null: bool,
}

/// What a value of a FOCUS column must look like, or `Err((problem, expected))`.
pub fn check_value(
    focus: FocusColumn,
    value: &str,
    required: bool,
    zero_if_null: bool,
    rules: &RowRules<'_>,
) -> Result<(), (String, String)> {
    if value.is_empty() {
        return if required && !zero_if_null {
            Err(("the value is empty".into(), format!("a value: {focus} is required on every row")))
        } else {
            Ok(())
        };
    }
    match focus {
        FocusColumn::ChargePeriodStart | FocusColumn::BillingPeriodStart if parse_date_prefix(value).is_none() => {
            Err((
                format!("`{value}` is not a date"),
                "an ISO 8601 date or UTC date-time such as 2024-03-01T00:00:00Z".into(),
            ))
        }
        FocusColumn::BilledCost
        | FocusColumn::EffectiveCost
        | FocusColumn::ListCost
        | FocusColumn::ConsumedQuantity
            if !value.parse::<f64>().is_ok_and(f64::is_finite) =>
        {
            Err((format!("`{value}` is not a number"), "a decimal number such as 12.34, -0.5 or 5.6E-05".into()))
        }
        FocusColumn::BillingCurrency if !rules.currencies.accepts(value) => Err((
            format!("`{value}` is not a known currency code"),
            "an ISO 4217 code such as USD or EUR (list virtual currencies in ingest.extra_currencies)".into(),
        )),
        FocusColumn::Tags => rules
            .tags
            .kept(value)
            .map(drop)
            .map_err(|problem| (problem, "a JSON object such as {\"team\": \"payments\"}".into())),
        _ => Ok(()),
    }
}

/// The calendar date a FOCUS date-time starts with (`2024-03-01T…` → 2024-03-01).
pub fn parse_date_prefix(value: &str) -> Option<NaiveDate> {
    let prefix = value.get(..10)?;
    NaiveDate::parse_from_str(prefix, "%Y-%m-%d").ok()
}

/// The first row of `file` that breaks `rules`, or `None` if every row passes.
pub fn first_bad_row(file: &ExportFile, rules: &RowRules<'_>) -> Result<Option<BadInput>, IngestError> {
    let columns: Vec<CheckedColumn<'_>> = rules
        .mapping
        .columns
        .iter()
        .filter_map(|(focus, source)| {
            let name = rules.mapping.resolve(*focus, rules.header)?;
            let index = rules.header.iter().position(|h| h == name)?;
            Some(CheckedColumn {
                index,
                name,
                focus: *focus,
                required: source.required,
                zero_if_null: source.zero_if_null,
            })
        })
        .collect();
    let (text, consumed) = file.csv_text()?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text);
    let mut record = csv::ByteRecord::new();
    let bad = |position, column: Option<&str>, problem: String, expected: String| {
        Some(BadInput { file: file.path.clone(), position, column: column.map(String::from), problem, expected })
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(err) => {
                let (position, problem, expected) = match err.kind() {
                    csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
                        let position = pos.as_ref().map(|p| Position::Row { line: p.line(), row: p.record() });
                        (
                            position,
                            format!("the row has {len} fields"),
                            format!("{expected_len} fields, one per header column (is a quote or separator missing?)"),
                        )
                    }
                    csv::ErrorKind::Io(io) => (
                        Some(Position::Byte(consumed.get())),
                        format!("the file cannot be read past this point: {io}"),
                        "a complete file (a truncated download or copy?)".into(),
                    ),
                    other => (Some(Position::Byte(consumed.get())), format!("{other:?}"), "well-formed CSV".into()),
                };
                return Ok(bad(position, None, problem, expected));
            }
        }
        let position = record.position().map(|p| Position::Row { line: p.line(), row: p.record() });
        for column in &columns {
            let raw = record.get(column.index).unwrap_or_default();
            let Ok(value) = std::str::from_utf8(raw) else {
                return Ok(bad(
                    position,
                    Some(column.name),
                    "the value is not valid UTF-8 text".into(),
                    "UTF-8 text (re-export the file as UTF-8)".into(),
                ));
            };
            if let Err((problem, expected)) =
                check_value(column.focus, value.trim(), column.required, column.zero_if_null, rules)
            {
                return Ok(bad(position, Some(column.name), problem, expected));
            }
        }
    }
}
