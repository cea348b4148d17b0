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
use super::watermark::{WatermarkGate, Watermarks};
use crate::focus::money::parse_picos;

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

/// The names a mapping can read from a file with `schema`: its columns, and the dotted path
/// of every field of a struct (`service.description`) or of a list of structs
/// (`credits.amount`, every element's amount).
pub fn header(schema: &Schema) -> Vec<String> {
    fn fields(prefix: &str, dtype: &DataType, names: &mut Vec<String>) {
        match dtype {
            DataType::Struct(fields_of) => {
                for field in fields_of {
                    let name = format!("{prefix}.{}", field.name());
                    names.push(name.clone());
                    fields(&name, field.dtype(), names);
                }
            }
            // The elements' own fields only: `credits.amount`, not deeper (see `selection`).
            DataType::List(inner) => {
                if let DataType::Struct(fields_of) = inner.as_ref() {
                    names.extend(fields_of.iter().map(|field| format!("{prefix}.{}", field.name())));
                }
            }
            _ => {}
        }
    }
    let mut names = Vec::new();
    for (name, dtype) in schema.iter() {
        names.push(name.to_string());
        fields(name, dtype, &mut names);
    }
    names
}

/// How a layout column is selected from the file: a column or struct field as it is, or a
/// field of every element of a list of structs (read from the list by [`RepeatedChunk`]).
enum Selection {
    Value { expr: Expr, dtype: DataType },
    Repeated { list: Expr, field: String },
}

/// The selection reading `name` (a column or a dotted path into structs, see [`header`]).
fn selection(schema: &Schema, name: &str) -> Option<Selection> {
    if let Some(dtype) = schema.get(name) {
        return Some(Selection::Value { expr: col(name), dtype: dtype.clone() });
    }
    let mut parts = name.split('.');
    let first = parts.next()?;
    let (mut expr, mut dtype) = (col(first), schema.get(first)?.clone());
    let rest: Vec<&str> = parts.collect();
    for (index, part) in rest.iter().enumerate() {
        match dtype {
            DataType::Struct(fields) => {
                dtype = fields.iter().find(|f| f.name() == *part)?.dtype().clone();
                expr = expr.struct_().field_by_name(part);
            }
            // One level of repetition, ending at a field of the element: `credits.amount`.
            DataType::List(inner) if index + 1 == rest.len() && matches!(inner.as_ref(), DataType::Struct(_)) => {
                return Some(Selection::Repeated { list: expr, field: part.to_string() });
            }
            _ => return None,
        }
    }
    Some(Selection::Value { expr, dtype })
}

/// Warnings for the money columns of `layout` that the file holds as text: read exactly when
/// every value is a decimal (a value that is not refuses the file), but worth knowing.
pub fn money_as_text(file: &ExportFile, schema: &Schema, layout: &RowLayout) -> Vec<String> {
    let text_money = layout.columns.iter().filter(|column| {
        column.kind == ValueKind::Amount
            && matches!(selection(schema, &column.name), Some(Selection::Value { dtype: DataType::String, .. }))
    });
    text_money
        .map(|column| {
            format!(
                "{}: column {} holds text, not numbers; its values were read as exact decimals",
                file.path.display(),
                column.name
            )
        })
        .collect()
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
    /// One field of every element of a list of structs (GCP `credits.amount`).
    Repeated(Vec<RepeatedChunk<'a>>),
}

/// One chunk of a list of structs, and the field read from its elements, cast once per chunk
/// to what it holds.
struct RepeatedChunk<'a> {
    rows: &'a ListArray<i64>,
    field: Option<&'a dyn Array>,
    numbers: Option<&'a PrimitiveArray<f64>>,
    texts: Option<&'a Utf8ViewArray>,
}

impl<'a> RepeatedChunk<'a> {
    fn new(rows: &'a ListArray<i64>, name: &str) -> Self {
        let field = rows.values().as_any().downcast_ref::<StructArray>().and_then(|elements| {
            let index = elements.fields().iter().position(|f| f.name.as_str() == name)?;
            Some(elements.values()[index].as_ref())
        });
        let numbers = field.and_then(|f| f.as_any().downcast_ref::<PrimitiveArray<f64>>());
        let texts = field.and_then(|f| f.as_any().downcast_ref::<Utf8ViewArray>());
        RepeatedChunk { rows, field, numbers, texts }
    }

    /// The row's elements, as a range of the field's values.
    fn elements(&self, row: usize) -> std::ops::Range<usize> {
        if !self.rows.is_valid(row) {
            return 0..0;
        }
        let (start, end) = self.rows.offsets().start_end(row);
        start..end
    }

    /// The sum of the row's values of the field; `None` when it has none.
    fn sum(&self, row: usize) -> Result<Option<f64>, String> {
        let Some(field) = self.field else { return Ok(None) };
        let Some(numbers) = self.numbers else {
            return Err(format!("the field holds {:?} values, not numbers", field.dtype()));
        };
        Ok(self
            .elements(row)
            .filter_map(|element| number_at(numbers, element))
            .fold(None, |sum, v| Some(sum.unwrap_or(0.0) + v)))
    }

    /// The first element's text of the field.
    fn first_text(&self, row: usize) -> &'a str {
        match (self.texts, self.elements(row).next()) {
            (Some(texts), Some(element)) => text_at(texts, element),
            _ => "",
        }
    }
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
    /// `repeated` holds, per layout column, the element field read from a list of structs.
    fn new(slice: &'a DataFrame, layout: &RowLayout, repeated: &[Option<String>]) -> PolarsResult<Self> {
        let mut columns = Vec::new();
        for (index, column) in layout.columns.iter().enumerate() {
            let series = slice.column(&format!("c{index}"))?.as_materialized_series();
            if let Some(field) = &repeated[index] {
                let chunks = series.list()?.downcast_iter().map(|rows| RepeatedChunk::new(rows, field)).collect();
                columns.push(ColumnChunks::Repeated(chunks));
                continue;
            }
            columns.push(match (column.kind, series.dtype()) {
                (ValueKind::Date, DataType::Int32) => ColumnChunks::Days(series.i32()?.downcast_iter().collect()),
                (ValueKind::Amount | ValueKind::Quantity, DataType::String) => {
                    ColumnChunks::Text(series.str()?.downcast_iter().collect())
                }
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
    kept_keys: KeptKeyCache<'a>,
    kept_tags: &'s super::row_layout::KeptTagKeys,
}

/// Whether each map key seen so far is kept (see [`RowLayout::kept_tags`]): a file has a few
/// dozen keys and millions of entries. The keys last decided are known by their Arrow view
/// first, 16 bytes that hold a short key itself or a longer one's place in the chunk's
/// buffers: within a chunk equal views are equal keys, so most entries need no hashing.
#[derive(Default)]
struct KeptKeyCache<'a> {
    views: Vec<(u128, bool)>,
    keys: foldhash::HashMap<&'a str, bool>,
}

impl<'a> KeptKeyCache<'a> {
    /// Views remembered; beyond them a key is looked up by its text.
    const VIEWS: usize = 8;

    /// A view names a place in its own chunk's buffers only.
    fn next_chunk(&mut self) {
        self.views.clear();
    }

    fn keeps(&mut self, view: u128, key: &'a str, kept_tags: &super::row_layout::KeptTagKeys) -> bool {
        if let Some((_, kept)) = self.views.iter().find(|(known, _)| *known == view) {
            return *kept;
        }
        let kept = *self.keys.entry(key).or_insert_with(|| kept_tags.keeps(key));
        if self.views.len() < Self::VIEWS {
            self.views.push((view, kept));
        }
        kept
    }
}

impl ParquetRow<'_, '_> {
    /// The row's identity for a column that is not summed (see [`IdenticalRows`]): equal
    /// identities are equal values; the identity of an empty value is 0.
    fn identity(&mut self, column: usize, tag_sets: &mut TagSets) -> u128 {
        let (chunk, row) = (self.chunk, self.row);
        let view = |texts: &Utf8ViewArray, at: usize| if texts.is_valid(at) { texts.views()[at].as_u128() } else { 0 };
        match &self.values.columns[column] {
            ColumnChunks::Text(chunks) => view(chunks[chunk], row),
            // Day 0 is 1970-01-01, not an empty date.
            ColumnChunks::Days(chunks) => {
                number_at(chunks[chunk], row).map_or(0, |days| 1 << 64 | u128::from(days as u32))
            }
            ColumnChunks::Repeated(chunks) => {
                let repeated = &chunks[chunk];
                let first = repeated.elements(row).next();
                repeated.texts.zip(first).map_or(0, |(texts, at)| view(texts, at))
            }
            // The kept entries' keys and values, the entries `tags_json` writes in their order.
            ColumnChunks::Map(chunks) => {
                tag_sets.entries.clear();
                let map = &chunks[chunk];
                if let Some((keys, values)) = map.entries.filter(|_| map.rows.is_valid(row)) {
                    let (start, end) = map.rows.offsets().start_end(row);
                    for entry in start..end {
                        let value = view(values, entry);
                        // A view starts with its length: an empty value is no tag.
                        if value as u32 == 0 {
                            continue;
                        }
                        let key = keys.views()[entry].as_u128();
                        if self.kept_keys.keeps(key, text_at(keys, entry), self.kept_tags) {
                            tag_sets.entries.extend([key, value]);
                        }
                    }
                }
                tag_sets.code()
            }
            ColumnChunks::Float(_) => 0,
        }
    }

    /// Whether a number column is empty on every row of the chunk.
    fn is_empty_in_chunk(&self, column: usize) -> bool {
        match &self.values.columns[column] {
            ColumnChunks::Float(chunks) => chunks[self.chunk].null_count() == chunks[self.chunk].len(),
            _ => false,
        }
    }
}

/// The distinct kept entries of a map column's rows, numbered from 1: a row's entries are
/// part of its identity by their number.
#[derive(Default)]
struct TagSets {
    codes: foldhash::HashMap<Box<[u128]>, u128>,
    /// The row's entries, each key's view then its value's.
    entries: Vec<u128>,
}

impl TagSets {
    fn code(&mut self) -> u128 {
        if self.entries.is_empty() {
            return 0;
        }
        if let Some(&code) = self.codes.get(self.entries.as_slice()) {
            return code;
        }
        let code = self.codes.len() as u128 + 1;
        self.codes.insert(self.entries.as_slice().into(), code);
        code
    }
}

impl<'a> RowValues for ParquetRow<'_, 'a> {
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
            ColumnChunks::Repeated(chunks) => chunks[chunk].first_text(row).as_bytes(),
            ColumnChunks::Float(_) | ColumnChunks::Map(_) => b"",
        }
    }

    fn amount(&mut self, column: usize) -> Result<Option<i128>, String> {
        let amount = match &self.values.columns[column] {
            ColumnChunks::Float(chunks) => number_at(chunks[self.chunk], self.row),
            ColumnChunks::Repeated(chunks) => chunks[self.chunk].sum(self.row)?,
            ColumnChunks::Text(chunks) => {
                let text = text_at(chunks[self.chunk], self.row).trim();
                if text.is_empty() {
                    return Ok(None);
                }
                return parse_picos(text.as_bytes()).map(Some).ok_or_else(|| format!("`{text}` is not a number"));
            }
            _ => return Ok(None),
        };
        match amount {
            None => Ok(None),
            // Parquet money is a double; it becomes integer pico-units once per row.
            Some(amount) if amount.is_finite() => Ok(Some(picos_of(amount))),
            Some(amount) => Err(format!("the value {amount} is not an amount")),
        }
    }

    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String> {
        let quantity = match &self.values.columns[column] {
            ColumnChunks::Float(chunks) => number_at(chunks[self.chunk], self.row),
            ColumnChunks::Repeated(chunks) => chunks[self.chunk].sum(self.row)?,
            ColumnChunks::Text(chunks) => {
                let text = text_at(chunks[self.chunk], self.row).trim();
                if text.is_empty() {
                    return Ok(None);
                }
                let quantity = text.parse::<f64>().ok().filter(|q| q.is_finite());
                Some(quantity.ok_or_else(|| format!("`{text}` is not a number"))?)
            }
            _ => None,
        };
        Ok(quantity.filter(|q| q.is_finite()))
    }

    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>) {
        match &self.values.columns[column] {
            ColumnChunks::Map(chunks) => {
                let (chunk, kept_tags, kept_keys) = (&chunks[self.chunk], self.kept_tags, &mut self.kept_keys);
                let mut keeps = |view: u128, key: &'a str| kept_keys.keeps(view, key, kept_tags);
                map_json(chunk, self.row, &mut keeps, out)
            }
            _ => {
                let text = self.text(column);
                out.extend_from_slice(text);
            }
        }
    }
}

/// A double amount in pico-units, rounded half away from zero as `f64::round` does. Amounts
/// below ~9 million units (nearly all) take a path of plain instructions: `round` and the
/// conversion to i128 are library calls, three per row.
fn picos_of(amount: f64) -> i128 {
    let scaled = amount * PICOS_PER_UNIT;
    if scaled.abs() >= 9.0e18 {
        return scaled.round() as i128;
    }
    let whole = scaled as i64;
    let rest = scaled - whole as f64;
    let rounded = if rest >= 0.5 {
        whole + 1
    } else if rest <= -0.5 {
        whole - 1
    } else {
        whole
    };
    rounded.into()
}

fn text_at(chunk: &Utf8ViewArray, row: usize) -> &str {
    if chunk.is_valid(row) { chunk.value(row) } else { "" }
}

fn number_at<T: polars_arrow::types::NativeType>(chunk: &PrimitiveArray<T>, row: usize) -> Option<T> {
    chunk.is_valid(row).then(|| chunk.value(row))
}

/// A map row's kept entries as JSON object text; entries with an empty value are left out
/// (CUR 2.0 writes only activated, non-empty keys anyway).
fn map_json<'a>(chunk: &MapChunk<'a>, row: usize, keeps: &mut impl FnMut(u128, &'a str) -> bool, out: &mut Vec<u8>) {
    let Some((keys, values)) = chunk.entries.filter(|_| chunk.rows.is_valid(row)) else { return };
    let (start, end) = chunk.rows.offsets().start_end(row);
    for entry in start..end {
        let key = text_at(keys, entry);
        if keeps(keys.views()[entry].as_u128(), key) {
            push_tag(out, key, text_at(values, entry));
        }
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
    earlier: &Watermarks,
    rows_read: &RowCounter,
) -> Result<ParquetRead, IngestError> {
    let mut columns = Vec::new();
    let mut repeated = Vec::new();
    for (index, column) in layout.columns.iter().enumerate() {
        let name = column.name.as_str();
        let expr = match selection(schema, name) {
            Some(Selection::Repeated { list, field }) => {
                repeated.push(Some(field));
                list
            }
            Some(Selection::Value { expr, dtype }) => {
                repeated.push(None);
                match (column.kind, dtype) {
                    (ValueKind::Date, DataType::Date) => expr.cast(DataType::Int32),
                    (ValueKind::Date, DataType::Datetime(_, _)) => expr.dt().date().cast(DataType::Int32),
                    // Money written as text is parsed exactly, value by value (a cast would
                    // turn what is not a number into a silent null).
                    (ValueKind::Amount | ValueKind::Quantity, DataType::String) => expr,
                    (ValueKind::Amount | ValueKind::Quantity, _) => expr.cast(DataType::Float64),
                    (ValueKind::Tags, DataType::List(_)) => expr,
                    // A time as text (GCP's `export_time` watermark), in UTC: polars only
                    // formats times without a zone.
                    (_, DataType::Datetime(unit, Some(_))) => {
                        expr.cast(DataType::Datetime(unit, None)).cast(DataType::String)
                    }
                    _ => expr.cast(DataType::String),
                }
            }
            None => {
                let err = PolarsError::ColumnNotFound(format!("{name} cannot be read from the file's schema").into());
                return Err(parquet_error(file, &err));
            }
        };
        columns.push(expr.alias(format!("c{index}")));
    }
    let mut slice = scan_parquet(file)
        .and_then(|lf| lf.slice(offset as i64, rows).select(columns).collect())
        .map_err(|err| parquet_error(file, &err))?;
    slice.align_chunks_par();
    let values = SliceColumns::new(&slice, layout, &repeated).map_err(|err| parquet_error(file, &err))?;
    // Polars decodes on every core; the rows are summed on every core too, in contiguous
    // parts merged in order.
    let height = slice.height();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(height.max(1));
    let parts: Vec<Result<(DailyGroups, WatermarkGate<'_>), IngestError>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..workers)
            .map(|w| {
                let rows = height * w / workers..height * (w + 1) / workers;
                let values = &values;
                scope.spawn(move || {
                    let mut gate = WatermarkGate::new(earlier);
                    let groups = sum_rows(values, layout, rows, &mut gate).map_err(|(row, err)| {
                        IngestError::from(BadInput {
                            file: file.path.clone(),
                            position: None,
                            column: err.column.map(|c| layout.column_name(c).to_string()),
                            problem: format!("row {} of the file: {}", offset + row as u64 + 1, err.problem),
                            expected: err.expected,
                        })
                    })?;
                    Ok((groups, gate))
                })
            })
            .collect();
        parts.into_iter().map(|part| part.join().expect("summing rows panicked")).collect()
    });
    let mut groups = DailyGroups::default();
    let mut gate = WatermarkGate::new(earlier);
    for part in parts {
        let (part, part_gate) = part?;
        groups.merge(part, |at| at);
        gate.merge(part_gate);
    }
    rows_read.fetch_add(height as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(ParquetRead { groups, marks: gate.finish(&file.path) })
}

/// What a slice of a Parquet export gave: its groups and the highest watermarks of its rows.
pub struct ParquetRead {
    pub groups: DailyGroups,
    pub marks: Watermarks,
}

/// Sums the slice's rows `rows` into daily groups; a refused row comes back with its place
/// in the slice.
fn sum_rows(
    values: &SliceColumns<'_>,
    layout: &RowLayout,
    rows: std::ops::Range<usize>,
    gate: &mut WatermarkGate<'_>,
) -> Result<DailyGroups, (usize, RowError)> {
    let mut groups = DailyGroups::default();
    let mut scratch = RowScratch::default();
    let mut row = ParquetRow {
        values,
        chunk: 0,
        row: 0,
        days: vec![None; layout.columns.len()],
        kept_keys: KeptKeyCache::default(),
        kept_tags: &layout.kept_tags,
    };
    let mut identical = IdenticalRows::new(SummedColumns::of(layout));
    let mut block = Vec::with_capacity(IdenticalRows::BLOCK_ROWS);
    let mut chunk_start = 0;
    for (chunk, &length) in values.chunk_lengths.iter().enumerate() {
        let (from, to) = (rows.start.max(chunk_start), rows.end.min(chunk_start + length));
        row.kept_keys.next_chunk();
        row.chunk = chunk;
        let mut next = from;
        while next < to {
            let end = (next + IdenticalRows::BLOCK_ROWS).min(to);
            block.clear();
            for slice_row in next..end {
                row.row = slice_row - chunk_start;
                if gate.admits(layout, &mut row) {
                    block.push(row.row);
                }
            }
            identical.add(&mut row, &block);
            if identical.is_full() {
                identical
                    .flush(&mut row, layout, &mut scratch, &mut groups)
                    .map_err(|(r, err)| (chunk_start + r, err))?;
            }
            next = end;
        }
        // Identities name places in this chunk's buffers only.
        identical.flush(&mut row, layout, &mut scratch, &mut groups).map_err(|(r, err)| (chunk_start + r, err))?;
        chunk_start += length;
    }
    Ok(groups)
}

/// Where the sums of identical rows keep each amount and quantity column of the layout.
struct SummedColumns {
    /// Per layout column: its place among the amounts or the quantities.
    slots: Vec<Option<Summed>>,
    amounts: usize,
    quantities: usize,
}

#[derive(Clone, Copy)]
enum Summed {
    Amount(usize),
    Quantity(usize),
}

impl SummedColumns {
    fn of(layout: &RowLayout) -> Self {
        let (mut amounts, mut quantities) = (0, 0);
        let slots: Vec<Option<Summed>> = layout
            .columns
            .iter()
            .map(|column| match column.kind {
                ValueKind::Amount => {
                    amounts += 1;
                    Some(Summed::Amount(amounts - 1))
                }
                ValueKind::Quantity => {
                    quantities += 1;
                    Some(Summed::Quantity(quantities - 1))
                }
                _ => None,
            })
            .collect();
        SummedColumns { slots, amounts, quantities }
    }

    /// The integers holding two flags per summed column.
    fn flag_words(&self) -> usize {
        (self.amounts + self.quantities).div_ceil(64).max(1)
    }
}

/// Rows of a chunk whose values are identical but for their amounts and quantities, summed
/// before they are grouped. A row's identity is a few integers per column: its text values'
/// Arrow views (16 bytes that hold a short value itself or a longer one's place in the
/// chunk's buffers, so equal views are equal values; polars decodes a dictionary-encoded
/// column into repeated views), its dates as days, the number of its kept map entries (see
/// [`TagSets`]), and for each summed column whether the row leaves it empty or holds no
/// number. Hashing that is
/// cheaper than building and hashing the row's key text, and the money rules, the key and
/// the tags are then worked out once per set of identical rows: every rule condition reads a
/// text column, so identical rows meet the same rules, and the rules are sums and
/// differences of columns, so the sum of the rows' money is the money of their sums.
struct IdenticalRows {
    columns: SummedColumns,
    /// The layout columns a row's identity holds, in order; then come its flags.
    keyed: Vec<usize>,
    tag_sets: TagSets,
    sets: foldhash::HashMap<Box<[u128]>, usize>,
    /// Per set, in the order of their first rows: its first row (in the chunk) and its rows,
    /// and its identity's flags (`flag_words` each).
    firsts: Vec<(usize, i64)>,
    flags: Vec<u128>,
    /// Per set, `columns.amounts` sums in pico-units, and `columns.quantities` sums.
    picos: Vec<i128>,
    quantities: Vec<f64>,
    /// The block of rows being read: their identities, amounts and quantities, row by row.
    identities: Vec<u128>,
    row_picos: Vec<i128>,
    row_quantities: Vec<f64>,
}

impl IdenticalRows {
    /// Rows read column by column: each column's values are read in order, a few streams of
    /// memory at a time rather than one value of each of a few dozen columns per row.
    const BLOCK_ROWS: usize = 1024;
    /// Sets held before they are grouped: bounds memory on rows that are rarely identical.
    const MAX_SETS: usize = 1 << 16;
    const EMPTY: u32 = 1;
    const REFUSED: u32 = 2;

    fn new(columns: SummedColumns) -> Self {
        IdenticalRows {
            keyed: (0..columns.slots.len()).filter(|&column| columns.slots[column].is_none()).collect(),
            columns,
            tag_sets: TagSets::default(),
            sets: Default::default(),
            firsts: Vec::new(),
            flags: Vec::new(),
            picos: Vec::new(),
            quantities: Vec::new(),
            identities: Vec::new(),
            row_picos: Vec::new(),
            row_quantities: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.firsts.len() >= Self::MAX_SETS
    }

    /// Adds the chunk's rows `rows` to their sets.
    fn add(&mut self, row: &mut ParquetRow<'_, '_>, rows: &[usize]) {
        let (amounts, quantities, words) = (self.columns.amounts, self.columns.quantities, self.columns.flag_words());
        let width = self.keyed.len() + words;
        self.identities.clear();
        self.identities.resize(rows.len() * width, 0);
        for (place, &column) in self.keyed.iter().enumerate() {
            for (identity, &at) in self.identities.chunks_exact_mut(width).zip(rows) {
                row.row = at;
                identity[place] = row.identity(column, &mut self.tag_sets);
            }
        }
        self.row_picos.clear();
        self.row_picos.resize(rows.len() * amounts, 0);
        self.row_quantities.clear();
        self.row_quantities.resize(rows.len() * quantities, 0.0);
        for (column, slot) in self.columns.slots.iter().enumerate() {
            let Some(slot) = *slot else { continue };
            // Most columns a money rule reads on some rows only (savings plans, reservations)
            // are empty in whole chunks.
            if row.is_empty_in_chunk(column) {
                let summed = match slot {
                    Summed::Amount(slot) => slot,
                    Summed::Quantity(slot) => amounts + slot,
                };
                for identity in self.identities.chunks_exact_mut(width) {
                    identity[self.keyed.len() + summed / 64] |= u128::from(Self::EMPTY) << (2 * (summed % 64));
                }
                continue;
            }
            for (index, (identity, &at)) in self.identities.chunks_exact_mut(width).zip(rows).enumerate() {
                row.row = at;
                let (summed, state) = match slot {
                    Summed::Amount(slot) => match row.amount(column) {
                        Ok(picos) => {
                            self.row_picos[index * amounts + slot] = picos.unwrap_or(0);
                            (slot, if picos.is_none() { Self::EMPTY } else { 0 })
                        }
                        Err(_) => (slot, Self::REFUSED),
                    },
                    Summed::Quantity(slot) => match row.quantity(column) {
                        Ok(quantity) => {
                            self.row_quantities[index * quantities + slot] = quantity.unwrap_or(0.0);
                            (amounts + slot, if quantity.is_none() { Self::EMPTY } else { 0 })
                        }
                        Err(_) => (amounts + slot, Self::REFUSED),
                    },
                };
                identity[self.keyed.len() + summed / 64] |= u128::from(state) << (2 * (summed % 64));
            }
        }
        for (index, (identity, &at)) in self.identities.chunks_exact(width).zip(rows).enumerate() {
            let set = match self.sets.get(identity) {
                Some(&set) => set,
                None => {
                    let set = self.firsts.len();
                    self.sets.insert(identity.into(), set);
                    self.firsts.push((at, 0));
                    self.flags.extend_from_slice(&identity[self.keyed.len()..]);
                    self.picos.resize(self.picos.len() + amounts, 0);
                    self.quantities.resize(self.quantities.len() + quantities, 0.0);
                    set
                }
            };
            self.firsts[set].1 += 1;
            let sums = self.picos[set * amounts..][..amounts].iter_mut();
            for (sum, value) in sums.zip(&self.row_picos[index * amounts..][..amounts]) {
                *sum += value;
            }
            let sums = self.quantities[set * quantities..][..quantities].iter_mut();
            for (sum, value) in sums.zip(&self.row_quantities[index * quantities..][..quantities]) {
                *sum += value;
            }
        }
    }

    /// Groups the sets held, in the order of their first rows, and forgets them; a refused
    /// set comes back with its first row (in the chunk).
    fn flush(
        &mut self,
        row: &mut ParquetRow<'_, '_>,
        layout: &RowLayout,
        scratch: &mut RowScratch,
        groups: &mut DailyGroups,
    ) -> Result<(), (usize, RowError)> {
        let (amounts, quantities, words) = (self.columns.amounts, self.columns.quantities, self.columns.flag_words());
        for (set, &(first, rows)) in self.firsts.iter().enumerate() {
            row.row = first;
            let mut sums = SetRow {
                row: &mut *row,
                columns: &self.columns,
                flags: &self.flags[set * words..][..words],
                picos: &self.picos[set * amounts..][..amounts],
                quantities: &self.quantities[set * quantities..][..quantities],
                rows,
            };
            layout.add_row(&mut sums, scratch, groups, None).map_err(|err| (first, err))?;
        }
        self.sets.clear();
        self.tag_sets.codes.clear();
        self.firsts.clear();
        self.flags.clear();
        self.picos.clear();
        self.quantities.clear();
        Ok(())
    }
}

/// A set of identical rows read as one: its first row's values, its sums' money.
struct SetRow<'s, 'r, 'a> {
    row: &'s mut ParquetRow<'r, 'a>,
    columns: &'s SummedColumns,
    flags: &'s [u128],
    picos: &'s [i128],
    quantities: &'s [f64],
    rows: i64,
}

impl SetRow<'_, '_, '_> {
    fn state(&self, summed: usize) -> u32 {
        (self.flags[summed / 64] >> (2 * (summed % 64))) as u32 & 3
    }
}

impl RowValues for SetRow<'_, '_, '_> {
    fn text(&mut self, column: usize) -> &[u8] {
        self.row.text(column)
    }

    fn amount(&mut self, column: usize) -> Result<Option<i128>, String> {
        let Some(Summed::Amount(slot)) = self.columns.slots[column] else { return self.row.amount(column) };
        match self.state(slot) {
            // Every row of the set refuses it: the first row says why.
            IdenticalRows::REFUSED => self.row.amount(column),
            IdenticalRows::EMPTY => Ok(None),
            _ => Ok(Some(self.picos[slot])),
        }
    }

    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String> {
        let Some(Summed::Quantity(slot)) = self.columns.slots[column] else { return self.row.quantity(column) };
        match self.state(self.columns.amounts + slot) {
            IdenticalRows::REFUSED => self.row.quantity(column),
            IdenticalRows::EMPTY => Ok(None),
            _ => Ok(Some(self.quantities[slot])),
        }
    }

    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>) {
        self.row.tags_json(column, out);
    }

    fn line_items(&self) -> i64 {
        self.rows
    }
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
    fn picos_round_as_f64_round_does() {
        let mut values = vec![0.0, 0.5e-12, -0.5e-12, 1.5e-12, 2.5e-12, -2.5e-12, 0.1, -0.1, 12.345678, 9.2e6, -9.3e6];
        values.extend((0..10_000).map(|i| (i as f64 - 5_000.0) * 0.123_456_789_012_3));
        values.extend((0..1_000).map(|i| i as f64 * 1e-13));
        for amount in values {
            assert_eq!(picos_of(amount), (amount * PICOS_PER_UNIT).round() as i128, "{amount}");
        }
    }

    #[test]
    fn a_long_key_is_known_by_its_view_only_within_its_chunk() {
        use crate::ingest::row_layout::KeptTagKeys;
        let kept = KeptTagKeys::new(&TagFilter::new(&["cost_center".into()]), &[("user_".into(), String::new())]);
        // Both keys sit at the start of their chunk's buffer: equal length, prefix and place.
        let (first, second) = (
            Utf8ViewArray::from_slice_values(["user_cost_center"]),
            Utf8ViewArray::from_slice_values(["user_cost_centre"]),
        );
        let view = |keys: &Utf8ViewArray| keys.views()[0].as_u128();
        assert_eq!(view(&first), view(&second));
        let mut cache = KeptKeyCache::default();
        cache.next_chunk();
        assert!(cache.keeps(view(&first), first.value(0), &kept));
        cache.next_chunk();
        assert!(!cache.keeps(view(&second), second.value(0), &kept));
    }

    /// A benchmark Parquet file of `billed.len()` copies of one line item, billed `billed`.
    fn copies_of_one_line_item(path: &std::path::Path, billed: &[Option<f64>]) -> ExportFile {
        write_benchmark_export(path, ExportEncoding::Parquet, 1, 3).unwrap();
        let one = LazyFrame::scan_parquet(PlRefPath::new(path.to_string_lossy().as_ref()), Default::default())
            .unwrap()
            .collect()
            .unwrap();
        let mut copies = one.clone();
        for _ in 1..billed.len() {
            copies.vstack_mut(&one).unwrap();
        }
        copies.with_column(Series::new("BilledCost".into(), billed).into()).unwrap();
        ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(&mut copies).unwrap();
        ExportFile {
            bytes: std::fs::metadata(path).unwrap().len(),
            path: path.to_path_buf(),
            encoding: Encoding::Parquet,
            role: None,
        }
    }

    fn read_focus(file: &ExportFile) -> Result<DailyGroups, IngestError> {
        let mappings = MappingSet::load(None).unwrap();
        let (schema, rows) = parquet_layout(file).unwrap();
        let layout = RowLayout::new(mappings.by_name("focus-1.2").unwrap(), &header(&schema), &TagFilter::new(&[]));
        read_parquet_rows(file, (0, rows as u32), &layout, &schema, &Watermarks::new(), &RowCounter::default())
            .map(|read| read.groups)
    }

    #[test]
    fn identical_rows_are_summed_into_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let file = copies_of_one_line_item(&dir.path().join("x.parquet"), &[Some(0.1), Some(0.2), Some(-0.05)]);
        let totals = export_totals(&read_focus(&file).unwrap().into_read().groups);
        assert_eq!(totals.len(), 1);
        assert_eq!((totals[0].billed_picos, totals[0].line_items), (250_000_000_000, 3));
    }

    #[test]
    fn a_refused_amount_among_identical_rows_is_reported_at_its_own_row() {
        let dir = tempfile::tempdir().unwrap();
        for (billed, row, problem) in [
            (vec![Some(1.0), Some(2.0), None, Some(4.0), None], 3, "the value is empty"),
            (vec![Some(1.0), Some(f64::NAN), Some(3.0), Some(f64::INFINITY)], 2, "the value NaN is not an amount"),
        ] {
            let file = copies_of_one_line_item(&dir.path().join("x.parquet"), &billed);
            let Err(IngestError::BadInput(bad)) = read_focus(&file) else { panic!("{billed:?} was not refused") };
            assert_eq!(bad.column.as_deref(), Some("BilledCost"), "{billed:?}");
            assert!(bad.problem.starts_with(&format!("row {row} of the file: {problem}")), "{}", bad.problem);
        }
    }

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
        let header = header(&schema);
        let layout = RowLayout::new(mapping, &header, &TagFilter::new(&[]));
        let read = |offset: u64, rows: u32| {
            read_parquet_rows(&file, (offset, rows), &layout, &schema, &Watermarks::new(), &RowCounter::default())
                .unwrap()
                .groups
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
