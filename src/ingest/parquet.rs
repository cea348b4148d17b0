//! Reading a Parquet export with polars, a slice of rows at a time, into daily groups.
//!
//! Polars decodes the columns a fact needs, skipping the row groups outside the slice; the
//! rows then go through the same daily grouping as CSV rows (`groups`). Slices keep memory
//! flat: one polars pass over a whole file grew with the file.

use chrono::NaiveDate;
use polars::prelude::*;

use super::error::{BadInput, IngestError};
use super::export_file::ExportFile;
use super::groups::{ATTRIBUTE_TEXT, DailyGroups, GroupKey, KEY_DATES, KEY_TEXT, MONEY};
use super::mapping::ExportMapping;
use super::progress::RowCounter;
use crate::focus::FocusColumn;

/// Parquet money is a double; it becomes integer pico-units once per row (see `focus::money`).
const PICOS_PER_UNIT: f64 = 1e12;

/// Rows per slice.
pub const PARQUET_SLICE_ROWS: u32 = 1_000_000;

/// The column names and types of a Parquet export, and its row count, from its metadata.
pub fn parquet_layout(file: &ExportFile) -> Result<(Schema, u64), IngestError> {
    let layout = || -> PolarsResult<(Schema, u64)> {
        let schema = scan_parquet(file)?.collect_schema()?.as_ref().clone();
        let count = scan_parquet(file)?.select([len()]).collect()?;
        let rows = count.column("len")?.as_materialized_series().cast(&DataType::UInt64)?.u64()?.get(0);
        Ok((schema, rows.unwrap_or(0)))
    };
    layout().map_err(|err| parquet_error(file, &err))
}

fn scan_parquet(file: &ExportFile) -> PolarsResult<LazyFrame> {
    LazyFrame::scan_parquet(PlRefPath::new(file.path.to_string_lossy().as_ref()), ScanArgsParquet::default())
}

fn parquet_error(file: &ExportFile, err: &PolarsError) -> IngestError {
    BadInput {
        file: file.path.clone(),
        position: None,
        column: None,
        problem: format!("the Parquet file cannot be read: {err}"),
        expected: "a complete Parquet file with the export's columns and types".into(),
    }
    .into()
}

type Values<'a, T> = Box<dyn Iterator<Item = Option<T>> + 'a>;

/// How a date column of the grain arrives: typed (days since 1970) or as text.
enum DateValues<'a> {
    Days { values: Values<'a, i32>, last: Option<(i32, String)> },
    Text(Values<'a, &'a str>),
}

impl DateValues<'_> {
    /// Pushes the next row's date as the `YYYY-MM-DD` text CSV rows group on.
    fn push_next(&mut self, key: &mut GroupKey) {
        match self {
            DateValues::Days { values, last } => match values.next().flatten() {
                None => key.push(b""),
                Some(days) => {
                    // Rows come in runs of one day: format each run's date once.
                    if last.as_ref().is_none_or(|(d, _)| *d != days) {
                        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                        let date = epoch.checked_add_signed(chrono::Duration::days(days.into()));
                        *last = Some((days, date.map_or_else(|| days.to_string(), |d| d.to_string())));
                    }
                    key.push(last.as_ref().expect("just set").1.as_bytes());
                }
            },
            DateValues::Text(values) => {
                let text = values.next().flatten().unwrap_or("");
                key.push(text.get(..10).unwrap_or(text).as_bytes());
            }
        }
    }
}

/// The decoded columns of one slice, walked row by row in step.
struct SliceColumns<'a> {
    dates: Vec<DateValues<'a>>,
    key_text: Vec<Values<'a, &'a str>>,
    attributes: Vec<Values<'a, &'a str>>,
    money: Vec<Values<'a, f64>>,
    quantity: Values<'a, f64>,
}

impl<'a> SliceColumns<'a> {
    fn new(slice: &'a DataFrame) -> PolarsResult<Self> {
        let column = |name: String| slice.column(&name).map(Column::as_materialized_series);
        let text = |prefix: &str, count: usize| -> PolarsResult<Vec<Values<'a, &'a str>>> {
            (0..count)
                .map(|i| Ok(Box::new(column(format!("{prefix}{i}"))?.str()?.iter()) as Values<'a, &'a str>))
                .collect()
        };
        let float = |name: String| -> PolarsResult<Values<'a, f64>> { Ok(Box::new(column(name)?.f64()?.iter())) };
        let mut dates = Vec::new();
        for i in 0..KEY_DATES.len() {
            let series = column(format!("d{i}"))?;
            dates.push(match series.dtype() {
                DataType::Int32 => DateValues::Days { values: Box::new(series.i32()?.iter()), last: None },
                _ => DateValues::Text(Box::new(series.str()?.iter())),
            });
        }
        Ok(SliceColumns {
            dates,
            key_text: text("k", KEY_TEXT.len())?,
            attributes: text("a", ATTRIBUTE_TEXT.len())?,
            money: (0..MONEY.len()).map(|i| float(format!("m{i}"))).collect::<PolarsResult<_>>()?,
            quantity: float("q".into())?,
        })
    }
}

/// Reads `rows` rows from `offset` of a Parquet export with `mapping` into daily groups.
/// `schema` holds the file's columns and their types, `rows_read` counts rows as they pass.
pub fn read_parquet_rows(
    file: &ExportFile,
    (offset, rows): (u64, u32),
    mapping: &ExportMapping,
    schema: &Schema,
    rows_read: &RowCounter,
) -> Result<DailyGroups, IngestError> {
    let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let source = |column: FocusColumn| mapping.resolve(column, &header);
    let text = |column: FocusColumn| match source(column) {
        Some(name) => col(name).cast(DataType::String),
        None => lit(NULL).cast(DataType::String),
    };
    let float = |column: FocusColumn| match source(column) {
        Some(name) => col(name).cast(DataType::Float64),
        None => lit(NULL).cast(DataType::Float64),
    };
    let mut columns = Vec::new();
    for (i, focus) in KEY_DATES.into_iter().enumerate() {
        let date = match source(focus).map(|name| (name, schema.get(name))) {
            Some((name, Some(DataType::Date))) => col(name).cast(DataType::Int32),
            Some((name, Some(DataType::Datetime(_, _)))) => col(name).dt().date().cast(DataType::Int32),
            _ => text(focus),
        };
        columns.push(date.alias(format!("d{i}")));
    }
    columns.extend(KEY_TEXT.into_iter().enumerate().map(|(i, focus)| text(focus).alias(format!("k{i}"))));
    columns.extend(ATTRIBUTE_TEXT.into_iter().enumerate().map(|(i, focus)| text(focus).alias(format!("a{i}"))));
    columns.extend(MONEY.into_iter().enumerate().map(|(i, focus)| float(focus).alias(format!("m{i}"))));
    columns.push(float(FocusColumn::ConsumedQuantity).alias("q"));
    let slice = scan_parquet(file)
        .and_then(|lf| lf.slice(offset as i64, rows).select(columns).collect())
        .map_err(|err| parquet_error(file, &err))?;
    let mut values = SliceColumns::new(&slice).map_err(|err| parquet_error(file, &err))?;
    let zero_if_null =
        MONEY.map(|focus| source(focus).is_none() || mapping.columns.get(&focus).is_some_and(|c| c.zero_if_null));

    let mut groups = DailyGroups::default();
    let mut key = GroupKey::default();
    for row in 0..slice.height() {
        key.clear();
        for date in &mut values.dates {
            date.push_next(&mut key);
        }
        for text in &mut values.key_text {
            key.push(text.next().flatten().unwrap_or("").as_bytes());
        }
        let names: [Option<&str>; 3] = std::array::from_fn(|slot| values.attributes[slot].next().flatten());
        let mut picos = [0i128; 3];
        for (slot, amounts) in values.money.iter_mut().enumerate() {
            let problem = match amounts.next().flatten() {
                Some(amount) if amount.is_finite() => {
                    picos[slot] = (amount * PICOS_PER_UNIT).round() as i128;
                    continue;
                }
                None if zero_if_null[slot] => continue,
                None => "is empty".to_string(),
                Some(amount) => format!("holds {amount}, which is not an amount"),
            };
            return Err(BadInput {
                file: file.path.clone(),
                position: None,
                column: source(MONEY[slot]).map(String::from),
                problem: format!("row {} of the file {problem}", offset + row as u64 + 1),
                expected: format!("a finite number: {} is required on every row", MONEY[slot]),
            }
            .into());
        }
        let consumed_quantity = values.quantity.next().flatten().filter(|q| q.is_finite()).unwrap_or(0.0);
        groups.add_row(&key, picos, consumed_quantity, None, |slot| {
            names[slot].filter(|n| !n.is_empty()).map(str::to_string)
        });
    }
    rows_read.fetch_add(slice.height() as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::export_file::Encoding;
    use crate::ingest::mapping::MappingSet;
    use crate::sample::{ExportEncoding, write_benchmark_export};

    #[test]
    fn parquet_slices_cover_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        write_benchmark_export(&path, ExportEncoding::Parquet, 2_500, 5).unwrap();
        let file = ExportFile { bytes: std::fs::metadata(&path).unwrap().len(), path, encoding: Encoding::Parquet };
        let mappings = MappingSet::load(None).unwrap();
        let mapping = mappings.by_name("focus-1.2").unwrap();
        let (schema, rows) = parquet_layout(&file).unwrap();
        assert_eq!(rows, 2_500);
        let read = |offset: u64, rows: u32| {
            read_parquet_rows(&file, (offset, rows), mapping, &schema, &RowCounter::default()).unwrap()
        };
        let billed = |groups: DailyGroups| {
            let read = groups.into_read();
            (read.totals.iter().map(|t| t.billed_picos).sum::<i128>(), read.totals.iter().map(|t| t.line_items).sum())
        };
        let whole = billed(read(0, 10_000));
        let mut slices = DailyGroups::default();
        for offset in [0, 1_000, 2_000] {
            slices.merge(read(offset, 1_000), |at| at);
        }
        let (picos, items): (i128, i64) = billed(slices);
        assert_eq!((picos, items), whole);
        assert_eq!(items, 2_500);
    }
}
