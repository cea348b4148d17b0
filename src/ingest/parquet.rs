//! Reading a Parquet export with polars, a slice of rows at a time, into daily groups.
//!
//! Polars decodes the columns a fact needs, skipping the row groups outside the slice; the
//! rows then go through the same daily grouping as CSV rows (`groups`). Slices keep memory
//! flat: one polars pass over a whole file grew with the file.

use chrono::NaiveDate;
use polars::prelude::*;
use polars_arrow::array::{Array, PrimitiveArray, Utf8ViewArray};

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

/// A date column of the grain as it arrives: typed (days since 1970) or as text.
enum DateChunks<'a> {
    Days(Vec<&'a PrimitiveArray<i32>>),
    Text(Vec<&'a Utf8ViewArray>),
}

/// The decoded columns of one slice, chunk by chunk (the chunks of all columns aligned), read
/// by index: polars' per-value iterators cost more than the whole aggregation.
struct SliceColumns<'a> {
    chunk_lengths: Vec<usize>,
    dates: Vec<DateChunks<'a>>,
    key_text: Vec<Vec<&'a Utf8ViewArray>>,
    attributes: Vec<Vec<&'a Utf8ViewArray>>,
    money: Vec<Vec<&'a PrimitiveArray<f64>>>,
    quantity: Vec<&'a PrimitiveArray<f64>>,
}

impl<'a> SliceColumns<'a> {
    fn new(slice: &'a DataFrame) -> PolarsResult<Self> {
        let column = |name: String| slice.column(&name).map(Column::as_materialized_series);
        let text = |name: String| -> PolarsResult<Vec<&'a Utf8ViewArray>> {
            Ok(column(name)?.str()?.downcast_iter().collect())
        };
        let float = |name: String| -> PolarsResult<Vec<&'a PrimitiveArray<f64>>> {
            Ok(column(name)?.f64()?.downcast_iter().collect())
        };
        let mut dates = Vec::new();
        for i in 0..KEY_DATES.len() {
            let series = column(format!("d{i}"))?;
            dates.push(match series.dtype() {
                DataType::Int32 => DateChunks::Days(series.i32()?.downcast_iter().collect()),
                _ => DateChunks::Text(series.str()?.downcast_iter().collect()),
            });
        }
        let quantity = float("q".into())?;
        Ok(SliceColumns {
            chunk_lengths: quantity.iter().map(|chunk| chunk.len()).collect(),
            dates,
            key_text: (0..KEY_TEXT.len()).map(|i| text(format!("k{i}"))).collect::<PolarsResult<_>>()?,
            attributes: (0..ATTRIBUTE_TEXT.len()).map(|i| text(format!("a{i}"))).collect::<PolarsResult<_>>()?,
            money: (0..MONEY.len()).map(|i| float(format!("m{i}"))).collect::<PolarsResult<_>>()?,
            quantity,
        })
    }
}

fn text_at(chunk: &Utf8ViewArray, row: usize) -> &str {
    if chunk.is_valid(row) { chunk.value(row) } else { "" }
}

fn number_at<T: polars_arrow::types::NativeType>(chunk: &PrimitiveArray<T>, row: usize) -> Option<T> {
    chunk.is_valid(row).then(|| chunk.value(row))
}

/// The `YYYY-MM-DD` text a date is grouped on, formatted once per run of rows of one day.
fn push_days(key: &mut GroupKey, days: Option<i32>, last: &mut Option<(i32, String)>) {
    let Some(days) = days else { return key.push(b"") };
    if last.as_ref().is_none_or(|(d, _)| *d != days) {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        let date = epoch.checked_add_signed(chrono::Duration::days(days.into()));
        *last = Some((days, date.map_or_else(|| days.to_string(), |d| d.to_string())));
    }
    key.push(last.as_ref().expect("just set").1.as_bytes());
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
    let mut slice = scan_parquet(file)
        .and_then(|lf| lf.slice(offset as i64, rows).select(columns).collect())
        .map_err(|err| parquet_error(file, &err))?;
    slice.align_chunks_par();
    let values = SliceColumns::new(&slice).map_err(|err| parquet_error(file, &err))?;
    let money = MoneyRules {
        columns: MONEY.map(source),
        zero_if_null: MONEY.map(|focus| source(focus).is_none() || mapping.zero_if_null(focus)),
    };
    // Polars decodes on every core; the rows are summed on every core too, in contiguous
    // parts merged in order.
    let height = slice.height();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(height.max(1));
    let parts: Vec<Result<DailyGroups, IngestError>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..workers)
            .map(|w| {
                let rows = height * w / workers..height * (w + 1) / workers;
                let (values, money) = (&values, &money);
                scope.spawn(move || sum_rows(values, rows, money).map_err(|problem| problem.into_error(file, offset)))
            })
            .collect();
        parts.into_iter().map(|part| part.join().expect("summing rows panicked")).collect()
    });
    let mut groups = DailyGroups::default();
    for part in parts {
        groups.merge(part?, |at| at);
    }
    rows_read.fetch_add(height as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(groups)
}

/// Where the money columns come from and which may be empty.
struct MoneyRules<'a> {
    columns: [Option<&'a str>; 3],
    zero_if_null: [bool; 3],
}

/// A money value that is not an amount, at a row of the slice.
struct MoneyProblem {
    row: usize,
    column: FocusColumn,
    source: Option<String>,
    problem: String,
}

impl MoneyProblem {
    fn into_error(self, file: &ExportFile, offset: u64) -> IngestError {
        BadInput {
            file: file.path.clone(),
            position: None,
            column: self.source,
            problem: format!("row {} of the file {}", offset + self.row as u64 + 1, self.problem),
            expected: format!("a finite number: {} is required on every row", self.column),
        }
        .into()
    }
}

/// Sums the slice's rows `rows` into daily groups.
fn sum_rows(
    values: &SliceColumns<'_>,
    rows: std::ops::Range<usize>,
    money: &MoneyRules<'_>,
) -> Result<DailyGroups, MoneyProblem> {
    let mut groups = DailyGroups::default();
    let mut key = GroupKey::default();
    let mut last_days: [Option<(i32, String)>; 2] = [None, None];
    let mut chunk_start = 0;
    for (chunk, &length) in values.chunk_lengths.iter().enumerate() {
        let (from, to) = (rows.start.max(chunk_start), rows.end.min(chunk_start + length));
        for slice_row in from..to {
            let row = slice_row - chunk_start;
            key.clear();
            for (date, last) in values.dates.iter().zip(&mut last_days) {
                match date {
                    DateChunks::Days(chunks) => push_days(&mut key, number_at(chunks[chunk], row), last),
                    DateChunks::Text(chunks) => {
                        let text = text_at(chunks[chunk], row);
                        key.push(text.get(..10).unwrap_or(text).as_bytes());
                    }
                }
            }
            for column in &values.key_text {
                key.push(text_at(column[chunk], row).as_bytes());
            }
            let mut picos = [0i128; 3];
            for (slot, column) in values.money.iter().enumerate() {
                let problem = match number_at(column[chunk], row) {
                    Some(amount) if amount.is_finite() => {
                        picos[slot] = (amount * PICOS_PER_UNIT).round() as i128;
                        continue;
                    }
                    None if money.zero_if_null[slot] => continue,
                    None => "is empty".to_string(),
                    Some(amount) => format!("holds {amount}, which is not an amount"),
                };
                return Err(MoneyProblem {
                    row: slice_row,
                    column: MONEY[slot],
                    source: money.columns[slot].map(String::from),
                    problem,
                });
            }
            let consumed_quantity = number_at(values.quantity[chunk], row).filter(|q| q.is_finite()).unwrap_or(0.0);
            groups.add_row(&key, picos, consumed_quantity, None, |slot| {
                Some(text_at(values.attributes[slot][chunk], row)).filter(|n| !n.is_empty()).map(str::to_string)
            });
        }
        chunk_start += length;
    }
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
