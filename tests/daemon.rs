//! `finopsd run` as deployed: a real process watching a folder, on SQLite and PostgreSQL,
//! answering over HTTP, stopped with SIGTERM.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Line, TestStore, finopsd, focus_csv, stores, write};

fn march(billed: &[(&'static str, &str)]) -> String {
    focus_csv(&billed.iter().map(|(day, cost)| Line::usage(day, cost)).collect::<Vec<_>>())
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    fn start(ts: &TestStore) -> Daemon {
        let folder = ts.path("exports");
        std::fs::create_dir_all(&folder).unwrap();
        let port = free_port();
        let config = write(
            &ts.path("finopsd.toml"),
            format!(
                "[daemon]\nlisten = \"127.0.0.1:{port}\"\npipeline_every_secs = 1\nfolders = [{:?}]\n",
                folder.display().to_string()
            ),
        );
        let child = finopsd(&ts.url)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start finopsd run");
        Daemon { child, base: format!("http://127.0.0.1:{port}") }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("{}{path}", self.base)).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "finopsd run did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 60 s for `check` to hold.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn run_ingests_new_and_restated_exports_from_a_folder_and_stops_on_sigterm() {
    for ts in stores().await {
        let daemon = Daemon::start(&ts);
        eventually("/healthz", || async { daemon.get("/healthz").await.is_some_and(|(s, _)| s == 200) }).await;
        let ready = daemon.get("/readyz").await.unwrap();
        assert_eq!(ready, (200, "ready; nothing ingested since start\n".to_string()), "{}", ts.engine);

        let export = ts.path("exports").join("march.csv");
        write(&export, march(&[("2025-03-01", "10"), ("2025-03-02", "20")]));
        let first = vec!["aws:111122223333 2025-03 USD 30000000000".to_string()];
        eventually("the export's facts", || async { ts.billed_totals().await == first }).await;

        // A restated export of the same month replaces it: the total is the new one, not both.
        write(&export, march(&[("2025-03-01", "10"), ("2025-03-02", "25.5"), ("2025-03-03", "1")]));
        let restated = vec!["aws:111122223333 2025-03 USD 36500000000".to_string()];
        eventually("the restated facts", || async { ts.billed_totals().await == restated }).await;

        let (status, metrics) = daemon.get("/metrics").await.unwrap();
        assert_eq!(status, 200);
        assert!(metrics.contains("finopsd_ingested_line_items_total 5\n"), "{}: {metrics}", ts.engine);
        assert!(metrics.contains("finopsd_pipeline_failures_total{stage=\"ingest\"} 0\n"), "{metrics}");
        assert!(metrics.contains("finopsd_pipeline_runs_total{stage=\"allocate\"}"), "{metrics}");
        assert!(metrics.contains("# TYPE finopsd_ingest_age_seconds gauge"), "{metrics}");
        let (_, ready) = daemon.get("/readyz").await.unwrap();
        assert!(ready.starts_with("ready; last ingest "), "{ready}");

        let status = daemon.stop();
        assert!(status.success(), "{}: finopsd run exited with {status} on SIGTERM", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_bad_export_in_the_folder_is_counted_and_the_daemon_keeps_running() {
    let ts = common::sqlite_store().await;
    let daemon = Daemon::start(&ts);
    write(&ts.path("exports").join("march.csv"), "BilledCost,Nonsense\n1,2\n");
    eventually("a failed ingest in /metrics", || async {
        daemon.get("/metrics").await.is_some_and(|(_, m)| {
            !m.contains("finopsd_pipeline_failures_total{stage=\"ingest\"} 0\n")
                && m.contains("finopsd_pipeline_failures_total{stage=\"ingest\"}")
        })
    })
    .await;
    assert!(ts.billed_totals().await.is_empty());
    // The next stages still ran, and the process still answers.
    let (_, metrics) = daemon.get("/metrics").await.unwrap();
    assert!(metrics.contains("finopsd_pipeline_failures_total{stage=\"allocate\"} 0\n"), "{metrics}");
    assert!(daemon.stop().success());
    ts.cleanup().await;
}
