//! Ingest benchmark: whole `finopsd ingest` processes against DuckDB doing the same daily
//! group-by on the same file, for FOCUS CSV, CSV.gz and Parquet and AWS CUR 2.0 CSV.gz and
//! Parquet (the CUR Parquet, with `resource_tags` as a MAP, is written by DuckDB from the
//! CSV.gz, so it needs DuckDB too). These "easy" files have few distinct values; the
//! "real cur2" rows are a CUR 2.0 export built like a real one (`benches/cur2_realistic.py`,
//! written by DuckDB too: unique line item ids, 200k resources, ~600 tag sets in drifting case)
//! as CSV, CSV.gz and Parquet.
//!
//!     cargo bench --bench ingest                 # 2,000,000 rows
//!     BENCH_ROWS=10000000 cargo bench --bench ingest
//!
//! Prints wall time, rows/s and peak RSS of each process, finopsd's time as a ratio of
//! DuckDB's, and the time of finopsd's phases (read, store, allocate) from its log. Each
//! command runs `BENCH_RUNS` times (default 3) and the median run is shown: single runs on a
//! shared 2-core machine vary by a third. Needs `python3` with `duckdb`
//! (`pip install duckdb`) for the baseline and the realistic files; without it the other
//! finopsd figures are still printed. Generated files are kept in
//! `$CARGO_TARGET_DIR/finopsd-bench/` and reused while their row count matches.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use finopsd::sample::{ExportEncoding, write_benchmark_export, write_cur2_benchmark_export};

/// Wall seconds and peak resident memory (bytes) of one child process.
struct Measured {
    seconds: f64,
    peak_rss: u64,
    output: String,
}

#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which std cannot see")]
fn measure(command: &mut Command) -> Measured {
    let started = Instant::now();
    let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn();
    let mut child = child.unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 reports the child's own peak RSS, which std's wait does not.
    // SAFETY: pid is our child, not yet reaped; both pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(reaped, pid, "wait4 failed");
    let output = format!("{}{}", stdout.join().expect("stdout reader"), stderr.join().expect("stderr reader"));
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{command:?} failed:\n{output}");
    Measured { seconds, peak_rss: usage.ru_maxrss as u64 * 1024, output }
}

/// The median of `runs` runs of `command` (by wall time), each made fresh by `prepare`.
fn median_of(runs: usize, mut prepare: impl FnMut(), mut command: impl FnMut() -> Command) -> Measured {
    let mut measured: Vec<Measured> = (0..runs.max(1))
        .map(|_| {
            prepare();
            measure(&mut command())
        })
        .collect();
    measured.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    measured.swap_remove(measured.len() / 2)
}

fn export_file(dir: &Path, rows: u64, encoding: ExportEncoding) -> PathBuf {
    let path = dir.join(format!("focus-{rows}.{}", encoding.extension()));
    if !path.exists() {
        eprintln!("generating {}", path.display());
        let partial = path.with_extension("partial");
        write_benchmark_export(&partial, encoding, rows, 1).expect("write benchmark export");
        std::fs::rename(&partial, &path).expect("rename benchmark export");
    }
    path
}

/// The CUR 2.0 benchmark export as CSV.gz, and as Parquet when DuckDB can write it.
fn cur2_files(dir: &Path, rows: u64, baseline: bool) -> Vec<PathBuf> {
    let folder = dir.join(format!("cur2-{rows}"));
    let csv = folder.join("northwind-cur2/data/BILLING_PERIOD=2025-03/northwind-cur2-00001.csv.gz");
    if !csv.exists() {
        eprintln!("generating {}", csv.display());
        let _ = std::fs::remove_dir_all(&folder);
        write_cur2_benchmark_export(&folder, rows, 1).expect("write CUR 2.0 benchmark export");
    }
    let mut files = vec![csv.clone()];
    if baseline {
        let parquet = dir.join(format!("cur2-{rows}.parquet"));
        if !parquet.exists() {
            eprintln!("converting to {}", parquet.display());
            let status = Command::new("python3")
                .arg(script("duckdb_cur2.py"))
                .arg(&csv)
                .arg("--to-parquet")
                .arg(&parquet)
                .status();
            assert!(status.is_ok_and(|s| s.success()), "DuckDB could not write the CUR 2.0 Parquet");
        }
        files.push(parquet);
    }
    files
}

/// The CUR 2.0 export built like a real one (`benches/cur2_realistic.py`: unique line item ids,
/// 200k resources, tags in drifting case, 500k-row row groups) as CSV, CSV.gz and Parquet.
fn realistic_files(dir: &Path, rows: u64) -> Vec<(&'static str, PathBuf)> {
    let folder = dir.join("cur2-realistic");
    let files: Vec<_> = ["csv", "csv.gz", "parquet"]
        .into_iter()
        .map(|extension| (extension, folder.join(format!("cur2-realistic-{rows}.{extension}"))))
        .collect();
    if !files.iter().all(|(_, file)| file.exists()) {
        eprintln!("generating {}", folder.display());
        let status = Command::new("python3")
            .arg(script("cur2_realistic.py"))
            .args(["--rows", &rows.to_string(), "--out"])
            .arg(&folder)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "benches/cur2_realistic.py could not write the realistic export");
    }
    files
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join(name)
}

fn duckdb_available() -> bool {
    Command::new("python3").args(["-c", "import duckdb"]).status().is_ok_and(|s| s.success())
}

/// One file to ingest: its label, the DuckDB script doing the same work (and its arguments),
/// the finopsd config.
struct Case {
    label: String,
    file: PathBuf,
    script: PathBuf,
    script_args: Vec<String>,
    config: Option<PathBuf>,
}

/// The files to ingest (generated when missing) and how each is compared.
fn bench_cases(dir: &Path, rows: u64, baseline: bool) -> Vec<Case> {
    let mut cases: Vec<Case> = [ExportEncoding::Csv, ExportEncoding::CsvGz, ExportEncoding::Parquet]
        .into_iter()
        .map(|encoding| Case {
            label: format!("focus {}", encoding.extension()),
            file: export_file(dir, rows, encoding),
            script: script("duckdb_groupby.py"),
            script_args: Vec::new(),
            config: None,
        })
        .collect();
    // The CUR grain DuckDB groups on keeps one tag, `team`; so does finopsd here.
    let cur_config = dir.join("cur2-team-only.toml");
    std::fs::write(&cur_config, "[ingest]\ntag_keys = [\"team\"]\n").expect("write bench config");
    for file in cur2_files(dir, rows, baseline) {
        let extension = if file.extension().is_some_and(|e| e == "parquet") { "parquet" } else { "csv.gz" };
        cases.push(Case {
            label: format!("cur2 {extension}"),
            file,
            script: script("duckdb_cur2.py"),
            script_args: Vec::new(),
            config: Some(cur_config.clone()),
        });
    }
    // The realistic export with the default config: the tags kept by default that it carries
    // (team, env, service, cost_center) are DuckDB's grouping columns too.
    if baseline {
        for (extension, file) in realistic_files(dir, rows) {
            cases.push(Case {
                label: format!("real cur2 {extension}"),
                file,
                script: script("duckdb_cur2.py"),
                script_args: vec!["--tags".into(), "team,env,service,cost_center".into()],
                config: None,
            });
        }
    }
    cases
}

/// The seconds finopsd's log gives each phase of an ingest: reading and aggregating the files,
/// storing the facts (replace, reconcile, commit), allocating; and the facts stored.
#[derive(Default)]
struct Phases {
    read: f64,
    store: f64,
    allocate: f64,
    facts: u64,
}

impl Phases {
    /// From the JSON log lines of one `finopsd ingest` (`--log-format json`).
    fn of(log: &str) -> Phases {
        let mut phases = Phases::default();
        for line in log.lines().filter(|line| line.starts_with('{')) {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let fields = &entry["fields"];
            let number = |name: &str| match &fields[name] {
                serde_json::Value::String(text) => text.parse().unwrap_or(0.0),
                value => value.as_f64().unwrap_or(0.0),
            };
            match fields["message"].as_str().unwrap_or("") {
                "read export file" => phases.read += number("seconds"),
                message if message.starts_with("stored cost facts") => {
                    phases.store = number("seconds");
                    phases.facts = number("facts") as u64;
                }
                "allocated the stored facts" => phases.allocate = number("seconds"),
                _ => {}
            }
        }
        phases
    }
}

fn main() {
    let rows: u64 = std::env::var("BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = PathBuf::from(target).join("finopsd-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let baseline = duckdb_available();
    if !baseline {
        eprintln!("python3 -c 'import duckdb' failed: `pip install duckdb` for the baseline; finopsd figures only");
    }
    // The files are written by a child process: Linux carries a process's peak RSS across
    // fork and exec, so a child of a parent that had generated gigabytes would report them as
    // its own peak.
    if std::env::var_os("BENCH_GENERATE_ONLY").is_some() {
        bench_cases(&dir, rows, baseline);
        return;
    }
    let generated =
        Command::new(std::env::current_exe().expect("the bench's own path")).env("BENCH_GENERATE_ONLY", "1").status();
    assert!(generated.is_ok_and(|s| s.success()), "generating the benchmark files failed");
    let cases = bench_cases(&dir, rows, baseline);

    println!(
        "{:<18} {:>11} {:>9} {:>12} {:>10} {:>10} {:>10} {:>9} {:>12}   {:>7} {:>8} {:>15} {:>15}",
        "format",
        "rows",
        "finopsd s",
        "rows/s",
        "peak RSS",
        "duckdb s",
        "duck RSS",
        "ratio",
        "ratio f64",
        "read s",
        "facts",
        "store s (f/s)",
        "allocate s (f/s)"
    );
    for case in &cases {
        // Both tools read the file from the page cache: whichever ran first would otherwise
        // pay for the disk (a cold 4.5 GB CSV doubles finopsd's time).
        let mut file = std::fs::File::open(&case.file).expect("open the benchmark file");
        std::io::copy(&mut file, &mut std::io::sink()).expect("read the benchmark file");
        let db = dir.join("bench.db");
        let fresh_store = || {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
        };
        let finopsd = median_of(runs, fresh_store, || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_finopsd"));
            command.env("FINOPSD_DATABASE_URL", format!("sqlite://{}", db.display()));
            if let Some(config) = &case.config {
                command.arg("--config").arg(config);
            }
            // Info logs as JSON give each phase's time (whatever RUST_LOG says); the progress bar
            // hides without a terminal.
            command.env("RUST_LOG", "info,sqlx=warn");
            command.args(["--log-format", "json", "ingest", "--output", "csv"]).arg(&case.file);
            command
        });
        assert!(finopsd.output.contains("billing_period"), "no reconciliation printed:\n{}", finopsd.output);
        let (duck, duck_f64) = if baseline {
            let duckdb = |extra: &[&str]| {
                median_of(
                    runs,
                    || {},
                    || {
                        let mut command = Command::new("python3");
                        command.arg(&case.script).arg(&case.file).args(&case.script_args).args(extra);
                        command
                    },
                )
            };
            let (exact, float) = (duckdb(&[]), duckdb(&["--double"]));
            (Some(exact), Some(float))
        } else {
            (None, None)
        };
        let mib = |bytes: u64| format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64);
        let phases = Phases::of(&finopsd.output);
        let rate = |seconds: f64| match phases.facts {
            0 => "-".to_string(),
            facts => format!("{seconds:.2} ({:.0}k)", facts as f64 / seconds.max(0.005) / 1e3),
        };
        println!(
            "{:<18} {:>11} {:>9.2} {:>12.0} {:>10} {:>10} {:>10} {:>9} {:>12}   {:>7.2} {:>8} {:>15} {:>15}",
            case.label,
            rows,
            finopsd.seconds,
            rows as f64 / finopsd.seconds,
            mib(finopsd.peak_rss),
            duck.as_ref().map(|d| format!("{:.2}", d.seconds)).unwrap_or_default(),
            duck.as_ref().map(|d| mib(d.peak_rss)).unwrap_or_default(),
            duck.as_ref().map(|d| format!("{:.2}x", finopsd.seconds / d.seconds)).unwrap_or_default(),
            duck_f64.as_ref().map(|d| format!("{:.2}x", finopsd.seconds / d.seconds)).unwrap_or_default(),
            phases.read,
            phases.facts,
            rate(phases.store),
            rate(phases.allocate),
        );
    }
    println!(
        "median of {runs} runs each; ratio = finopsd wall time / DuckDB wall time (DECIMAL sums); ratio f64 = against DuckDB summing doubles;\n\
         phases of finopsd's median run: read (and aggregate: one pass), store (replace the periods, reconcile, commit), allocate (f/s = facts per second)"
    );
}
