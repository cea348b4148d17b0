//! Ingest progress: a bar on a terminal (bytes, rows/s, ETA), plain log lines elsewhere.
//!
//! The streaming reader reports rows as they pass; bytes are estimated from the rows per
//! byte of the file's start, which is what makes an ETA possible for a compressed file.

use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::export_file::{Encoding, ExportFile};

/// How often a progress line is logged when there is no terminal for a bar.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How many leading bytes of a CSV file are sampled for rows per byte.
const SAMPLE_BYTES: usize = 4 << 20;

pub struct IngestProgress {
    bar: Option<ProgressBar>,
    /// Per-file log lines at info level (debug when quiet).
    chatty: bool,
    bytes_done: std::cell::Cell<u64>,
}

/// Rows read so far from the current file, shared with the reader.
pub type RowCounter = Arc<AtomicU64>;

pub struct FileProgress<'a> {
    progress: &'a IngestProgress,
    file_bytes: u64,
    rows: RowCounter,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl IngestProgress {
    /// A bar when stderr is a terminal and output is not quiet.
    pub fn new(total_bytes: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        // Log lines would tear the bar apart: on a terminal the bar is the progress.
        let chatty = !quiet && bar.is_none();
        IngestProgress { bar, chatty, bytes_done: std::cell::Cell::new(0) }
    }

    pub fn start_file(&self, file: &ExportFile) -> FileProgress<'_> {
        let rows: RowCounter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let ticker = if let Some(bar) = self.bar.clone() {
            let rows_per_byte = rows_per_byte(file);
            let (rows, stop, base, file_bytes) = (rows.clone(), stop.clone(), self.bytes_done.get(), file.bytes);
            Some(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let done = rows.load(Ordering::Relaxed);
                    let bytes = if rows_per_byte > 0.0 { (done as f64 / rows_per_byte) as u64 } else { 0 };
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    bar.set_position(base + bytes.min(file_bytes));
                    bar.set_message(format!("{done} rows, {rate:.0} rows/s"));
                    std::thread::sleep(Duration::from_millis(200));
                }
            }))
        } else if self.chatty {
            // Without a terminal, a line every few seconds shows a long file is moving.
            let (rows, stop, path) = (rows.clone(), stop.clone(), file.path.clone());
            Some(std::thread::spawn(move || {
                let mut last_line = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last_line.elapsed() >= LOG_EVERY {
                        last_line = Instant::now();
                        let done = rows.load(Ordering::Relaxed);
                        let rate = format!("{:.0}", done as f64 / started.elapsed().as_secs_f64().max(1e-3));
                        tracing::info!(file = %path.display(), rows = done, rows_per_second = rate, "still reading");
                    }
                }
            }))
        } else {
            None
        };
        if self.chatty {
            tracing::info!(file = %file.path.display(), bytes = file.bytes, "reading export file");
        }
        FileProgress { progress: self, file_bytes: file.bytes, rows, stop, ticker, started }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for FileProgress<'_> {
    /// A file abandoned on an error stops its ticker too.
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

impl FileProgress<'_> {
    fn stop_ticker(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }

    pub fn counter(&self) -> RowCounter {
        self.rows.clone()
    }

    /// Stops the ticker, moves the bar past the file and logs the file's figures.
    pub fn done(mut self, path: &std::path::Path) {
        self.stop_ticker();
        let bytes_done = self.progress.bytes_done.get() + self.file_bytes;
        self.progress.bytes_done.set(bytes_done);
        if let Some(bar) = &self.progress.bar {
            bar.set_position(bytes_done);
        }
        let rows = self.rows.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = format!("{:.0}", rows as f64 / seconds.max(1e-3));
        let seconds = format!("{seconds:.2}");
        if self.progress.chatty {
            tracing::info!(file = %path.display(), rows, seconds, rows_per_second = rate, "read export file");
        } else {
            tracing::debug!(file = %path.display(), rows, seconds, rows_per_second = rate, "read export file");
        }
    }
}

/// Data rows per stored byte, from the file's first few MB (0 when unknown).
fn rows_per_byte(file: &ExportFile) -> f64 {
    match file.encoding {
        Encoding::Csv | Encoding::GzipCsv | Encoding::JsonLines | Encoding::GzipJsonLines => {
            let Ok((text, consumed)) = file.csv_text() else { return 0.0 };
            let mut sample = Vec::with_capacity(SAMPLE_BYTES);
            if text.take(SAMPLE_BYTES as u64).read_to_end(&mut sample).is_err() || consumed.get() == 0 {
                return 0.0;
            }
            let lines = sample.iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
            lines as f64 / consumed.get() as f64
        }
        // Parquet row groups are decoded whole; the bar moves per file.
        Encoding::Parquet => 0.0,
    }
}
