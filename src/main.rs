//! The `finopsd` command line. Errors become exit codes here: 0 ok, 1 runtime failure,
//! 2 bad usage or bad input.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// Polars allocates many short-lived buffers from several threads; jemalloc is what polars
// itself ships with and measured ~8% faster than glibc's malloc on the ingest benchmark.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (`_RJEM_MALLOC_CONF` overrides them). Allocations above 8 MiB
/// (polars slices, a billing period's allocated rows) otherwise come from an arena that
/// hands their pages back at once, so the next batch faults them in again: keeping them for
/// the usual decay made allocation 8–20% and Parquet ingest 3–8% faster, for a higher peak
/// RSS on Parquet, its slices kept for reuse (320 → 395–425 MiB at 10M rows; three files of
/// 22M rows in all, one ingest, 528 MiB).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 21] = b"oversize_threshold:0\0";

fn main() -> ExitCode {
    // Polars memory-maps local files, so a 5 GB export would show as 5 GB resident; its
    // streaming byte source reads them in bounded chunks instead. The setting is read from
    // the environment, and no other thread exists yet to race with this write.
    if std::env::var_os("POLARS_FORCE_ASYNC").is_none() {
        // SAFETY: single-threaded at this point (before the runtime and polars' pool start).
        unsafe { std::env::set_var("POLARS_FORCE_ASYNC", "1") };
    }
    let args = cli::Cli::parse();
    cli::init_logging(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
