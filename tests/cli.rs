//! The `finopsd` binary as people run it: exit codes, output shapes, secrets, and a process
//! killed in the middle of an ingest — on SQLite and PostgreSQL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Line, finopsd, focus_csv, stores, write};
use finopsd::sample::{ExportEncoding, write_benchmark_export};

#[tokio::test]
async fn costs_json_has_one_object_per_group_and_currency() {
    for ts in stores().await {
        let mut euro = Line::usage("2025-03-02", "7.5");
        euro.currency = "EUR";
        euro.provider = "Microsoft";
        let file = write(
            &ts.path("m.csv"),
            focus_csv(&[Line::usage("2025-03-01", "0.1"), Line::usage("2025-03-01", "0.2"), euro]),
        );
        let ingest = finopsd(&ts.url).args(["--quiet", "ingest"]).arg(&file).output().unwrap();
        assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
        let out = finopsd(&ts.url)
            .args([
                "costs",
                "--from",
                "2025-03",
                "--to",
                "2025-03",
                "--by",
                "month,provider,tag:team",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{}: {rows:?}", ts.engine);
        let usd = rows.iter().find(|r| r["currency"] == "USD").unwrap();
        assert_eq!(usd["month"], "2025-03");
        assert_eq!(usd["provider"], "AWS");
        assert_eq!(usd["tag:team"], "payments");
        // 0.1 + 0.2 is exactly 0.3 here, as a JSON number.
        assert_eq!(usd["billed_cost"].to_string(), "0.3");
        assert_eq!(usd["effective_cost"].to_string(), "0.3");
        assert!(usd["list_cost"].is_number());
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn ingest_allocates_and_showback_json_compares_with_the_month_before() {
    for ts in stores().await {
        let mut february = Line::usage("2025-02-27", "4");
        february.period = "2025-02-01";
        let mut untagged = Line::usage("2025-03-02", "1");
        untagged.tags = "{}";
        let file = write(&ts.path("q1.csv"), focus_csv(&[february, Line::usage("2025-03-01", "6"), untagged]));
        let ingest = finopsd(&ts.url).args(["ingest"]).arg(&file).output().unwrap();
        assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
        assert!(String::from_utf8_lossy(&ingest.stdout).contains("allocated 3 facts by team, service, cost_center"));
        let out = finopsd(&ts.url).args(["showback", "--month", "2025-03", "--format", "json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{}: {rows:?}", ts.engine);
        let payments = &rows[0];
        assert_eq!(payments["team"], "payments");
        assert_eq!(payments["currency"], "USD");
        assert_eq!(payments["effective_cost"].to_string(), "6");
        assert_eq!(payments["billed_cost"].to_string(), "6");
        assert_eq!(payments["previous_effective_cost"].to_string(), "4");
        assert_eq!(payments["change"].to_string(), "2");
        assert_eq!(payments["share"].as_f64(), Some(6.0 / 7.0));
        assert_eq!(rows[1]["team"], "unallocated");
        let unknown = finopsd(&ts.url).args(["showback", "--month", "2025-03", "--by", "squad"]).output().unwrap();
        assert_eq!(unknown.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("not an allocation dimension"));
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn costs_tell_the_usage_month_from_the_invoice_month() {
    for ts in stores().await {
        // Usage on the last day of February, invoiced in March (a late-arriving charge).
        let mut late = Line::usage("2025-02-28", "4");
        late.effective = "3".into();
        let file = write(&ts.path("m.csv"), focus_csv(&[late, Line::usage("2025-03-01", "1")]));
        assert!(finopsd(&ts.url).args(["-q", "ingest"]).arg(&file).output().unwrap().status.success());
        let out = finopsd(&ts.url)
            .args([
                "costs",
                "--by",
                "month,billing_period,service,region,charge_category,sub_account,billing_account",
                "--format",
                "csv",
            ])
            .output()
            .unwrap();
        let csv = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "month,billing_period,service,region,charge_category,sub_account,billing_account,currency,billed_cost,effective_cost,list_cost"
        );
        assert_eq!(
            lines[1], "2025-02,2025-03,Amazon EC2,us-east-1,Usage,210987654321,111122223333,USD,4,3,4",
            "{}",
            ts.engine
        );
        assert_eq!(lines[2], "2025-03,2025-03,Amazon EC2,us-east-1,Usage,210987654321,111122223333,USD,1,1,1");
        let table = finopsd(&ts.url)
            .args(["costs", "--by", "day", "--cost", "billed", "--from", "2025-02-28", "--to", "2025-02-28"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(table.contains("billed cost") && table.contains("4.00") && !table.contains("2025-03-01"), "{table}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn bad_input_exits_2_and_names_the_place() {
    for ts in stores().await {
        let mut line = Line::usage("2025-03-02", "abc");
        line.effective = "1".into();
        let file = write(&ts.path("bad.csv"), focus_csv(&[Line::usage("2025-03-01", "1"), line]));
        let out = finopsd(&ts.url).args(["--quiet", "ingest"]).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", ts.engine);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bad.csv, line 3 (data row 2), column BilledCost: `abc` is not a number"), "{stderr}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn bad_usage_exits_2_and_runtime_failure_exits_1() {
    let ts = common::sqlite_store().await;
    let unknown = finopsd(&ts.url).args(["costs", "--by", "colour"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown dimension `colour`"));
    let flag = finopsd(&ts.url).args(["ingest", "--no-such-flag"]).output().unwrap();
    assert_eq!(flag.status.code(), Some(2));
    let missing_config =
        finopsd(&ts.url).args(["--config", "/nonexistent/finopsd.toml", "config", "check"]).output().unwrap();
    assert_eq!(missing_config.status.code(), Some(2));
    let unreachable = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .env("FINOPSD_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["ingest", "status"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1), "{}", String::from_utf8_lossy(&unreachable.stderr));
    ts.cleanup().await;
}

#[tokio::test]
async fn config_check_redacts_the_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir.path().join("finopsd.toml"), "[store]\nurl = \"sqlite://ignored.db\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .env("FINOPSD_DATABASE_URL", "postgres://finops:hunter2@127.0.0.1:1/none")
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("postgres://finops:***@127.0.0.1:1/none"), "{all}");
    assert!(!all.contains("hunter2"), "the password leaked: {all}");
    let typo = write(&dir.path().join("typo.toml"), "[ingest]\ntag_key = [\"team\"]\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .arg("--config")
        .arg(&typo)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tag_key"));
}

#[tokio::test]
async fn ingest_status_shows_the_ledger() {
    for ts in stores().await {
        let file = write(&ts.path("m.csv"), focus_csv(&[Line::usage("2025-03-01", "1")]));
        assert!(finopsd(&ts.url).args(["-q", "ingest"]).arg(&file).output().unwrap().status.success());
        let out = finopsd(&ts.url).args(["ingest", "status", "--format", "json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let run = &runs[0];
        assert_eq!(run["outcome"], "ok", "{}", ts.engine);
        assert_eq!(run["line_items"], 1);
        assert_eq!(run["files"][0]["format"], "focus-1.2");
        assert_eq!(run["reconciliation"][0]["stored"]["billed_cost"].to_string(), "1");
        assert!(run["duration_ms"].is_number());
        ts.cleanup().await;
    }
}

/// Kills `finopsd ingest` at several points — while reading, and just after it starts writing —
/// and checks that the store is exactly as before each time, then that a clean run succeeds.
#[tokio::test]
async fn killing_an_ingest_leaves_the_store_as_it_was() {
    for ts in stores().await {
        let mut february = Line::usage("2025-02-01", "6");
        february.period = "2025-02-01";
        let earlier = write(&ts.path("earlier.csv"), focus_csv(&[Line::usage("2025-03-01", "5"), february]));
        assert!(finopsd(&ts.url).args(["-q", "ingest"]).arg(&earlier).output().unwrap().status.success());
        let before = ts.facts().await;
        let runs_before = ts.ledger_outcomes().await;

        let big = ts.path("big.csv");
        write_benchmark_export(&big, ExportEncoding::Csv, 150_000, 3).unwrap();
        for kill_point in ["reading", "writing"] {
            let mut child = finopsd(&ts.url)
                .env("RUST_LOG", "finopsd=debug")
                .args(["ingest"])
                .arg(&big)
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let stderr = BufReader::new(child.stderr.take().unwrap());
            let marker = if kill_point == "reading" { "reading export file" } else { "writing cost facts" };
            let started = Instant::now();
            for line in stderr.lines() {
                let line = line.unwrap();
                if line.contains(marker) {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(120), "{kill_point}: no `{marker}` line");
            }
            if kill_point == "reading" {
                std::thread::sleep(Duration::from_millis(150));
            }
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "{}: the ingest finished before it was killed at {kill_point}", ts.engine);
            assert_eq!(ts.facts().await, before, "{}: killed while {kill_point}, the store changed", ts.engine);
            assert_eq!(ts.ledger_outcomes().await, runs_before, "{}", ts.engine);
        }

        let clean = finopsd(&ts.url).args(["-q", "ingest"]).arg(&big).output().unwrap();
        assert!(clean.status.success(), "{}: {}", ts.engine, String::from_utf8_lossy(&clean.stderr));
        // The big export replaced March; February, which it does not cover, is untouched.
        let after = ts.billed_totals().await;
        assert_eq!(after.len(), 2, "{after:?}");
        assert_eq!(after[0], "aws:111122223333 2025-02 USD 6000000000");
        assert_ne!(after[1], "aws:111122223333 2025-03 USD 5000000000");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn run_stops_cleanly_on_sigterm_and_logs_json_when_asked() {
    let ts = common::sqlite_store().await;
    let mut child = finopsd(&ts.url)
        .args(["--log-format", "json", "run"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = stderr.next().unwrap().unwrap();
    let event: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("not JSON ({e}): {first}"));
    assert!(event["fields"]["message"].as_str().unwrap().contains("running"), "{first}");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "finopsd run did not exit 0 on SIGTERM");
    ts.cleanup().await;
}

#[test]
fn every_subcommand_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["ingest", "--help"],
        vec!["ingest", "status", "--help"],
        vec!["costs", "--help"],
        vec!["allocate", "--help"],
        vec!["allocate", "explain", "--help"],
        vec!["allocate", "diff", "--help"],
        vec!["allocate", "coverage", "--help"],
        vec!["showback", "--help"],
        vec!["report", "showback", "--help"],
        vec!["notify", "--help"],
        vec!["outbox", "list", "--help"],
        vec!["outbox", "retry", "--help"],
        vec!["unit-costs", "--help"],
        vec!["budgets", "--help"],
        vec!["anomalies", "scan", "--help"],
        vec!["config", "check", "--help"],
        vec!["sample", "generate", "--help"],
        vec!["sample", "anomalies", "--help"],
        vec!["demo", "--help"],
        vec!["run", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd")).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.len() > 200, "{args:?} says too little: {text}");
    }
}

#[test]
fn anomalies_scan_replays_series_and_prints_the_alerts_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let start: chrono::NaiveDate = "2025-01-06".parse().unwrap();
    let mut csv = String::from("series_id,date,cost\n");
    for d in 0..90u64 {
        let weekday = if d % 7 >= 5 { 400.0 } else { 1_000.0 };
        let noise = ((d * 7919) % 13) as f64 * 3.0;
        let date = start + chrono::Days::new(d);
        csv.push_str(&format!("steady,{date},{}\n", weekday + noise));
        let spike = if d == 70 { 2_500.0 } else { 0.0 };
        csv.push_str(&format!("spiky,{date},{}\n", weekday + noise + spike));
    }
    let series = dir.path().join("series.csv");
    std::fs::write(&series, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .args(["anomalies", "scan", "--series", series.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["series_id"], "spiky");
    assert_eq!((alert["start"].as_str(), alert["end"].as_str()), (Some("2025-03-17"), Some("2025-03-17")));
    let impact = alert["impact"].as_f64().unwrap();
    assert!((impact - 2_500.0).abs() < 150.0, "{alert}");
    assert_eq!(alert["severity"], "medium");
    for key in ["expected", "actual", "impact_pct"] {
        assert!(alert[key].is_number(), "{key}: {alert}");
    }

    std::fs::write(&series, "series_id,date,cost\nweb,2025-01-01,12\nweb,2025-01-02,lots\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .args(["anomalies", "scan", "--series", series.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3, column `cost`") && err.contains("`lots`"), "{err}");
}

#[test]
fn the_demo_runs_on_the_bundled_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FINOPSD_DATABASE_URL")
        .arg("demo")
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("reconcile to the cent"), "{stdout}");
    for provider in ["AWS", "Microsoft", "Google Cloud"] {
        assert!(stdout.contains(provider), "{provider} missing: {stdout}");
    }
    assert!(stdout.contains("EUR") && stdout.contains("USD"));
    for section in [
        "Marketplace charges of 2025-06",
        "Datadog, Inc.",
        "Contoso Security Ltd",
        "Elasticsearch, Inc.",
        "Showback by team",
        "shared costs divided by: support and tax",
        "Allocation coverage of team",
        "Largest unallocated team costs",
        "Team tags of 2025-06 spelled more than one way",
        "Unit costs of 2025-06 per team",
        "Budgets as they stood on 2025-06-20",
        "budget alerts recorded for delivery",
    ] {
        assert!(stdout.contains(section), "{section} missing: {stdout}");
    }
    let report = dir.path().join("finopsd-demo-showback-2025-06.html");
    assert!(
        stdout.contains(&format!(
            "The showback report of 2025-06 by team (open it in a browser; it prints to PDF): {}",
            report.display()
        )),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Showback by team — 2025-06") && html.contains("Reconciled to the cent"));
    let sink = dir.path().join("finopsd-demo-alerts");
    assert!(stdout.contains(&format!("into the directory sink {}", sink.display())), "{stdout}");
    let files: Vec<String> =
        std::fs::read_dir(&sink).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for expected in ["showback-team-2025-06.html", "showback-team-2025-06.csv", "showback_2025-06_team.json"] {
        assert!(files.iter().any(|f| f == expected), "{expected} missing from the sink: {files:?}");
    }
    assert!(
        files.iter().any(|f| f.starts_with("anomaly_")) && files.iter().any(|f| f.starts_with("budget_")),
        "{files:?}"
    );
}

/// The bundled sample data is exactly what the generator writes, so the README's command
/// reproduces it.
#[test]
fn the_bundled_sample_data_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"))
        .args(["sample", "generate", "--months", "6", "--seed", "42", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    for file in [
        "demo.toml",
        "unit-metrics/requests.csv",
        "labels/anomalies.json",
        "aws/northwind-cur2/data/BILLING_PERIOD=2025-06/northwind-cur2-00001.csv.gz",
        "aws/northwind-cur2/metadata/BILLING_PERIOD=2025-06/northwind-cur2-Manifest.json",
        "azure/20250601-20250630/northwind-amortized/202507010600/northwind-amortized-202507010600/part_0_0001.csv.gz",
        "gcp/billing-export-2025-06.json.gz",
    ] {
        let generated = std::fs::read(dir.path().join(file)).unwrap();
        assert!(
            generated == std::fs::read(bundled.join(file)).unwrap(),
            "sample-data/{file} differs from the generator's"
        );
    }
}

#[tokio::test]
async fn explain_shows_rules_and_splits_and_diff_previews_a_rule_change() {
    for ts in stores().await {
        let mut storage = Line::usage("2025-03-01", "4");
        (storage.service, storage.tags) = ("Amazon S3", "{}");
        let mut support = Line::usage("2025-03-01", "2");
        (support.service, support.tags) = ("AWS Support", "{}");
        let file = write(&ts.path("march.csv"), focus_csv(&[Line::usage("2025-03-01", "6"), storage, support]));
        let split = "[[allocation.splits]]\nname = \"support plan\"\ndimension = \"team\"\n\
                     match = { service = \"AWS Support\" }\nmethod = \"proportional\"\n";
        let config = write(&ts.path("finopsd.toml"), split);
        let with_config = |args: &[&str]| {
            let out = finopsd(&ts.url).arg("--config").arg(&config).args(args).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null)
        };
        with_config(&["ingest", file.to_str().unwrap()]);
        let explained =
            with_config(&["allocate", "explain", "--month", "2025-03", "--dimension", "team", "--format", "json"]);
        let rows: Vec<String> = explained
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {} {}", r["value"], r["method"], r["service"], r["effective_cost"]))
            .collect();
        assert_eq!(
            rows,
            vec![
                r#""payments" "tag: team tag" "Amazon EC2" 6"#,
                r#""unallocated" "default" "Amazon S3" 4"#,
                r#""payments" "split: support plan (from unallocated)" "AWS Support" 2"#,
            ],
            "{}",
            ts.engine
        );

        let proposed = write(
            &ts.path("proposed.toml"),
            format!(
                "{split}[[allocation.dimensions]]\nname = \"team\"\n\
                 [[allocation.dimensions.rules]]\nname = \"team tag\"\nvalue_from_tag = \"team\"\n\
                 [[allocation.dimensions.rules]]\nname = \"storage is data\"\nmatch = {{ service = \"Amazon S3\" }}\n\
                 value = \"data\"\n"
            ),
        );
        let diff = with_config(&["allocate", "diff", "--rules", proposed.to_str().unwrap(), "--format", "json"]);
        let changes: Vec<String> = diff
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["dimension"] == "team")
            .map(|c| format!("{} {} {} {} {}", c["value"], c["month"], c["current"], c["proposed"], c["change"]))
            .collect();
        // The support plan now follows data's storage too: 2 × 6/10 and 2 × 4/10.
        assert_eq!(
            changes,
            vec![
                r#""data" "2025-03" 0 4.8 4.8"#,
                r#""payments" "2025-03" 8 7.2 -0.8"#,
                r#""unallocated" "2025-03" 4 0 -4"#,
            ],
            "{}",
            ts.engine
        );
        let coverage = with_config(&["allocate", "coverage", "--month", "2025-03", "--format", "json"]);
        let team = coverage.as_array().unwrap().iter().find(|r| r["dimension"] == "team").unwrap().clone();
        assert_eq!(
            (team["by_tag"].to_string(), team["by_split"].to_string(), team["unallocated"].to_string()),
            ("6".into(), "2".into(), "4".into()),
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_rule_on_a_tag_ingest_drops_names_the_reingest_to_run() {
    let ts = common::sqlite_store().await;
    let file = write(&ts.path("march.csv"), focus_csv(&[Line::usage("2025-03-01", "6")]));
    let config = write(
        &ts.path("finopsd.toml"),
        "[[allocation.dimensions]]\nname = \"squad\"\n[[allocation.dimensions.rules]]\nname = \"squad tag\"\n\
         value_from_tag = \"squad\"\n",
    );
    let ingest = finopsd(&ts.url).arg("--config").arg(&config).arg("ingest").arg(&file).output().unwrap();
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
    let out = finopsd(&ts.url).arg("--config").arg(&config).arg("allocate").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected =
        format!("Add \"squad\" to ingest.tag_keys in the config, then run: finopsd ingest {}", file.display());
    assert!(stderr.contains("squad / squad tag read tag `squad`") && stderr.contains(&expected), "{stderr}");
    ts.cleanup().await;
}
