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
use super::groups::{DailyGroups, ExportRead, RowAt};
use super::progress::RowCounter;
use super::row_layout::{RowLayout, RowScratch, RowValues};
use crate::focus::money::parse_picos;

/// One CSV record, read through a layout.
struct CsvRow<'r> {
    record: &'r csv::ByteRecord,
    layout: &'r RowLayout,
}

impl CsvRow<'_> {
    /// The column's field, empty when it is one of the format's null tokens.
    fn field(&self, column: usize) -> &[u8] {
        let field = self.record.get(self.layout.columns[column].header_index).unwrap_or_default();
        self.layout.null_tokens.clean(field)
    }
}

impl RowValues for CsvRow<'_> {
    fn text(&mut self, column: usize) -> &[u8] {
        self.field(column)
    }

    fn amount(&mut self, column: usize) -> Result<Option<i128>, String> {
        let text = self.field(column).trim_ascii();
        if text.is_empty() {
            return Ok(None);
        }
        parse_picos(text).map(Some).ok_or_else(|| format!("`{}` is not a number", String::from_utf8_lossy(text)))
    }

    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String> {
        let text = self.field(column).trim_ascii();
        if text.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|q| q.is_finite())
            .map(Some)
            .ok_or_else(|| format!("`{}` is not a number", String::from_utf8_lossy(text)))
    }

    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.field(column));
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

fn read_chunk(chunk: &[u8], layout: &RowLayout) -> ChunkRead {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(chunk);
    // The header was read and checked before chunking; here it only sets the field count.
    let header_lines = match reader.byte_headers() {
        Ok(_) => line_of(chunk, reader.position()).saturating_sub(1),
        Err(_) => 0,
    };
    let mut read = ChunkRead { groups: DailyGroups::default(), body_lines: 0, rows: 0, problem: None };
    // One check of the whole chunk instead of one per value; only a chunk that fails it has
    // its values checked one by one, to name the bad one.
    let check_text = std::str::from_utf8(chunk).is_err();
    let mut record = csv::ByteRecord::new();
    let mut scratch = RowScratch::default();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                read.problem = Some(record_problem(chunk, &err));
                break;
            }
        }
        read.rows += 1;
        let at = record.position().map_or_else(RowAt::default, |p| RowAt { line: line_of(chunk, p), row: p.record() });
        if let Err(problem) = add_row(layout, &record, at, check_text, &mut scratch, &mut read.groups) {
            read.problem = Some(problem);
            break;
        }
    }
    // The reader counts every line break it consumed, quoted or not (lines start at 1).
    read.body_lines = reader.position().line().saturating_sub(1 + header_lines);
    read
}

/// The line `position` is on. After a CRLF line break the reader stops at the `\n`, which
/// it counts only when the next record is read: a record starting there starts a line later.
fn line_of(input: &[u8], position: &csv::Position) -> u64 {
    position.line() + u64::from(input.get(position.byte() as usize) == Some(&b'\n'))
}

fn record_problem(input: &[u8], err: &csv::Error) -> RowProblem {
    let at = err.position().map(|p| RowAt { line: line_of(input, p), row: p.record() });
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
    layout: &RowLayout,
    record: &csv::ByteRecord,
    at: RowAt,
    check_text: bool,
    scratch: &mut RowScratch,
    groups: &mut DailyGroups,
) -> Result<(), RowProblem> {
    for column in layout.columns.iter().filter(|_| check_text) {
        if std::str::from_utf8(record.get(column.header_index).unwrap_or_default()).is_err() {
            return Err(RowProblem {
                at: Some(at),
                column: Some(column.name.clone()),
                problem: "the value is not valid UTF-8 text".into(),
                expected: "UTF-8 text (re-export the file as UTF-8)".into(),
            });
        }
    }
    let mut row = CsvRow { record, layout };
    layout.add_row(&mut row, scratch, groups, Some(at)).map_err(|err| RowProblem {
        at: Some(at),
        column: err.column.map(|c| layout.column_name(c).to_string()),
        problem: err.problem,
        expected: err.expected,
    })
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
pub fn read_csv(file: &ExportFile, layout: &RowLayout, chunk_bytes: usize, rows_read: &RowCounter) -> CsvRead {
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
    use crate::ingest::groups::export_totals;
    use crate::ingest::mapping::MappingSet;
    use crate::ingest::tags::TagFilter;

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
        let file = ExportFile { bytes: text.len() as u64, path, encoding: Encoding::Csv, role: None };
        let header = file.csv_header().unwrap();
        let mappings = MappingSet::load(None).unwrap();
        let layout = RowLayout::new(mappings.by_name("focus-1.0").unwrap(), &header, &TagFilter::new(&[]));
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
        let totals = export_totals(&chunked.read.groups);
        let billed: i128 = totals.iter().map(|t| t.billed_picos).sum();
        // Σ row·10¹² + 10⁻¹² per row, exactly.
        assert_eq!(billed, (1..=3_000i128).map(|r| r * 1_000_000_000_000 + 1).sum::<i128>());
        assert_eq!(totals[0].line_items, 3_000);
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
