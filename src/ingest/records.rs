//! Reading an export of nested records (GCP's BigQuery billing export) into daily groups,
//! record by record: newline-delimited JSON, or a CSV that flattens the records (one column
//! per dotted path, repeated fields as JSON arrays), plain or gzip'd. Fields are addressed by dotted
//! paths (`service.description`, `invoice.month`); a path through a repeated record collects
//! every element (`credits.amount` sums a row's credits, `labels` is a list of key/value
//! records read as tags). Numbers keep their decimal text, so money is exact.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::BufRead;

use serde_json::Value;

use super::error::{BadInput, IngestError, Position};
use super::export_file::ExportFile;
use super::groups::{DailyGroups, ExportRead, RowAt};
use super::progress::RowCounter;
use super::row_layout::{RowLayout, RowScratch, RowValues, close_tags, push_tag};
use super::watermark::{WatermarkGate, Watermarks};
use crate::focus::money::parse_picos;

/// Lines sampled for the column names: a record or repeated field absent from the first row
/// (no credits yet) still shows in later ones.
const HEADER_SAMPLE_LINES: usize = 1_000;

/// The dotted paths of the first lines' fields, sorted.
pub fn header(file: &ExportFile) -> Result<Vec<String>, IngestError> {
    let (text, _) = file.csv_text()?;
    let mut paths = BTreeSet::new();
    for (index, line) in std::io::BufReader::new(text).lines().take(HEADER_SAMPLE_LINES).enumerate() {
        let line = line.map_err(|source| IngestError::Io { path: file.path.clone(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| not_json(file, index as u64 + 1, &line, &e))?;
        collect_paths(&value, "", &mut paths);
    }
    if paths.is_empty() {
        return Err(BadInput {
            file: file.path.clone(),
            position: None,
            column: None,
            problem: "the file holds no JSON records".into(),
            expected: "one JSON object per line".into(),
        }
        .into());
    }
    Ok(paths.into_iter().collect())
}

fn collect_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                collect_paths(field, &path, paths);
                paths.insert(path);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_paths(item, prefix, paths);
            }
        }
        _ => {}
    }
}

fn not_json(file: &ExportFile, line: u64, text: &str, err: &serde_json::Error) -> IngestError {
    // Google Cloud's file export of 2014 wrote each day as one JSON array of line items.
    let array = if line == 1 && text.trim_start().starts_with('[') {
        " (the file is one JSON array, as Google Cloud's legacy file export wrote them, not one record per line; \
         that export is not supported: read the BigQuery billing export instead)"
    } else {
        ""
    };
    BadInput {
        file: file.path.clone(),
        position: Some(Position::Row { line, row: line }),
        column: None,
        problem: format!("the line is not a JSON object: {err}{array}"),
        expected: "one JSON object per line (newline-delimited JSON)".into(),
    }
    .into()
}

/// A hint for a repeated field written as a Python list (`[{'name': 'x', 'full_name': None}]`),
/// as tools that re-serialise BigQuery rows through Python do.
fn python_hint(cell: &str) -> &'static str {
    if cell.contains("{'") || cell.contains(": None") {
        " (it is a Python list, not JSON: the export was re-serialised by another tool; save the table as BigQuery \
         writes it, with TO_JSON_STRING for repeated fields)"
    } else {
        ""
    }
}

/// Every value at `path` under `value`, through repeated records.
fn leaves<'v>(value: &'v Value, path: &[String], out: &mut Vec<&'v Value>) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|item| leaves(item, path, out)),
        (_, None) => out.push(value),
        (Value::Object(fields), Some((key, rest))) => {
            if let Some(field) = fields.get(key) {
                leaves(field, rest, out);
            }
        }
        _ => {}
    }
}

/// One JSON record, read through a layout.
struct JsonRow<'r> {
    record: &'r Value,
    paths: &'r [Vec<String>],
    /// The text of each column on this row, written out (buffers reused from row to row).
    texts: &'r mut [Vec<u8>],
}

impl<'r> JsonRow<'r> {
    fn values(&self, column: usize) -> Vec<&'r Value> {
        let mut out = Vec::new();
        leaves(self.record, &self.paths[column], &mut out);
        out.retain(|v| !v.is_null());
        out
    }

    /// The sum of the column's values (`credits.amount`: every credit of the row); `None`
    /// when the row has none.
    fn sum<T: std::ops::AddAssign + Default>(
        &self,
        column: usize,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let mut total = None;
        for value in self.values(column) {
            let text = scalar_text(value).unwrap_or_default();
            *total.get_or_insert_with(T::default) +=
                parse(text.trim()).ok_or_else(|| format!("`{text}` is not a number"))?;
        }
        Ok(total)
    }
}

/// A scalar's text: strings as they are, numbers in the decimal form they were written in.
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

impl RowValues for JsonRow<'_> {
    fn text(&mut self, column: usize) -> &[u8] {
        let values = self.values(column);
        let text = values.first().and_then(|v| scalar_text(v)).unwrap_or_default();
        let buffer = &mut self.texts[column];
        buffer.clear();
        buffer.extend_from_slice(text.as_bytes());
        buffer
    }

    fn amount(&mut self, column: usize) -> Result<Option<i128>, String> {
        self.sum(column, |text| parse_picos(text.as_bytes()))
    }

    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String> {
        self.sum(column, |text| text.parse::<f64>().ok().filter(|q| q.is_finite()))
    }

    /// A repeated key/value record (`labels`) or an object becomes a JSON object.
    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>) {
        for value in self.values(column) {
            match value {
                Value::Object(fields) if fields.contains_key("key") => {
                    if let (Some(key), Some(text)) =
                        (fields.get("key").and_then(scalar_text), fields.get("value").and_then(scalar_text))
                    {
                        push_tag(out, &key, &text);
                    }
                }
                Value::Object(fields) => {
                    for (key, field) in fields {
                        if let Some(text) = scalar_text(field) {
                            push_tag(out, key, &text);
                        }
                    }
                }
                Value::String(text) => {
                    out.extend_from_slice(text.as_bytes());
                    return;
                }
                _ => {}
            }
        }
        close_tags(out);
    }
}

/// What reading a file of records gave: its groups, the checksum or why reading stopped,
/// and the file's highest watermarks.
pub struct RecordsRead {
    pub read: ExportRead,
    pub end: Result<String, IngestError>,
    pub marks: Watermarks,
}

/// Reads `file` record by record through `layout`; a row an earlier file gave (see
/// `watermark`) is skipped.
pub fn read_records(
    file: &ExportFile,
    layout: &RowLayout,
    earlier: &Watermarks,
    rows_read: &RowCounter,
) -> RecordsRead {
    let mut groups = DailyGroups::default();
    let mut gate = WatermarkGate::new(earlier);
    let end = add_records(file, layout, &mut gate, rows_read, &mut groups).and_then(|()| file.checksum());
    RecordsRead { read: groups.into_read(), end, marks: gate.finish(&file.path) }
}

fn add_records(
    file: &ExportFile,
    layout: &RowLayout,
    gate: &mut WatermarkGate<'_>,
    rows_read: &RowCounter,
    groups: &mut DailyGroups,
) -> Result<(), IngestError> {
    let paths: Vec<Vec<String>> =
        layout.columns.iter().map(|c| c.name.split('.').map(str::to_string).collect()).collect();
    let mut scratch = RowScratch::default();
    let mut texts = vec![Vec::new(); paths.len()];
    let names: Vec<&str> = layout.columns.iter().map(|c| c.name.as_str()).collect();
    each_record(file, &names, |at, record| {
        let mut row = JsonRow { record: &record, paths: &paths, texts: &mut texts };
        if !gate.admits(layout, &mut row) {
            return Ok(());
        }
        layout.add_row(&mut row, &mut scratch, groups, Some(at)).map_err(|err| {
            IngestError::from(BadInput {
                file: file.path.clone(),
                position: Some(at.position()),
                column: err.column.map(|c| layout.column_name(c).to_string()),
                problem: err.problem,
                expected: err.expected,
            })
        })?;
        rows_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })
}

/// Calls `visit` with each record of the file, in order. A CSV's records hold only the
/// columns that feed `wanted` (a layout's column names: `credits` feeds `credits.amount`).
fn each_record(
    file: &ExportFile,
    wanted: &[&str],
    mut visit: impl FnMut(RowAt, Value) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let (text, consumed) = file.csv_text()?;
    let unreadable = |err: &dyn std::fmt::Display| {
        IngestError::from(BadInput {
            file: file.path.clone(),
            position: Some(Position::Byte(consumed.get())),
            column: None,
            problem: format!("the file cannot be read past this point: {err}"),
            expected: "a complete file of UTF-8 text (a truncated download or copy?)".into(),
        })
    };
    if file.encoding.is_json_lines() {
        for (index, line) in std::io::BufReader::with_capacity(1 << 20, text).lines().enumerate() {
            let number = index as u64 + 1;
            let line = line.map_err(|err| unreadable(&err))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Value = serde_json::from_str(&line).map_err(|e| not_json(file, number, &line, &e))?;
            visit(RowAt { line: number, row: number }, record)?;
        }
        return Ok(());
    }
    // Records end at `\n` (a CRLF's `\r` is trimmed with the last value): the reader then
    // counts lines as they are, where CRLF would leave each record's line one short.
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).terminator(csv::Terminator::Any(b'\n')).from_reader(text);
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<Option<Vec<String>>>> = None;
    let feeds = |column: &str| {
        wanted.iter().any(|name| name.strip_prefix(column).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
    };
    let mut row = 0u64;
    while reader.read_record(&mut record).map_err(|err| unreadable(&err))? {
        let Some(paths) = &header else {
            let names = record
                .iter()
                .enumerate()
                .map(|(i, name)| if i == 0 { name.trim_start_matches('\u{feff}') } else { name })
                .map(|name| name.trim_end_matches('\r'));
            let paths = names.map(|name| feeds(name).then(|| name.split('.').map(str::to_string).collect()));
            header = Some(paths.collect());
            continue;
        };
        row += 1;
        let at = RowAt { line: record.position().map_or(row + 1, |p| p.line()), row };
        visit(at, csv_record(file, at, paths, &record)?)?;
    }
    Ok(())
}

/// A CSV row of a nested export as the record it flattens: each column is the dotted path
/// of a field (`service.description`), and a repeated field (`labels`, `credits`) is one
/// column holding the JSON array BigQuery writes for it. Columns nothing reads (`None`)
/// are left out.
fn csv_record(
    file: &ExportFile,
    at: RowAt,
    paths: &[Option<Vec<String>>],
    record: &csv::StringRecord,
) -> Result<Value, IngestError> {
    let mut root = serde_json::Map::new();
    for (path, cell) in paths.iter().zip(record.iter()) {
        let (Some(path), cell) = (path, cell.trim()) else { continue };
        if cell.is_empty() {
            continue;
        }
        let value = if cell.starts_with('[') || cell.starts_with('{') {
            serde_json::from_str(cell).map_err(|err| {
                IngestError::from(BadInput {
                    file: file.path.clone(),
                    position: Some(at.position()),
                    column: Some(path.join(".")),
                    problem: format!("the value is not JSON: {err}{}", python_hint(cell)),
                    expected: "a repeated field as a JSON array, e.g. [{\"key\":\"team\",\"value\":\"search\"}]".into(),
                })
            })?
        } else {
            Value::String(cell.to_string())
        };
        let Some((leaf, parents)) = path.split_last() else { continue };
        let mut fields = &mut root;
        for parent in parents {
            let entry = fields.entry(parent.clone()).or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                // A column `a` beside columns `a.b`: the record wins.
                *entry = Value::Object(serde_json::Map::new());
            }
            fields = entry.as_object_mut().expect("an object");
        }
        fields.insert(leaf.clone(), value);
    }
    Ok(Value::Object(root))
}
