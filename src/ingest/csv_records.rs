//! Reading a CSV export (plain or gzip'd) into daily groups.
//!
//! The file is cut into chunks of whole records (`csv_chunks`) that are parsed on every core
//! with the csv crate. Each row's fields are checked as they pass and its money is parsed
//! from the decimal text exactly, then summed into its daily group. Chunks are merged in file
//! order, so a refused file names its first bad row; the groups of the rows before it come
//! back with the refusal, because a bad value that only a group check sees (a date, a
//! currency code, tags) may sit in an earlier row.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::csv_chunks::{self, ChunkEvent};
use super::error::{BadInput, IngestError, Position};
use super::export_file::ExportFile;
use super::groups::{ATTRIBUTE_TEXT, DailyGroups, ExportRead, GroupKey, KEY_DATES, KEY_TEXT, MONEY, RowAt};
use super::mapping::ExportMapping;
use super::progress::RowCounter;
use crate::focus::FocusColumn;
use crate::focus::money::parse_picos;

/// One export column a fact needs: where it is in a record and what it must hold.
#[derive(Debug, Clone)]
struct SourceField {
    index: usize,
    name: String,
    focus: FocusColumn,
    /// Money only: an empty value counts as zero instead of being refused.
    zero_if_null: bool,
}

/// Where the columns a fact needs are in the records of one file.
pub struct CsvLayout {
    /// The grouping key: `KEY_DATES`, then `KEY_TEXT`.
    key: Vec<Option<SourceField>>,
    attributes: Vec<Option<SourceField>>,
    money: Vec<Option<SourceField>>,
    quantity: Option<SourceField>,
    /// Every column above that the file has: each value must be UTF-8 text.
    used: Vec<SourceField>,
}

impl CsvLayout {
    pub fn new(mapping: &ExportMapping, header: &[String]) -> Self {
        let field = |focus: FocusColumn| {
            let name = mapping.resolve(focus, header)?;
            Some(SourceField {
                index: header.iter().position(|h| h == name)?,
                name: name.to_string(),
                focus,
                zero_if_null: mapping.zero_if_null(focus),
            })
        };
        let key: Vec<_> = KEY_DATES.into_iter().chain(KEY_TEXT).map(field).collect();
        let attributes: Vec<_> = ATTRIBUTE_TEXT.into_iter().map(field).collect();
        let money: Vec<_> = MONEY.into_iter().map(field).collect();
        let quantity = field(FocusColumn::ConsumedQuantity);
        let used = key.iter().chain(&attributes).chain(&money).chain([&quantity]).flatten().cloned().collect();
        CsvLayout { key, attributes, money, quantity, used }
    }
}

/// A row that breaks a rule, before the file is known.
struct RowProblem {
    at: Option<RowAt>,
    column: Option<String>,
    problem: String,
    expected: String,
}

/// What one chunk held.
struct ChunkRead {
    groups: DailyGroups,
    /// Line breaks after the header: how far the next chunk's lines are shifted.
    body_lines: u64,
    rows: u64,
    /// The first bad row, which ended the chunk early.
    problem: Option<RowProblem>,
}

fn read_chunk(chunk: &[u8], layout: &CsvLayout) -> ChunkRead {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(chunk);
    // The header was read and checked before chunking; here it only sets the field count.
    let header_lines = match reader.byte_headers() {
        Ok(_) => reader.position().line().saturating_sub(1),
        Err(_) => 0,
    };
    let mut read = ChunkRead { groups: DailyGroups::default(), body_lines: 0, rows: 0, problem: None };
    // One check of the whole chunk instead of one per value; only a chunk that fails it has
    // its values checked one by one, to name the bad one.
    let check_text = std::str::from_utf8(chunk).is_err();
    let mut record = csv::ByteRecord::new();
    let mut key = GroupKey::default();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                read.problem = Some(record_problem(&err));
                break;
            }
        }
        read.rows += 1;
        let at = record.position().map_or_else(RowAt::default, |p| RowAt { line: p.line(), row: p.record() });
        if let Err(problem) = add_row(layout, &record, at, check_text, &mut key, &mut read.groups) {
            read.problem = Some(problem);
            break;
        }
    }
    // The reader counts every line break it consumed, quoted or not (lines start at 1).
    read.body_lines = reader.position().line().saturating_sub(1 + header_lines);
    read
}

fn record_problem(err: &csv::Error) -> RowProblem {
    let at = err.position().map(|p| RowAt { line: p.line(), row: p.record() });
    match err.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => RowProblem {
            at,
            column: None,
            problem: format!("the row has {len} fields"),
            expected: format!("{expected_len} fields, one per header column (is a quote or separator missing?)"),
        },
        other => RowProblem { at, column: None, problem: format!("{other:?}"), expected: "well-formed CSV".into() },
    }
}

fn add_row(
    layout: &CsvLayout,
    record: &csv::ByteRecord,
    at: RowAt,
    check_text: bool,
    key: &mut GroupKey,
    groups: &mut DailyGroups,
) -> Result<(), RowProblem> {
    let problem = |field: &SourceField, problem: String, expected: String| RowProblem {
        at: Some(at),
        column: Some(field.name.clone()),
        problem,
        expected,
    };
    let value = |field: &SourceField| record.get(field.index).unwrap_or_default();
    for field in layout.used.iter().filter(|_| check_text) {
        if std::str::from_utf8(value(field)).is_err() {
            return Err(problem(
                field,
                "the value is not valid UTF-8 text".into(),
                "UTF-8 text (re-export the file as UTF-8)".into(),
            ));
        }
    }
    let mut picos = [0i128; 3];
    for (sum, field) in picos.iter_mut().zip(&layout.money) {
        let Some(field) = field else { continue };
        let text = value(field).trim_ascii();
        if text.is_empty() {
            if field.zero_if_null {
                continue;
            }
            return Err(problem(
                field,
                "the value is empty".into(),
                format!("a value: {} is required on every row", field.focus),
            ));
        }
        *sum = parse_picos(text).ok_or_else(|| not_a_number(field, text, at))?;
    }
    let consumed_quantity = match &layout.quantity {
        Some(field) if !value(field).trim_ascii().is_empty() => {
            let text = value(field).trim_ascii();
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|q| q.is_finite())
                .ok_or_else(|| not_a_number(field, text, at))?
        }
        _ => 0.0,
    };

    key.clear();
    for (slot, field) in layout.key.iter().enumerate() {
        let mut text = field.as_ref().map_or(&b""[..], value);
        // Dates are grouped on the calendar day they start with, and parsed once per group.
        if slot < KEY_DATES.len() && text.len() > 10 && is_char_boundary(text, 10) {
            text = &text[..10];
        }
        key.push(text);
    }
    groups.add_row(key, picos, consumed_quantity, Some(at), |slot| {
        let text = layout.attributes[slot].as_ref().map_or(&b""[..], value);
        (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned())
    });
    Ok(())
}

fn is_char_boundary(text: &[u8], at: usize) -> bool {
    // A UTF-8 continuation byte is 0b10xx_xxxx.
    text.get(at).is_none_or(|&b| (b as i8) >= -0x40)
}

fn not_a_number(field: &SourceField, text: &[u8], at: RowAt) -> RowProblem {
    RowProblem {
        at: Some(at),
        column: Some(field.name.clone()),
        problem: format!("`{}` is not a number", String::from_utf8_lossy(text)),
        expected: "a decimal number such as 12.34, -0.5 or 5.6E-05".into(),
    }
}

/// The groups of the chunks merged so far, with rows and lines placed in the whole file.
#[derive(Default)]
struct FileGroups {
    groups: DailyGroups,
    chunks: usize,
    lines_before: u64,
    rows_before: u64,
}

impl FileGroups {
    /// Merges the next chunk; returns the problem that ended it, placed in the file.
    fn merge(&mut self, chunk: ChunkRead) -> Option<RowProblem> {
        let (lines_before, rows_before) = (self.lines_before, self.rows_before);
        let place = |at: RowAt| RowAt { line: lines_before + at.line, row: rows_before + at.row };
        self.groups.merge(chunk.groups, place);
        let problem = chunk.problem.map(|p| RowProblem { at: p.at.map(place), ..p });
        self.chunks += 1;
        self.lines_before += chunk.body_lines;
        self.rows_before += chunk.rows;
        problem
    }
}

/// What reading a CSV file gave: the groups of the rows read, and how reading ended (the
/// file's checksum, or why it stopped).
pub struct CsvRead {
    pub read: ExportRead,
    pub end: Result<String, IngestError>,
}

/// Reads `file` (a header already checked against `layout`) on every core in chunks of about
/// `chunk_bytes`; `rows_read` counts rows as chunks are merged.
pub fn read_csv(file: &ExportFile, layout: &CsvLayout, chunk_bytes: usize, rows_read: &RowCounter) -> CsvRead {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let bad = |position: Option<Position>, column: Option<String>, problem: String, expected: String| {
        IngestError::from(BadInput { file: file.path.clone(), position, column, problem, expected })
    };
    std::thread::scope(|scope| {
        // Rendezvous: a chunk waits in the reader, not in a queue, until a parser is free.
        let (work, parse) = crossbeam_channel::bounded::<(usize, Vec<u8>)>(0);
        let (parsed, merge) = crossbeam_channel::bounded::<(usize, ChunkRead)>(workers);
        let (events, spent) = csv_chunks::read_chunks(file, chunk_bytes);
        for _ in 0..workers {
            let (parse, parsed, spent) = (parse.clone(), parsed.clone(), spent.clone());
            scope.spawn(move || {
                for (index, chunk) in parse {
                    let read = read_chunk(&chunk, layout);
                    // The reader may have finished; then the buffer is simply freed.
                    let _ = spent.send(chunk);
                    if parsed.send((index, read)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((parse, parsed, spent));
        let feeder = scope.spawn(move || {
            for (index, event) in events.into_iter().enumerate() {
                match event {
                    ChunkEvent::Chunk(chunk) => {
                        if work.send((index, chunk)).is_err() {
                            return None;
                        }
                    }
                    ChunkEvent::Done { checksum } => return Some(Ok(checksum)),
                    ChunkEvent::Failed { error, at_byte } => return Some(Err((error, at_byte))),
                }
            }
            None
        });

        let mut merged = FileGroups::default();
        let mut waiting = BTreeMap::new();
        let mut problem = None;
        'merging: for (index, chunk) in &merge {
            waiting.insert(index, chunk);
            while let Some(chunk) = waiting.remove(&merged.chunks) {
                rows_read.fetch_add(chunk.rows, Ordering::Relaxed);
                problem = merged.merge(chunk);
                if problem.is_some() {
                    break 'merging;
                }
            }
        }
        // Parsers and the feeder stop when nobody listens.
        drop(merge);
        let end = match problem {
            Some(p) => Err(bad(p.at.map(RowAt::position), p.column, p.problem, p.expected)),
            None => match feeder.join().expect("the chunk feeder panicked") {
                Some(Ok(checksum)) => Ok(checksum),
                Some(Err((io, at_byte))) => Err(bad(
                    Some(Position::Byte(at_byte)),
                    None,
                    format!("the file cannot be read past this point: {io}"),
                    "a complete file (a truncated download or copy?)".into(),
                )),
                None => {
                    Err(IngestError::Engine { path: file.path.clone(), message: "the reader stopped early".into() })
                }
            },
        };
        CsvRead { read: merged.groups.into_read(), end }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::export_file::Encoding;
    use crate::ingest::mapping::MappingSet;

    const HEADER: &str = "ChargePeriodStart,BillingPeriodStart,ProviderName,BillingAccountId,ServiceName,\
ChargeCategory,BillingCurrency,BilledCost,EffectiveCost,ListCost,Tags\n";

    fn rows(count: usize, bad_row: Option<usize>) -> String {
        let mut text = String::from(HEADER);
        for row in 1..=count {
            let day = row % 28 + 1;
            let cost = if Some(row) == bad_row { "oops".to_string() } else { format!("{row}.000000000001") };
            // Every third row's tags hold a quoted line break: lines and rows part ways.
            let tags = if row % 3 == 0 { "\"{\"\"team\"\":\n\"\"a\"\"}\"" } else { "{}" };
            text.push_str(&format!(
                "2025-03-{day:02}T00:00:00Z,2025-03-01,AWS,1,EC2,Usage,USD,{cost},{cost},,{tags}\n"
            ));
        }
        text
    }

    fn read(text: &str, chunk_bytes: usize) -> CsvRead {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        let file = ExportFile { bytes: text.len() as u64, path, encoding: Encoding::Csv };
        let header = file.csv_header().unwrap();
        let mappings = MappingSet::load(None).unwrap();
        let layout = CsvLayout::new(mappings.by_name("focus-1.0").unwrap(), &header);
        read_csv(&file, &layout, chunk_bytes, &RowCounter::default())
    }

    fn summary(read: &ExportRead) -> Vec<String> {
        read.groups
            .iter()
            .map(|g| format!("{:?} {} {} {:?}", g.charge_date, g.billed_picos, g.line_items, g.first_row))
            .collect()
    }

    #[test]
    fn many_small_chunks_read_like_one() {
        let text = rows(3_000, None);
        let whole = read(&text, 1 << 30);
        let chunked = read(&text, 4_096);
        assert!(whole.end.is_ok() && chunked.end.is_ok());
        assert_eq!(summary(&chunked.read), summary(&whole.read));
        let billed: i128 = chunked.read.totals.iter().map(|t| t.billed_picos).sum();
        // Σ row·10¹² + 10⁻¹² per row, exactly.
        assert_eq!(billed, (1..=3_000i128).map(|r| r * 1_000_000_000_000 + 1).sum::<i128>());
        assert_eq!(chunked.read.totals[0].line_items, 3_000);
    }

    #[test]
    fn a_bad_row_deep_in_the_file_is_placed_exactly() {
        let bad_row = 2_500;
        // Rows before it that are multiples of 3 take two lines each.
        let line = 1 + bad_row as u64 + (bad_row as u64 - 1) / 3;
        for chunk_bytes in [1 << 30, 4_096] {
            let read = read(&rows(3_000, Some(bad_row)), chunk_bytes);
            let Err(IngestError::BadInput(bad)) = read.end else { panic!("not refused") };
            assert_eq!(bad.position, Some(Position::Row { line, row: bad_row as u64 }), "{bad}");
            assert_eq!(bad.column.as_deref(), Some("BilledCost"));
            assert!(bad.problem.contains("`oops` is not a number"), "{bad}");
        }
    }
}
