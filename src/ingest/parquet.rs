//! Reading a Parquet export with polars, a slice of rows at a time, into daily groups.
//!
//! Polars decodes the columns a fact needs, skipping the row groups outside the slice; the
//! rows then go through the same daily grouping as CSV rows (`groups`). Slices keep memory
//! flat: one polars pass over a whole file grew with the file.

use chrono::NaiveDate;
use polars::prelude::*;
use polars_arrow::array::{Array, ListArray, PrimitiveArray, StructArray, Utf8ViewArray};

use super::error::{BadInput, IngestError};
use super::export_file::ExportFile;
use super::groups::DailyGroups;
use super::progress::RowCounter;
use super::row_layout::{RowError, RowLayout, RowScratch, RowValues, ValueKind, close_tags, push_tag};

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

/// One layout column of a slice, chunk by chunk (the chunks of all columns aligned), read by
/// index: polars' per-value iterators cost more than the whole aggregation.
enum ColumnChunks<'a> {
    /// A typed date: days since 1970.
    Days(Vec<&'a PrimitiveArray<i32>>),
    Text(Vec<&'a Utf8ViewArray>),
    Float(Vec<&'a PrimitiveArray<f64>>),
    /// A Parquet map (CUR 2.0 `resource_tags`, AWS FOCUS `Tags`): a list of key/value structs.
    Map(Vec<MapChunk<'a>>),
}

/// One chunk of a map column: the rows' entry ranges and the entries' keys and values.
struct MapChunk<'a> {
    rows: &'a ListArray<i64>,
    /// `None` when the entries are not text key/value pairs: such a map holds no tags.
    entries: Option<(&'a Utf8ViewArray, &'a Utf8ViewArray)>,
}

impl<'a> MapChunk<'a> {
    fn new(rows: &'a ListArray<i64>) -> Self {
        let fields = rows.values().as_any().downcast_ref::<StructArray>().map(|entries| entries.values());
        let text = |index: usize| fields?.get(index)?.as_any().downcast_ref::<Utf8ViewArray>();
        MapChunk { rows, entries: text(0).zip(text(1)) }
    }
}

struct SliceColumns<'a> {
    chunk_lengths: Vec<usize>,
    columns: Vec<ColumnChunks<'a>>,
}

impl<'a> SliceColumns<'a> {
    fn new(slice: &'a DataFrame, layout: &RowLayout) -> PolarsResult<Self> {
        let mut columns = Vec::new();
        for (index, column) in layout.columns.iter().enumerate() {
            let series = slice.column(&format!("c{index}"))?.as_materialized_series();
            columns.push(match (column.kind, series.dtype()) {
                (ValueKind::Date, DataType::Int32) => ColumnChunks::Days(series.i32()?.downcast_iter().collect()),
                (ValueKind::Amount | ValueKind::Quantity, _) => {
                    ColumnChunks::Float(series.f64()?.downcast_iter().collect())
                }
                (ValueKind::Tags, DataType::List(_)) => {
                    ColumnChunks::Map(series.list()?.downcast_iter().map(MapChunk::new).collect())
                }
                _ => ColumnChunks::Text(series.str()?.downcast_iter().collect()),
            });
        }
        let chunk_lengths = match slice.columns().first() {
            Some(first) => first.as_materialized_series().chunks().iter().map(|chunk| chunk.len()).collect(),
            None => vec![slice.height()],
        };
        Ok(SliceColumns { chunk_lengths, columns })
    }
}

/// The row being summed: a place in a slice.
struct ParquetRow<'s, 'a> {
    values: &'s SliceColumns<'a>,
    chunk: usize,
    row: usize,
    /// The `YYYY-MM-DD` text of the last typed date of each column, formatted once per run
    /// of rows of one day.
    days: Vec<Option<(i32, String)>>,
}

impl RowValues for ParquetRow<'_, '_> {
    fn text(&mut self, column: usize) -> &[u8] {
        let (values, chunk, row) = (self.values, self.chunk, self.row);
        match &values.columns[column] {
            ColumnChunks::Text(chunks) => text_at(chunks[chunk], row).as_bytes(),
            ColumnChunks::Days(chunks) => {
                let Some(days) = number_at(chunks[chunk], row) else { return b"" };
                let last = &mut self.days[column];
                if last.as_ref().is_none_or(|(d, _)| *d != days) {
                    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                    let date = epoch.checked_add_signed(chrono::Duration::days(days.into()));
                    *last = Some((days, date.map_or_else(|| days.to_string(), |d| d.to_string())));
                }
                last.as_ref().expect("just set").1.as_bytes()
            }
            ColumnChunks::Float(_) | ColumnChunks::Map(_) => b"",
        }
    }

    fn amount(&mut self, column: usize) -> Result<Option<i128>, String> {
        let ColumnChunks::Float(chunks) = &self.values.columns[column] else { return Ok(None) };
        match number_at(chunks[self.chunk], self.row) {
            None => Ok(None),
            // Parquet money is a double; it becomes integer pico-units once per row.
            Some(amount) if amount.is_finite() => Ok(Some((amount * PICOS_PER_UNIT).round() as i128)),
            Some(amount) => Err(format!("the value {amount} is not an amount")),
        }
    }

    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String> {
        let ColumnChunks::Float(chunks) = &self.values.columns[column] else { return Ok(None) };
        Ok(number_at(chunks[self.chunk], self.row).filter(|q| q.is_finite()))
    }

    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>) {
        match &self.values.columns[column] {
            ColumnChunks::Map(chunks) => map_json(&chunks[self.chunk], self.row, out),
            _ => {
                let text = self.text(column);
                out.extend_from_slice(text);
            }
        }
    }
}

fn text_at(chunk: &Utf8ViewArray, row: usize) -> &str {
    if chunk.is_valid(row) { chunk.value(row) } else { "" }
}

fn number_at<T: polars_arrow::types::NativeType>(chunk: &PrimitiveArray<T>, row: usize) -> Option<T> {
    chunk.is_valid(row).then(|| chunk.value(row))
}

/// A map row as JSON object text; entries with an empty value are left out (CUR 2.0 writes
/// only activated, non-empty keys anyway).
fn map_json(chunk: &MapChunk<'_>, row: usize, out: &mut Vec<u8>) {
    let Some((keys, values)) = chunk.entries.filter(|_| chunk.rows.is_valid(row)) else { return };
    let (start, end) = chunk.rows.offsets().start_end(row);
    for entry in start..end {
        push_tag(out, text_at(keys, entry).as_bytes(), text_at(values, entry).as_bytes());
    }
    close_tags(out);
}

/// Reads `rows` rows from `offset` of a Parquet export through `layout` into daily groups.
/// `schema` holds the file's columns and their types, `rows_read` counts rows as they pass.
pub fn read_parquet_rows(
    file: &ExportFile,
    (offset, rows): (u64, u32),
    layout: &RowLayout,
    schema: &Schema,
    rows_read: &RowCounter,
) -> Result<DailyGroups, IngestError> {
    let columns: Vec<Expr> = layout
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let name = column.name.as_str();
            let expr = match (column.kind, schema.get(name)) {
                (ValueKind::Date, Some(DataType::Date)) => col(name).cast(DataType::Int32),
                (ValueKind::Date, Some(DataType::Datetime(_, _))) => col(name).dt().date().cast(DataType::Int32),
                (ValueKind::Amount | ValueKind::Quantity, _) => col(name).cast(DataType::Float64),
                (ValueKind::Tags, Some(DataType::List(_))) => col(name),
                _ => col(name).cast(DataType::String),
            };
            expr.alias(format!("c{index}"))
        })
        .collect();
    let mut slice = scan_parquet(file)
        .and_then(|lf| lf.slice(offset as i64, rows).select(columns).collect())
        .map_err(|err| parquet_error(file, &err))?;
    slice.align_chunks_par();
    let values = SliceColumns::new(&slice, layout).map_err(|err| parquet_error(file, &err))?;
    // Polars decodes on every core; the rows are summed on every core too, in contiguous
    // parts merged in order.
    let height = slice.height();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(height.max(1));
    let parts: Vec<Result<DailyGroups, IngestError>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..workers)
            .map(|w| {
                let rows = height * w / workers..height * (w + 1) / workers;
                let values = &values;
                scope.spawn(move || {
                    sum_rows(values, layout, rows).map_err(|(row, err)| {
                        IngestError::from(BadInput {
                            file: file.path.clone(),
                            position: None,
                            column: err.column.map(|c| layout.column_name(c).to_string()),
                            problem: format!("row {} of the file: {}", offset + row as u64 + 1, err.problem),
                            expected: err.expected,
                        })
                    })
                })
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

/// Sums the slice's rows `rows` into daily groups; a refused row comes back with its place
/// in the slice.
fn sum_rows(
    values: &SliceColumns<'_>,
    layout: &RowLayout,
    rows: std::ops::Range<usize>,
) -> Result<DailyGroups, (usize, RowError)> {
    let mut groups = DailyGroups::default();
    let mut scratch = RowScratch::default();
    let mut row = ParquetRow { values, chunk: 0, row: 0, days: vec![None; layout.columns.len()] };
    let mut chunk_start = 0;
    for (chunk, &length) in values.chunk_lengths.iter().enumerate() {
        let (from, to) = (rows.start.max(chunk_start), rows.end.min(chunk_start + length));
        for slice_row in from..to {
            row.chunk = chunk;
            row.row = slice_row - chunk_start;
            layout.add_row(&mut row, &mut scratch, &mut groups, None).map_err(|err| (slice_row, err))?;
        }
        chunk_start += length;
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::export_file::Encoding;
    use crate::ingest::groups::export_totals;
    use crate::ingest::mapping::MappingSet;
    use crate::ingest::tags::TagFilter;
    use crate::sample::{ExportEncoding, write_benchmark_export};

    #[test]
    fn parquet_slices_cover_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        write_benchmark_export(&path, ExportEncoding::Parquet, 2_500, 5).unwrap();
        let file = ExportFile {
            bytes: std::fs::metadata(&path).unwrap().len(),
            path,
            encoding: Encoding::Parquet,
            role: None,
        };
        let mappings = MappingSet::load(None).unwrap();
        let mapping = mappings.by_name("focus-1.2").unwrap();
        let (schema, rows) = parquet_layout(&file).unwrap();
        assert_eq!(rows, 2_500);
        let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        let layout = RowLayout::new(mapping, &header, &TagFilter::new(&[]));
        let read = |offset: u64, rows: u32| {
            read_parquet_rows(&file, (offset, rows), &layout, &schema, &RowCounter::default()).unwrap()
        };
        let billed = |groups: DailyGroups| {
            let totals = export_totals(&groups.into_read().groups);
            (totals.iter().map(|t| t.billed_picos).sum::<i128>(), totals.iter().map(|t| t.line_items).sum())
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
