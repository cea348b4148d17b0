//! `finopsd run` as deployed: a real process watching a folder, an S3 bucket (moto) and an
//! Azure Blob container (azurite), on SQLite and PostgreSQL, answering over HTTP, stopped with
//! SIGTERM.

mod common;

use std::process::{Child, Stdio};

use chrono::Datelike;
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
        Daemon::start_with(ts, "", &[])
    }

    /// With `sources` (TOML appended to the `[daemon]` section) and environment variables.
    fn start_with(ts: &TestStore, sources: &str, env: &[(&str, String)]) -> Daemon {
        let folder = ts.path("exports");
        std::fs::create_dir_all(&folder).unwrap();
        let port = free_port();
        let config = write(
            &ts.path(&format!("finopsd-{port}.toml")),
            format!(
                "[daemon]\nlisten = \"127.0.0.1:{port}\"\npipeline_every_secs = 1\nfolders = [{:?}]\n{sources}",
                folder.display().to_string()
            ),
        );
        let child = finopsd(&ts.url)
            .envs(env.iter().map(|(k, v)| (k, v)))
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

        // Restarted, it resumes where the store says: the same files are not ingested again.
        let daemon = Daemon::start(&ts);
        eventually("two ingest runs after the restart", || async {
            daemon.get("/metrics").await.is_some_and(|(_, m)| {
                !m.contains("finopsd_pipeline_runs_total{stage=\"ingest\"} 0\n")
                    && !m.contains("finopsd_pipeline_runs_total{stage=\"ingest\"} 1\n")
            })
        })
        .await;
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        assert!(metrics.contains("finopsd_ingested_line_items_total 0\n"), "{}: {metrics}", ts.engine);
        assert_eq!(ts.billed_totals().await, restated);
        assert!(daemon.stop().success());
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

/// A local server the test talks to, stopped when dropped.
struct Peer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// `program` with `args` (`{port}` and `{dir}` filled in), once it accepts connections;
    /// `None` outside CI when it is not installed (in CI that is a failure).
    fn start(program: &str, args: &[&str], install: &str) -> Option<Peer> {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()).replace("{dir}", &dir.path().display().to_string()))
            .collect();
        let child =
            match std::process::Command::new(program).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "{program} is not installed in CI; .ci/run must {install}"
                    );
                    eprintln!("SKIPPED: {program} is not installed ({install})");
                    return None;
                }
                Err(e) => panic!("{program} does not start: {e}"),
            };
        let mut peer = Peer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(peer.child.try_wait().unwrap().is_none(), "{program} exited at start");
            assert!(Instant::now() < deadline, "{program} does not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(peer)
    }

    fn moto() -> Option<Peer> {
        Peer::start("moto_server", &["-H", "127.0.0.1", "-p", "{port}"], "pip install 'moto[server]'")
    }

    fn azurite() -> Option<Peer> {
        let args = [
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "{port}",
            "--location",
            "{dir}",
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ];
        Peer::start("azurite-blob", &args, "npm install -g azurite@3.35.0")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The connection string of azurite's documented development account.
    fn azurite_connection(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint={}/devstoreaccount1;",
            self.url()
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `folder`'s files into an S3 bucket or Azure container with the provider's SDK.
fn upload(kind: &str, target: &str, name: &str, folder: &std::path::Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/upload.py");
    let output = std::process::Command::new("python3").args([script, kind, target, name]).arg(folder).output().unwrap();
    assert!(output.status.success(), "upload to {kind} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// The manifest of an AWS Data Exports refresh (CUR 2.0 or FOCUS) naming its data files.
fn data_exports_manifest(files: &[&str]) -> String {
    let files: Vec<String> =
        files.iter().map(|f| format!("\"s3://billing/finops/focus/data/BILLING_PERIOD=2025-03/{f}\"")).collect();
    format!(
        r#"{{"exportName":"focus","billingPeriod":{{"start":"2025-03-01T00:00:00.000Z","end":"2025-04-01T00:00:00.000Z"}},"dataFiles":[{}]}}"#,
        files.join(",")
    )
}

/// One run of an Azure FocusCost export: its part file and manifest, under `root`.
fn azure_focus_run(root: &std::path::Path, run: &str, submitted: &str, eur: &[(&'static str, &str)]) {
    let folder = format!("20250301-20250331/contoso-focus/{run}/guid-{run}");
    let lines: Vec<Line> = eur
        .iter()
        .map(|(day, cost)| Line {
            provider: "Microsoft",
            account: "8611537",
            currency: "EUR",
            ..Line::usage(day, cost)
        })
        .collect();
    write(&root.join(&folder).join("part_0_0001.csv"), focus_csv(&lines));
    let manifest = format!(
        r#"{{"exportConfig":{{"exportName":"contoso-focus","resourceId":"/providers/Microsoft.Billing/billingAccounts/8611537","dataVersion":"1.0r2","type":"FocusCost","timeFrame":"MonthToDate","granularity":"Daily"}},
            "runInfo":{{"executionType":"Scheduled","submittedTime":"{submitted}","runId":"{run}","startDate":"2025-03-01T00:00:00","endDate":"2025-03-31T00:00:00"}},
            "blobs":[{{"blobName":"exports/{folder}/part_0_0001.csv","byteCount":100}}]}}"#
    );
    write(&root.join(&folder).join("manifest.json"), manifest);
}

#[tokio::test]
async fn run_fetches_what_the_newest_manifests_name_from_s3_and_azure_blob() {
    let (Some(moto), Some(azurite)) = (Peer::moto(), Peer::azurite()) else { return };
    for ts in stores().await {
        let (bucket, container) = (format!("billing-{}", ts.engine), format!("costs-{}", ts.engine));
        let data = |file: &str| format!("finops/focus/data/BILLING_PERIOD=2025-03/{file}");
        let manifest = "finops/focus/metadata/BILLING_PERIOD=2025-03/focus-Manifest.json";

        // A refresh naming one file, beside a file left from an older refresh that must
        // never be fetched nor counted; and one run of an Azure export.
        let first = ts.path("upload-1");
        write(
            &first.join("aws").join(data("focus-00001.csv.gz")),
            common::gzip(march(&[("2025-03-01", "10")]).as_bytes()),
        );
        write(
            &first.join("aws").join(data("focus-00009.csv.gz")),
            common::gzip(march(&[("2025-03-05", "999")]).as_bytes()),
        );
        write(&first.join("aws").join(manifest), data_exports_manifest(&["focus-00001.csv.gz"]));
        azure_focus_run(&first.join("azure/exports"), "202503100000", "2025-03-10T00:00:00Z", &[("2025-03-01", "5.5")]);
        upload("s3", &moto.url(), &bucket, &first.join("aws"));
        upload("azure", &azurite.azurite_connection(), &container, &first.join("azure"));

        let sources = format!(
            "[[daemon.sources]]\nurl = \"s3://{bucket}/finops\"\n\
             options = {{ endpoint = \"{}\", allow_http = \"true\", region = \"us-east-1\" }}\n\
             [[daemon.sources]]\nurl = \"az://{container}/exports\"\noptions = {{ use_emulator = \"true\" }}\n",
            moto.url()
        );
        let env = [
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", azurite.url()),
        ];
        let daemon = Daemon::start_with(&ts, &sources, &env);
        let expected = [
            "aws:111122223333 2025-03 USD 10000000000".to_string(),
            "microsoft:8611537 2025-03 EUR 5500000000".to_string(),
        ];
        eventually("the first exports' facts", || async { ts.billed_totals().await == expected }).await;
        let fetched = |n: u32| format!("finopsd_source_fetched_objects_total {n}\n");
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        assert!(metrics.contains(&fetched(4)), "{}: two manifests and the two files they name: {metrics}", ts.engine);

        // AWS rewrites the month as two files and the manifest; Azure adds a newer run. Only
        // the changed objects are fetched, and each month is replaced, not added to.
        let second = ts.path("upload-2");
        write(
            &second.join("aws").join(data("focus-00001.csv.gz")),
            common::gzip(march(&[("2025-03-01", "12")]).as_bytes()),
        );
        write(
            &second.join("aws").join(data("focus-00002.csv.gz")),
            common::gzip(march(&[("2025-03-02", "3.25")]).as_bytes()),
        );
        write(&second.join("aws").join(manifest), data_exports_manifest(&["focus-00001.csv.gz", "focus-00002.csv.gz"]));
        azure_focus_run(
            &second.join("azure/exports"),
            "202503200000",
            "2025-03-20T00:00:00Z",
            &[("2025-03-01", "5.5"), ("2025-03-02", "1.01")],
        );
        upload("s3", &moto.url(), &bucket, &second.join("aws"));
        upload("azure", &azurite.azurite_connection(), &container, &second.join("azure"));
        let restated = [
            "aws:111122223333 2025-03 USD 15250000000".to_string(),
            "microsoft:8611537 2025-03 EUR 6510000000".to_string(),
        ];
        eventually("the restated facts", || async { ts.billed_totals().await == restated }).await;
        eventually("the changed objects fetched once", || async {
            daemon.get("/metrics").await.is_some_and(|(_, m)| m.contains(&fetched(9)))
        })
        .await;
        // The superseded Azure run was dropped from the mirror; the stale AWS file never came.
        let mirrored: Vec<String> = walk(&ts.path("finopsd-mirror"));
        assert!(
            mirrored.iter().all(|f| !f.contains("focus-00009") && !f.contains("202503100000/guid-202503100000/part")),
            "{mirrored:?}"
        );
        assert!(daemon.stop().success());
        ts.cleanup().await;
    }
}

/// Every file under `dir`, as a path relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found
}

/// The hex SHA-256 of a token, as `[[daemon.tokens]]` keeps it.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn anomaly(id: &str, team: &str) -> finopsd::store::StoredAnomaly {
    let money = |n: i128| finopsd::focus::Money::from_nanos(n * 1_000_000_000);
    let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 2).unwrap();
    finopsd::store::StoredAnomaly {
        id: id.into(),
        monitor: "teams".into(),
        series: format!(r#"{{"team":"{team}"}}"#),
        currency: "USD".into(),
        start: day,
        end: day,
        status: "open".into(),
        expected: money(5),
        actual: money(20),
        impact: money(15),
        impact_pct: 300.0,
        severity: Some("high".into()),
        root_causes: "[]".into(),
        feedback: None,
        feedback_note: None,
        current: true,
    }
}

/// `/api/v1/costs` of March 2025 by month and team, one `month team currency billed` per row.
async fn march_costs_by_team(daemon: &Daemon, token: Option<&str>) -> Vec<String> {
    let path = "/api/v1/costs?from=2025-03&to=2025-03&group_by=month,tag:team";
    let (status, _, body) = call(daemon, reqwest::Method::GET, path, token, None).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut rows: Vec<String> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {} {}", r["keys"]["month"], r["keys"]["tag:team"], r["currency"], r["billed_cost"]))
        .collect();
    rows.sort();
    rows
}

/// A request to the daemon with an optional bearer token: status, content type and body.
async fn call(
    daemon: &Daemon,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", daemon.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn the_api_answers_by_token_scope_and_restriction_and_refuses_bad_input() {
    use reqwest::Method;
    for ts in stores().await {
        let lines = [
            Line { tags: r#"{"team":"payments","service":"checkout"}"#, ..Line::usage("2025-03-01", "10.25") },
            Line { tags: r#"{"team":"search"}"#, ..Line::usage("2025-03-02", "20") },
        ];
        write(&ts.path("exports").join("march.csv"), focus_csv(&lines));
        ts.store
            .replace_anomalies("teams", &[anomaly("a-pay", "payments"), anomaly("a-search", "search")])
            .await
            .unwrap();
        let tokens = format!(
            "metrics_need_token = true\n[[daemon.tokens]]\nname = \"finance\"\nsha256 = \"{}\"\nscopes = [\"admin\"]\n\
             [[daemon.tokens]]\nname = \"payments\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\
             restrict = {{ dimension = \"team\", value = \"payments\" }}\n\
             [[budgets]]\nname = \"payments\"\ndimension = \"team\"\nvalue = \"payments\"\namounts = {{ USD = 100 }}\n\
             [[budgets]]\nname = \"search\"\ndimension = \"team\"\nvalue = \"search\"\namounts = {{ USD = 50 }}\n",
            token_hash("finance-secret"),
            token_hash("payments-secret")
        );
        let daemon = Daemon::start_with(&ts, &tokens, &[]);
        let (admin, team) = (Some("finance-secret"), Some("payments-secret"));
        eventually("both teams in the showback", || async {
            daemon.get("/healthz").await.is_some()
                && call(&daemon, Method::GET, "/api/v1/showback/2025-03", admin, None).await.2.contains("\"search\"")
        })
        .await;

        // No token, an unknown one: 401 and the scheme to use.
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/costs", None, None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        assert_eq!(call(&daemon, Method::GET, "/api/v1/costs", Some("guess"), None).await.0, 401);

        // Costs to the cent, by a tag and month.
        let rows = march_costs_by_team(&daemon, admin).await;
        assert_eq!(rows, [r#""2025-03" "payments" "USD" 10.25"#, r#""2025-03" "search" "USD" 20"#]);

        // Bad input: 400 with what is expected.
        for (path, expected) in [
            ("/api/v1/costs?group_by=colour", "unknown dimension `colour`"),
            ("/api/v1/costs?from=March", "neither a date"),
            ("/api/v1/costs?from=2025-04-01&to=2025-03-01", "is after"),
            ("/api/v1/costs?from=2020-01-01&to=2025-03-31", "longer than 800 days"),
            ("/api/v1/costs?color=red", "unknown field `color`"),
            ("/api/v1/showback/2025-13", "not a month"),
            ("/api/v1/showback/2025-03?by=colour", "not an allocation dimension"),
            ("/api/v1/showback/2025-03?format=pdf", "not one of json, csv, html, md"),
            ("/api/v1/anomalies?status=closed", "not one of open"),
        ] {
            let (status, kind, body) = call(&daemon, Method::GET, path, admin, None).await;
            assert_eq!((status, kind.as_str()), (400, "application/json"), "{path}: {body}");
            assert!(body.contains(expected), "{path}: {body}");
        }

        // The restricted token reads its own team and nothing else.
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03", team, None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"payments\"") && !body.contains("\"search\""), "{body}");
        for path in ["/api/v1/costs", "/api/v1/showback/2025-03?value=search", "/api/v1/showback/2025-03?by=service"] {
            let (status, _, body) = call(&daemon, Method::GET, path, team, None).await;
            assert_eq!(status, 403, "{path}: {body}");
        }
        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/anomalies", team, None).await;
        assert!(body.contains("a-pay") && !body.contains("a-search"), "{body}");
        assert_eq!(call(&daemon, Method::GET, "/api/v1/anomalies/a-search", team, None).await.0, 404);
        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/budgets", team, None).await;
        assert!(body.contains("\"payments\"") && !body.contains("\"search\""), "{body}");
        let feedback = r#"{"feedback": "planned", "note": "load test"}"#;
        let (status, _, body) =
            call(&daemon, Method::POST, "/api/v1/anomalies/a-pay/feedback", team, Some(feedback)).await;
        assert_eq!(status, 403, "read is not feedback: {body}");

        // Feedback with the admin token is stored; a bad one is refused.
        let (status, _, body) =
            call(&daemon, Method::POST, "/api/v1/anomalies/a-search/feedback", admin, Some(feedback)).await;
        assert_eq!(status, 200, "{body}");
        let stored = ts.store.anomalies(None).await.unwrap();
        let search = stored.iter().find(|a| a.id == "a-search").unwrap();
        assert_eq!((search.feedback.as_deref(), search.feedback_note.as_deref()), (Some("planned"), Some("load test")));
        // Answers are kept only while the store is unchanged: the feedback shows in the next
        // showback, and a restatement another process ingests in the next costs.
        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03", admin, None).await;
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let shown = report["anomalies"].as_array().unwrap().iter().find(|a| a["id"] == "a-search").unwrap();
        assert_eq!(shown["feedback"], "planned", "{body}");
        let restated = [Line { billed: "12.50".into(), ..lines[0].clone() }, lines[1].clone()];
        ts.ingest(&[&write(&ts.path("restated.csv"), focus_csv(&restated))]).await.unwrap();
        let rows = march_costs_by_team(&daemon, admin).await;
        assert_eq!(rows, [r#""2025-03" "payments" "USD" 12.5"#, r#""2025-03" "search" "USD" 20"#]);
        for bad in [r#"{"feedback": "maybe"}"#, "not json"] {
            let (status, _, body) =
                call(&daemon, Method::POST, "/api/v1/anomalies/a-pay/feedback", admin, Some(bad)).await;
            assert_eq!(status, 400, "{bad}: {body}");
        }

        let (status, _, body) =
            call(&daemon, Method::GET, "/api/v1/showback/2025-03?by=team&value=nobody", admin, None).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("`nobody` has no allocated spend in 2025-03"), "{body}");

        // The outbox is for unrestricted admins.
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/outbox?status=dead", admin, None).await;
        assert_eq!((status, body.as_str()), (200, r#"{"messages":[]}"#));
        assert_eq!(call(&daemon, Method::GET, "/api/v1/outbox", team, None).await.0, 403);
        assert_eq!(call(&daemon, Method::GET, "/api/v1/outbox?limit=5000", admin, None).await.0, 400);

        // One service's days and months.
        let (status, _, body) =
            call(&daemon, Method::GET, "/api/v1/services/checkout/costs?from=2025-03&to=2025-03", admin, None).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["daily"].to_string(), r#"[{"day":"2025-03-01","currency":"USD","effective_cost":10.25}]"#);
        assert_eq!(json["monthly"][0]["effective_cost"].to_string(), "10.25", "{body}");
        assert_eq!(json["monthly"].as_array().unwrap().len(), 1, "{body}");
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/services/checkout/costs", team, None).await;
        assert_eq!(status, 403, "restricted to a team, not a service: {body}");

        // Formats of the showback.
        let (_, kind, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03?format=csv", admin, None).await;
        assert!(kind.starts_with("text/csv") && body.contains("payments"), "{kind}: {body}");
        let (_, kind, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03?format=html", admin, None).await;
        assert!(kind.starts_with("text/html") && body.contains("<html"), "{kind}");

        // The store's figures in /metrics: anomalies by status and how far each budget is.
        // Budgets are worked out after each allocation, so the first figures may still come.
        let burn =
            r#"finopsd_budget_actual_ratio{budget="payments",dimension="team",value="payments",currency="USD"} 0.1025"#;
        eventually("budget burn in /metrics", || async {
            call(&daemon, Method::GET, "/metrics", admin, None).await.2.contains(burn)
        })
        .await;
        assert_eq!(daemon.get("/metrics").await.unwrap().0, 401, "metrics_need_token");
        let (_, _, metrics) = call(&daemon, Method::GET, "/metrics", team, None).await;
        assert!(metrics.contains("finopsd_anomalies{status=\"open\"} 2\n"), "{metrics}");
        assert!(metrics.contains("# TYPE finopsd_outbox_messages gauge"), "{metrics}");

        // Every route the OpenAPI document lists answers, with the method it gives.
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        let document: serde_json::Value = serde_json::from_str(&body).unwrap();
        let paths = document["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 8, "{body}");
        for (path, methods) in paths {
            let concrete = path.replace("{month}", "2025-03").replace("{id}", "a-pay").replace("{name}", "checkout");
            for method in methods.as_object().unwrap().keys() {
                let method: Method = method.to_uppercase().parse().unwrap();
                let body = (method == Method::POST).then_some(r#"{"feedback": "unexpected"}"#);
                let (status, _, answer) = call(&daemon, method.clone(), &concrete, admin, body).await;
                assert_eq!(status, 200, "{method} {concrete}: {answer}");
                assert_eq!(call(&daemon, method, &concrete, None, body).await.0, 401, "{concrete} without a token");
            }
        }
        assert!(daemon.stop().success());
        ts.cleanup().await;
    }
}

/// A team's token and budget name it as the config writes it; its tags spell it other ways,
/// and the values fold into one.
#[tokio::test]
async fn a_token_restricted_to_payments_reads_the_costs_tagged_payments_however_spelled() {
    use reqwest::Method;
    for ts in stores().await {
        let lines = [
            Line { tags: r#"{"team":"Payments"}"#, ..Line::usage("2025-03-01", "30") },
            Line { tags: r#"{"team":"PAYMENTS"}"#, ..Line::usage("2025-03-02", "5") },
            Line { tags: r#"{"team":"search"}"#, ..Line::usage("2025-03-02", "20") },
        ];
        write(&ts.path("exports").join("march.csv"), focus_csv(&lines));
        ts.store
            .replace_anomalies("teams", &[anomaly("a-pay", "Payments"), anomaly("a-search", "search")])
            .await
            .unwrap();
        let config = format!(
            "[[daemon.tokens]]\nname = \"payments\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\
             restrict = {{ dimension = \"team\", value = \"payments\" }}\n\
             [[budgets]]\nname = \"payments\"\ndimension = \"team\"\nvalue = \"payments\"\namounts = {{ USD = 100 }}\n",
            token_hash("payments-secret")
        );
        let daemon = Daemon::start_with(&ts, &config, &[]);
        let team = Some("payments-secret");
        eventually("the team's showback", || async {
            daemon.get("/healthz").await.is_some()
                && call(&daemon, Method::GET, "/api/v1/showback/2025-03", team, None).await.0 == 200
        })
        .await;

        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03", team, None).await;
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let values = &report["currencies"][0]["values"];
        assert_eq!(report["value"], "Payments", "{body}");
        assert_eq!(values.as_array().unwrap().len(), 1, "{body}");
        assert_eq!((&values[0]["value"], values[0]["effective_cost"].to_string()), (&"Payments".into(), "35".into()));
        let (status, _, body) = call(&daemon, Method::GET, "/api/v1/showback/2025-03?value=PAYMENTS", team, None).await;
        assert_eq!(status, 200, "{body}");
        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/anomalies", team, None).await;
        assert!(body.contains("a-pay") && !body.contains("a-search"), "{body}");
        let (_, _, body) = call(&daemon, Method::GET, "/api/v1/budgets", team, None).await;
        assert!(body.contains("\"payments\""), "{body}");
        // The budget on `payments` tracks what the tags spell `Payments` and `PAYMENTS`.
        let burn =
            r#"finopsd_budget_actual_ratio{budget="payments",dimension="team",value="payments",currency="USD"} 0.35"#;
        eventually("budget burn in /metrics", || async {
            daemon.get("/metrics").await.is_some_and(|(_, metrics)| metrics.contains(burn))
        })
        .await;
        assert!(daemon.stop().success());
        ts.cleanup().await;
    }
}

/// One `ResultsByTime` entry of `GetCostAndUsage`, grouped by service and linked account.
fn cost_explorer_day(day: &str, groups: &[(&str, &str, &str, &str)]) -> serde_json::Value {
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap().succ_opt().unwrap().to_string();
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|(service, account, unblended, amortised)| {
            serde_json::json!({
                "Keys": [service, account],
                "Metrics": {
                    "UnblendedCost": { "Amount": unblended, "Unit": "USD" },
                    "AmortizedCost": { "Amount": amortised, "Unit": "USD" },
                },
            })
        })
        .collect();
    serde_json::json!({ "TimePeriod": { "Start": day, "End": next }, "Total": {}, "Groups": groups, "Estimated": false })
}

#[tokio::test]
async fn run_pulls_cost_explorer_days_page_by_page_through_the_sdk() {
    let Some(moto) = Peer::moto() else { return };
    let client = reqwest::Client::new();
    for ts in stores().await {
        // Two pages: the first names the second with its NextPageToken.
        client.post(format!("{}/moto-api/reset", moto.url())).send().await.unwrap();
        let results = serde_json::json!({ "results": [
            {
                "ResultsByTime": [
                    cost_explorer_day("2026-11-01", &[("Amazon EC2", "444455556666", "10.25", "9.5")]),
                    cost_explorer_day("2026-11-02", &[("Amazon S3", "444455556666", "4", "4"), ("Tax", "444455556666", "1.5", "1.5")]),
                ],
                "NextPageToken": "page-2",
            },
            { "ResultsByTime": [cost_explorer_day("2026-11-03", &[("Amazon EC2", "777788889999", "0.0000001", "0")])] },
        ]});
        let queued = client
            .post(format!("{}/moto-api/static/ce/cost-and-usage-results", moto.url()))
            .json(&results)
            .send()
            .await
            .unwrap();
        assert_eq!(queued.status().as_u16(), 201);

        let pulls = format!(
            "[[daemon.cost_explorer]]\nname = \"payer\"\naccount_id = \"111122223333\"\nstart = \"2026-11-01\"\n\
             pull_every_secs = 3600\nendpoint = \"{}\"\n",
            moto.url()
        );
        let env = [("AWS_ACCESS_KEY_ID", "test".to_string()), ("AWS_SECRET_ACCESS_KEY", "test".to_string())];
        let daemon = Daemon::start_with(&ts, &pulls, &env);
        // 10.25 + 4 + 1.5 + 0.0000001 billed.
        let expected = ["aws-cost-explorer:111122223333 2026-11 USD 15750000100".to_string()];
        eventually("the pulled days' facts", || async { ts.billed_totals().await == expected }).await;
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        assert!(
            metrics.contains("finopsd_cost_api_requests_total{api=\"cost_explorer\"} 2\n"),
            "{}: {metrics}",
            ts.engine
        );
        assert!(metrics.contains("finopsd_pipeline_failures_total{stage=\"ingest\"} 0\n"), "{metrics}");
        // Effective is the amortised cost; the tax line is Tax.
        let categories = ts.category_totals().await;
        assert!(
            categories.contains(&"aws-cost-explorer:111122223333 2026-11 USD Tax 1500000000 1500000000".to_string()),
            "{categories:?}"
        );
        // Not due again within pull_every_secs: later runs ask nothing more.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        assert!(metrics.contains("finopsd_cost_api_requests_total{api=\"cost_explorer\"} 2\n"), "{metrics}");
        assert!(daemon.stop().success());
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn two_daemons_on_one_postgresql_take_turns_and_never_double_count() {
    use sqlx::Connection;
    let Some(ts) = stores().await.into_iter().find(|ts| ts.engine == "postgres") else { return };
    let (first, second) = (Daemon::start(&ts), Daemon::start(&ts));
    for daemon in [&first, &second] {
        eventually("/healthz", || async { daemon.get("/healthz").await.is_some() }).await;
    }
    // While something else holds the folder's job lock, neither daemon ingests it.
    let folder = ts.path("exports");
    let job = finopsd::daemon::job_name(&format!("ingest:{}", folder.display()));
    let mut holder = sqlx::PgConnection::connect(ts.url.expose()).await.unwrap();
    let granted: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(finopsd::store::job_lock_key(&job))
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert!(granted);
    write(&folder.join("march.csv"), march(&[("2025-03-01", "10"), ("2025-03-02", "20")]));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(ts.billed_totals().await.is_empty(), "ingested under someone else's lock");
    holder.close().await.unwrap();
    let expected = vec!["aws:111122223333 2025-03 USD 30000000000".to_string()];
    eventually("the export's facts", || async { ts.billed_totals().await == expected }).await;

    // Restated while both run: replaced once, never added up, and no ingest fails on the other.
    write(&folder.join("march.csv"), march(&[("2025-03-01", "10"), ("2025-03-02", "25.5")]));
    let restated = vec!["aws:111122223333 2025-03 USD 35500000000".to_string()];
    eventually("the restated facts", || async { ts.billed_totals().await == restated }).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ts.billed_totals().await, restated);
    for daemon in [&first, &second] {
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        for stage in ["ingest", "allocate", "detect", "notify"] {
            let ok = format!("finopsd_pipeline_failures_total{{stage=\"{stage}\"}} 0\n");
            assert!(metrics.contains(&ok), "{metrics}");
        }
    }
    assert!(first.stop().success() && second.stop().success());
    ts.cleanup().await;
}

/// What the Cost Management Query server was asked: the dataset and page of each request.
#[derive(Clone, Default)]
struct QueryLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

/// Answers Query as Azure documents it: columns and rows, a `nextLink` to a second page of
/// the actual costs, and one 429 with Cost Management's retry-after header first.
async fn cost_management_query(
    axum::extract::State((log, base)): axum::extract::State<(QueryLog, String)>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-token") {
        return (axum::http::StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let request: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(request["dataset"]["granularity"], "Daily");
    assert_eq!(request["dataset"]["grouping"][1], serde_json::json!({ "type": "TagKey", "name": "team" }));
    let dataset = request["type"].as_str().unwrap().to_string();
    let page = if uri.query().unwrap_or_default().contains("skiptoken=p2") { 2 } else { 1 };
    let mut log = log.0.lock().unwrap();
    let throttled_before = log.iter().any(|entry| entry == "429");
    if !throttled_before {
        log.push("429".into());
        let retry = [("x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after", "1")];
        return (axum::http::StatusCode::TOO_MANY_REQUESTS, retry, "Too many requests").into_response();
    }
    log.push(format!("{dataset} page {page}"));
    let columns = r#"[{"name":"Cost","type":"Number"},{"name":"UsageDate","type":"Number"},{"name":"ServiceName","type":"String"},{"name":"TagKey","type":"String"},{"name":"TagValue","type":"String"},{"name":"Currency","type":"String"}]"#;
    let (rows, next) = match (dataset.as_str(), page) {
        ("ActualCost", 1) => (
            r#"[[12.5,20261101,"Virtual Machines","team","payments","EUR"],[0,20261102,"Virtual Machines","team","","EUR"]]"#,
            format!(
                r#""{base}/subscriptions/sub-1/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=p2""#
            ),
        ),
        ("ActualCost", _) => (r#"[[300,20261101,"Reservations","","","EUR"]]"#, "null".to_string()),
        _ => (
            r#"[[12.5,20261101,"Virtual Machines","team","payments","EUR"],[9.68,20261102,"Virtual Machines","team","","EUR"],[5.64902E-05,20261102,"Storage","","","EUR"]]"#,
            "null".to_string(),
        ),
    };
    let answer = format!(
        r#"{{"id":"q","name":"q","type":"Microsoft.CostManagement/query","properties":{{"nextLink":{next},"columns":{columns},"rows":{rows}}}}}"#
    );
    ([("content-type", "application/json")], answer).into_response()
}

#[tokio::test]
async fn run_pulls_azure_cost_management_days_through_paging_and_throttling() {
    for ts in stores().await {
        let log = QueryLog::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route(
                "/subscriptions/sub-1/providers/Microsoft.CostManagement/query",
                axum::routing::post(cost_management_query),
            )
            .with_state((log.clone(), base.clone()));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let pulls = format!(
            "[[daemon.azure_cost]]\nname = \"contoso\"\nscope = \"/subscriptions/sub-1\"\nbilling_account_id = \"8611537\"\n\
             group_by = [\"ServiceName\", \"TagKey:team\"]\nstart = \"2026-11-01\"\npull_every_secs = 3600\n\
             token_env = \"FINOPSD_TEST_AZURE_TOKEN\"\nendpoint = \"{base}\"\n"
        );
        let daemon = Daemon::start_with(&ts, &pulls, &[("FINOPSD_TEST_AZURE_TOKEN", "test-token".to_string())]);
        // Billed from ActualCost: 12.5 + 0 + 300; effective from AmortizedCost:
        // 12.5 + 9.68 + 0.0000564902; EUR as the rows say.
        let expected = ["azure-cost-management:8611537 2026-11 EUR Usage 312500000000 22180056490".to_string()];
        eventually("the pulled days' facts", || async { ts.category_totals().await == expected }).await;
        assert_eq!(
            *log.0.lock().unwrap(),
            ["429", "ActualCost page 1", "ActualCost page 2", "AmortizedCost page 1"],
            "{}: throttled once, then every page once",
            ts.engine
        );
        let (_, metrics) = daemon.get("/metrics").await.unwrap();
        assert!(metrics.contains("finopsd_cost_api_requests_total{api=\"azure_cost\"} 3\n"), "{metrics}");
        assert!(metrics.contains("finopsd_pipeline_failures_total{stage=\"ingest\"} 0\n"), "{metrics}");
        assert!(daemon.stop().success());
        server.abort();
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_stage_on_a_cron_schedule_waits_for_its_time_while_the_others_run() {
    let ts = common::sqlite_store().await;
    let daemon = Daemon::start_with(&ts, "[daemon.schedules]\ndetect = \"0 0 1 1 *\"\n", &[]);
    eventually("ingest runs again", || async {
        daemon.get("/metrics").await.is_some_and(|(_, m)| {
            m.contains("finopsd_pipeline_runs_total{stage=\"ingest\"} 3\n")
                || m.contains("finopsd_pipeline_runs_total{stage=\"ingest\"} 4\n")
        })
    })
    .await;
    let (_, metrics) = daemon.get("/metrics").await.unwrap();
    assert!(metrics.contains("finopsd_pipeline_runs_total{stage=\"detect\"} 0\n"), "yearly: {metrics}");
    assert!(!metrics.contains("finopsd_pipeline_runs_total{stage=\"allocate\"} 0\n"), "{metrics}");
    assert!(daemon.stop().success());
    ts.cleanup().await;
}

/// 45 days of a team's daily cost up to the days Cost Explorer answers for (anomalies are
/// judged up to the newest day stored): a weekly rhythm and one day ten times the usual.
fn spiky_days() -> Vec<(chrono::NaiveDate, u32)> {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 9, 20).unwrap();
    (0..45u32).map(|i| (start + chrono::Days::new(i.into()), if i == 40 { 1000 } else { 100 + (i % 7) * 5 })).collect()
}

fn spiky_export() -> String {
    let lines: Vec<Line> = spiky_days()
        .into_iter()
        .map(|(day, cost)| {
            let period = chrono::NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap().to_string();
            Line {
                day: Box::leak(day.to_string().into_boxed_str()),
                period: Box::leak(period.into_boxed_str()),
                account: "222233334444",
                tags: r#"{"team":"payments"}"#,
                ..Line::usage("", &cost.to_string())
            }
        })
        .collect();
    focus_csv(&lines)
}

#[tokio::test]
async fn end_to_end_exports_from_s3_azure_a_folder_and_cost_explorer_become_costs_anomalies_and_messages() {
    use reqwest::Method;
    let (Some(moto), Some(azurite)) = (Peer::moto(), Peer::azurite()) else { return };
    let client = reqwest::Client::new();
    for ts in stores().await {
        let (bucket, container) = (format!("e2e-{}", ts.engine), format!("e2e-{}", ts.engine));
        client.post(format!("{}/moto-api/reset", moto.url())).send().await.unwrap();
        let results = serde_json::json!({ "results": [{ "ResultsByTime": [
            cost_explorer_day("2026-11-02", &[("Amazon S3", "444455556666", "4", "4")]),
        ]}]});
        client
            .post(format!("{}/moto-api/static/ce/cost-and-usage-results", moto.url()))
            .json(&results)
            .send()
            .await
            .unwrap();
        // S3: a Data Exports FOCUS refresh; Azure: one FocusCost run; the folder: 45 days of a
        // team with a spike.
        let upload_dir = ts.path("upload");
        let data = "finops/focus/data/BILLING_PERIOD=2025-03/focus-00001.csv.gz";
        write(&upload_dir.join("aws").join(data), common::gzip(march(&[("2025-03-01", "7")]).as_bytes()));
        write(
            &upload_dir.join("aws/finops/focus/metadata/BILLING_PERIOD=2025-03/focus-Manifest.json"),
            data_exports_manifest(&["focus-00001.csv.gz"]),
        );
        azure_focus_run(
            &upload_dir.join("azure/exports"),
            "202503100000",
            "2025-03-10T00:00:00Z",
            &[("2025-03-01", "5.5")],
        );
        upload("s3", &moto.url(), &bucket, &upload_dir.join("aws"));
        upload("azure", &azurite.azurite_connection(), &container, &upload_dir.join("azure"));
        let spiky = ts.path("exports").join("payments.csv");
        write(&spiky, spiky_export());

        let hash = token_hash("e2e-secret");
        let extra = format!(
            "[[daemon.sources]]\nurl = \"s3://{bucket}/finops\"\n\
             options = {{ endpoint = \"{moto}\", allow_http = \"true\", region = \"us-east-1\" }}\n\
             [[daemon.sources]]\nurl = \"az://{container}/exports\"\noptions = {{ use_emulator = \"true\" }}\n\
             [[daemon.cost_explorer]]\nname = \"payer\"\naccount_id = \"999988887777\"\nstart = \"2026-11-01\"\n\
             pull_every_secs = 3600\nendpoint = \"{moto}\"\n\
             [[daemon.tokens]]\nname = \"ops\"\nsha256 = \"{hash}\"\nscopes = [\"admin\"]\n\
             [[notify.channels]]\nname = \"archive\"\ndirectory = {{ path = {archive:?} }}\n",
            moto = moto.url(),
            archive = ts.path("archive").display().to_string(),
        );
        let env = [
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", azurite.url()),
        ];
        let daemon = Daemon::start_with(&ts, &extra, &env);
        eventually("/healthz", || async { daemon.get("/healthz").await.is_some() }).await;
        let token = Some("e2e-secret");
        let costs = || async {
            let path = "/api/v1/costs?from=2025-03-01&to=2026-11-30&group_by=billing_period,billing_account";
            let (_, _, body) = call(&daemon, Method::GET, path, token, None).await;
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let mut rows: Vec<String> = json["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            let keys = &r["keys"];
                            format!(
                                "{} {} {} {}",
                                keys["billing_period"], keys["billing_account"], r["currency"], r["billed_cost"]
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            rows.sort();
            rows
        };
        // The folder's account: 100 to 130 a day, and 1000 on 10-30.
        let mut folder_months: std::collections::BTreeMap<String, u32> = Default::default();
        for (day, cost) in spiky_days() {
            *folder_months.entry(day.format("%Y-%m").to_string()).or_default() += cost;
        }
        let expected = {
            let mut rows = vec![
                r#""2025-03" "111122223333" "USD" 7"#.to_string(),
                r#""2025-03" "8611537" "EUR" 5.5"#.to_string(),
                r#""2026-11" "999988887777" "USD" 4"#.to_string(),
            ];
            rows.extend(folder_months.iter().map(|(month, cost)| format!(r#""{month}" "222233334444" "USD" {cost}"#)));
            rows.sort();
            rows
        };
        eventually("costs from every source through the API", || async { costs().await == expected }).await;
        // The spike is found, with its money at stake, and its alert lands through the outbox.
        eventually("the spike as an anomaly", || async {
            call(&daemon, Method::GET, "/api/v1/anomalies", token, None).await.2.contains("\"start\":\"2026-10-30\"")
        })
        .await;
        eventually("the anomaly's alert delivered", || async {
            let (_, _, body) = call(&daemon, Method::GET, "/api/v1/outbox?status=delivered", token, None).await;
            body.contains("\"kind\":\"anomaly\"")
        })
        .await;
        assert!(std::fs::read_dir(ts.path("archive")).unwrap().count() > 0, "the directory channel got the message");

        // A restated S3 refresh replaces its month: the API shows the new figure, not both.
        let restate = ts.path("upload-2");
        write(&restate.join("aws").join(data), common::gzip(march(&[("2025-03-01", "9")]).as_bytes()));
        upload("s3", &moto.url(), &bucket, &restate.join("aws"));
        let restated: Vec<String> =
            expected.iter().map(|row| row.replace(r#""111122223333" "USD" 7"#, r#""111122223333" "USD" 9"#)).collect();
        eventually("the restated month through the API", || async { costs().await == restated }).await;
        assert!(daemon.stop().success(), "{}: SIGTERM", ts.engine);
        ts.cleanup().await;
    }
}
