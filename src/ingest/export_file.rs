//! Export files on disk: finding them, telling their encoding, reading their header and
//! fingerprinting them for the ledger.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::{BadInput, IngestError, Position};
use super::manifest::{self, DatasetRole};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Csv,
    GzipCsv,
    Parquet,
    /// Newline-delimited JSON (GCP's BigQuery export), one object per line.
    JsonLines,
    GzipJsonLines,
}

impl Encoding {
    pub fn is_gzip(self) -> bool {
        matches!(self, Encoding::GzipCsv | Encoding::GzipJsonLines)
    }

    pub fn is_json_lines(self) -> bool {
        matches!(self, Encoding::JsonLines | Encoding::GzipJsonLines)
    }
}

#[derive(Debug, Clone)]
pub struct ExportFile {
    pub path: PathBuf,
    pub encoding: Encoding,
    pub bytes: u64,
    /// Actual or amortised, where the export's manifest or folder says so.
    pub role: Option<DatasetRole>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: [u8; 4] = *b"PAR1";

/// Every export file named by `paths`: files as given, folders searched recursively for
/// `.csv`, `.parquet` and newline-delimited `.json`/`.jsonl`/`.ndjson`, plain or `.gz`
/// (hidden files and manifests are not data), of which only the newest
/// snapshot of each export and month is read where manifests tell snapshots apart. Sorted,
/// so an ingest reads files in the same order every time; a file named twice (a folder and a
/// file in it) is read once, or its rows would count twice.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<ExportFile>, IngestError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| IngestError::Io { path: path.clone(), source })?;
        if metadata.is_dir() {
            let (mut files, mut manifests) = (Vec::new(), Vec::new());
            collect_data_files(path, &mut files, &mut manifests)?;
            if files.is_empty() {
                return Err(BadInput {
                    file: path.clone(),
                    position: None,
                    column: None,
                    problem: "the folder holds no export files".into(),
                    expected: ".csv, .csv.gz, .parquet or .json(.gz) files in it or its subfolders".into(),
                }
                .into());
            }
            files.sort();
            manifests.sort();
            let selection = manifest::select(path, &files, &manifests)?;
            if !selection.superseded.is_empty() {
                tracing::info!(
                    folder = %path.display(),
                    files = selection.superseded.len(),
                    "older export snapshots left out: the newest manifest of each export and month wins"
                );
            }
            for file in selection.files {
                found.push(ExportFile { role: file.role, ..open(&file.path)? });
            }
        } else {
            found.push(ExportFile { role: DatasetRole::from_path(path), ..open(path)? });
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|file| seen.insert(std::fs::canonicalize(&file.path).unwrap_or_else(|_| file.path.clone())));
    Ok(found)
}

fn collect_data_files(dir: &Path, out: &mut Vec<PathBuf>, manifests: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io_error = |source| IngestError::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_data_files(&path, out, manifests)?;
        } else if manifest::is_manifest_name(name) {
            manifests.push(path);
        } else if is_data_file_name(name) {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn is_data_file_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".csv") || name.ends_with(".parquet") || is_json_lines_name(name)
}

fn is_json_lines_name(name: &str) -> bool {
    [".json", ".jsonl", ".ndjson"].iter().any(|ext| name.ends_with(ext))
}

/// Tells the encoding by content, not name: a `.csv` that is really gzip still reads.
fn open(path: &Path) -> Result<ExportFile, IngestError> {
    let io_error = |source| IngestError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_error)?;
    let bytes = file.metadata().map_err(io_error)?.len();
    let mut magic = [0u8; 4];
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..]).map_err(io_error)? {
            0 => break,
            n => read += n,
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let json = is_json_lines_name(name.strip_suffix(".gz").unwrap_or(&name));
    let encoding = match (read >= 2 && magic[..2] == GZIP_MAGIC, read == 4 && magic == PARQUET_MAGIC, json) {
        (true, _, true) => Encoding::GzipJsonLines,
        (true, _, false) => Encoding::GzipCsv,
        (_, true, _) => Encoding::Parquet,
        (false, false, true) => Encoding::JsonLines,
        (false, false, false) => Encoding::Csv,
    };
    Ok(ExportFile { path: path.to_path_buf(), encoding, bytes, role: None })
}

/// How many bytes of the file a reader has consumed so far.
pub type ConsumedBytes = std::rc::Rc<std::cell::Cell<u64>>;

/// Counts bytes as they are read, so damage deep in a compressed file can be located.
pub struct CountingReader<R> {
    inner: R,
    count: ConsumedBytes,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl ExportFile {
    /// The text (CSV or JSON lines), decompressed if need be, and a counter of the file bytes
    /// consumed.
    pub fn csv_text(&self) -> Result<(Box<dyn Read>, ConsumedBytes), IngestError> {
        let file = File::open(&self.path).map_err(|source| IngestError::Io { path: self.path.clone(), source })?;
        let count = std::rc::Rc::new(std::cell::Cell::new(0));
        let counted = CountingReader { inner: BufReader::with_capacity(1 << 16, file), count: count.clone() };
        let text: Box<dyn Read> = if self.encoding.is_gzip() {
            Box::new(flate2::read::MultiGzDecoder::new(counted))
        } else {
            Box::new(counted)
        };
        Ok((text, count))
    }

    /// The column names of a CSV export (a UTF-8 byte-order mark is not part of the first).
    pub fn csv_header(&self) -> Result<Vec<String>, IngestError> {
        let (text, consumed) = self.csv_text()?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text);
        let mut record = csv::ByteRecord::new();
        let bad = |problem: String, position| BadInput {
            file: self.path.clone(),
            position,
            column: None,
            problem,
            expected: "a CSV header line naming the export's columns".into(),
        };
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Err(bad("the file is empty".into(), None).into()),
            Err(err) => {
                return Err(
                    bad(format!("the header cannot be read: {err}"), Some(Position::Byte(consumed.get()))).into()
                );
            }
        }
        record
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let field = if i == 0 { field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field) } else { field };
                std::str::from_utf8(field).map(str::to_string).map_err(|_| {
                    bad(format!("header field {} is not valid UTF-8", i + 1), Some(Position::Header)).into()
                })
            })
            .collect()
    }

    /// A fingerprint of the file as stored, for the ledger: XXH3-128, which tells a changed
    /// export from an unchanged one at memory speed (a cryptographic hash would cost a third
    /// of the ingest's CPU time, and nothing here needs to resist a forger).
    pub fn checksum(&self) -> Result<String, IngestError> {
        let io_error = |source| IngestError::Io { path: self.path.clone(), source };
        let mut file = File::open(&self.path).map_err(io_error)?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut buf).map_err(io_error)? {
                0 => break,
                n => hasher.update(&buf[..n]),
            }
        }
        Ok(checksum_text(hasher.digest128()))
    }
}

/// How the ledger writes a checksum: the algorithm, then the digest in hex.
pub fn checksum_text(digest: u128) -> String {
    format!("xxh3-128:{digest:032x}")
}
