//! Cutting a CSV export (plain or gzip'd) into chunks of whole records, each with the header,
//! so that the chunks can be parsed on several cores at once from memory, and memory holds a
//! few chunks whatever the file's size. A record may hold line breaks inside quotes, so cuts
//! are made only at a line break outside quotes. The file's checksum is taken from the same
//! bytes as they are read.

use std::fs::File;
use std::io::Read;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::export_file::{Encoding, ExportFile, checksum_text};

/// Bytes of records per chunk. About five chunks are in memory at once (being read, queued,
/// parsed on each core); each chunk's groups are merged once, so much smaller chunks would
/// spend their time merging.
pub const CHUNK_BYTES: usize = 32 << 20;

/// One piece of the file: the header line followed by whole records.
pub type Chunk = Vec<u8>;

/// What the chunking thread sends: chunks, then the checksum, or the read error that stopped
/// it with the offset in the file (as stored, compressed or not) where it happened.
pub enum ChunkEvent {
    Chunk(Chunk),
    Done { checksum: String },
    Failed { error: std::io::Error, at_byte: u64 },
}

/// Hashes bytes as they pass, so the ledger's checksum costs no second read of the file, and
/// counts them, so damage deep in a compressed file can be located.
struct HashingReader<R> {
    inner: R,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Where parsers hand back the chunks they are done with: the next chunk is read into memory
/// that is already mapped and written, where a fresh buffer costs a page fault and zeroing
/// per page (a tenth of the CPU time on large files).
pub type SpentChunks = Sender<Chunk>;

/// Starts reading `file` on a thread of its own, one chunk ahead of the parser.
pub fn read_chunks(file: &ExportFile, chunk_bytes: usize) -> (Receiver<ChunkEvent>, SpentChunks) {
    let (sender, receiver) = sync_channel(1);
    let (spent, reusable) = channel();
    let file = file.clone();
    std::thread::spawn(move || {
        let event = match chunk_file(&file, chunk_bytes, &sender, &reusable) {
            Ok(checksum) => ChunkEvent::Done { checksum },
            Err((error, at_byte)) => ChunkEvent::Failed { error, at_byte },
        };
        // The receiver may have stopped listening after an error of its own.
        let _ = sender.send(event);
    });
    (receiver, spent)
}

/// The checksum of the whole file, or the read error and the byte offset it happened at.
fn chunk_file(
    file: &ExportFile,
    chunk_bytes: usize,
    sender: &SyncSender<ChunkEvent>,
    reusable: &Receiver<Chunk>,
) -> Result<String, (std::io::Error, u64)> {
    let opened = File::open(&file.path).map_err(|error| (error, 0))?;
    let mut hashing = HashingReader { inner: opened, hasher: xxhash_rust::xxh3::Xxh3::new(), bytes: 0 };
    match send_chunks(&mut hashing, file.encoding, chunk_bytes, sender, reusable) {
        Ok(true) => {}
        // The parser stopped listening (it refused the file): no checksum is needed.
        Ok(false) => return Ok(String::new()),
        Err(error) => return Err((error, hashing.bytes)),
    }
    // Read what a decoder left unread (gzip trailers), so the checksum covers the whole file.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|error| (error, hashing.bytes))?;
    Ok(checksum_text(hashing.hasher.digest128()))
}

/// Sends the file's text as chunks; `false` when the receiver stopped listening.
fn send_chunks(
    hashing: &mut HashingReader<File>,
    encoding: Encoding,
    chunk_bytes: usize,
    sender: &SyncSender<ChunkEvent>,
    reusable: &Receiver<Chunk>,
) -> std::io::Result<bool> {
    let read_bytes = chunk_bytes.min(1 << 20);
    let mut text: Box<dyn Read + '_> = match encoding {
        Encoding::GzipCsv => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(hashing))),
        _ => Box::new(hashing),
    };
    let mut splitter = RecordSplitter::default();
    // The header, then records: each chunk is sent as it was read, with no copy. The buffer's
    // length is how much of it is initialised; `filled` how much holds text.
    let mut pending: Vec<u8> = Vec::with_capacity(chunk_bytes + read_bytes);
    let mut filled = 0;
    let mut header_end: Option<usize> = None;
    let mut sent = false;
    loop {
        if pending.len() < filled + read_bytes {
            pending.resize(filled + read_bytes, 0);
        }
        let n = text.read(&mut pending[filled..filled + read_bytes])?;
        filled += n;
        let at_end = n == 0;
        splitter.scan(&pending[header_end.unwrap_or(0)..filled]);
        let header_len = match header_end {
            Some(len) => len,
            None => match splitter.first_end {
                Some(end) => {
                    splitter.consumed(end);
                    *header_end.insert(end)
                }
                None if at_end => {
                    // A header without a line break, or an empty file: pass it on as it is.
                    if filled > 0 {
                        pending.truncate(filled);
                        let _ = sender.send(ChunkEvent::Chunk(pending));
                    }
                    break;
                }
                None => continue,
            },
        };
        let body = filled - header_len;
        if body >= chunk_bytes || at_end {
            let cut = if at_end { body } else { splitter.last_end.unwrap_or(0) };
            if cut > 0 || !sent {
                // The header and the records after the cut start the next chunk.
                let mut next = reusable.try_recv().unwrap_or_else(|_| Vec::with_capacity(chunk_bytes + read_bytes));
                let carried = header_len + body - cut;
                if next.len() < carried {
                    next.resize(carried, 0);
                }
                next[..header_len].copy_from_slice(&pending[..header_len]);
                next[header_len..carried].copy_from_slice(&pending[header_len + cut..filled]);
                pending.truncate(header_len + cut);
                splitter.consumed(cut);
                sent = true;
                if sender.send(ChunkEvent::Chunk(std::mem::replace(&mut pending, next))).is_err() {
                    return Ok(false);
                }
                filled = carried;
            }
            if at_end {
                break;
            }
        }
    }
    Ok(true)
}

/// Finds record ends (line breaks outside quotes) incrementally: each byte is looked at once.
#[derive(Default)]
struct RecordSplitter {
    /// Bytes at the front of the buffer already scanned.
    scanned: usize,
    in_quotes: bool,
    /// Just past the last line break outside quotes.
    last_end: Option<usize>,
    /// Just past the first one: the end of the header.
    first_end: Option<usize>,
}

impl RecordSplitter {
    fn scan(&mut self, buffer: &[u8]) {
        for position in memchr::memchr2_iter(b'"', b'\n', &buffer[self.scanned..]) {
            let at = self.scanned + position;
            if buffer[at] == b'"' {
                // A doubled quote inside a quoted field toggles twice: the parity stays right.
                self.in_quotes = !self.in_quotes;
            } else if !self.in_quotes {
                self.last_end = Some(at + 1);
                self.first_end.get_or_insert(at + 1);
            }
        }
        self.scanned = buffer.len();
    }

    /// The first `n` bytes, which end outside quotes, were taken off the front of the buffer.
    fn consumed(&mut self, n: usize) {
        self.scanned -= n;
        self.last_end = self.last_end.filter(|&end| end > n).map(|end| end - n);
        self.first_end = self.first_end.filter(|&end| end > n).map(|end| end - n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(text: &[u8], gzip: bool, chunk_bytes: usize) -> (Vec<String>, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let bytes = if gzip {
            use std::io::Write;
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        } else {
            text.to_vec()
        };
        std::fs::write(&path, &bytes).unwrap();
        let encoding = if gzip { Encoding::GzipCsv } else { Encoding::Csv };
        let file = ExportFile { path, encoding, bytes: bytes.len() as u64, role: None };
        let mut chunks = Vec::new();
        for event in read_chunks(&file, chunk_bytes).0 {
            match event {
                ChunkEvent::Chunk(chunk) => chunks.push(String::from_utf8(chunk).unwrap()),
                ChunkEvent::Done { checksum } => {
                    let expected = checksum_text(xxhash_rust::xxh3::xxh3_128(&bytes));
                    assert_eq!(checksum, expected);
                    return (chunks, checksum);
                }
                ChunkEvent::Failed { error, .. } => panic!("{error}"),
            }
        }
        panic!("no end event")
    }

    #[test]
    fn every_chunk_has_the_header_and_whole_records() {
        let mut text = String::from("a,b\n");
        for i in 0..200 {
            text.push_str(&format!("{i},\"line\nbreak \"\"{i}\"\"\"\r\n"));
        }
        for gzip in [false, true] {
            let (chunks, _) = chunks_of(text.as_bytes(), gzip, 64);
            assert!(chunks.len() > 10, "{}", chunks.len());
            let mut rejoined = String::from("a,b\n");
            for chunk in &chunks {
                let body = chunk.strip_prefix("a,b\n").expect("header first");
                assert!(body.ends_with("\r\n"), "cut inside a record: {body:?}");
                rejoined.push_str(body);
            }
            assert_eq!(rejoined, text);
        }
    }

    #[test]
    fn small_files_and_header_only_files_are_one_chunk() {
        assert_eq!(chunks_of(b"a,b\n1,2\n", false, 1 << 20).0, vec!["a,b\n1,2\n"]);
        assert_eq!(chunks_of(b"a,b\n1,2", false, 1 << 20).0, vec!["a,b\n1,2"]);
        assert_eq!(chunks_of(b"a,b\n", false, 1 << 20).0, vec!["a,b\n"]);
        assert_eq!(chunks_of(b"a,b", false, 1 << 20).0, vec!["a,b"]);
    }
}
