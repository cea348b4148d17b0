//! Anomaly detection on a real store: monitors find a spike with its root cause, feedback is
//! kept across re-detection and teaches the detector, and the CLI lists anomalies as JSON.

mod common;

use chrono::{Datelike, Days, NaiveDate};
use common::{Line, focus_csv, write};
use finopsd::allocate::{AllocationConfig, Allocator, allocate_store};
use finopsd::detect::monitor::{MonitorConfig, detect_store};
use finopsd::focus::Money;

const FIRST_DAY: &str = "2025-01-06";
const DAYS: u64 = 70;
/// The spike's day (a Monday, day 56) and the sub-account it comes from.
const SPIKE_DAY: u64 = 56;
const SPIKE_ACCOUNT: &str = "999988887777";

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// 70 days of EC2 (weekdays 1,000, weekends 400, a little noise) and S3 (a flat 200) in one
/// sub-account, a 2,500 EC2 spike from another sub-account on day 56, and a monthly support
/// fee (not usage) on the 1st.
fn lines() -> Vec<Line> {
    let first: NaiveDate = FIRST_DAY.parse().unwrap();
    let mut lines = Vec::new();
    for d in 0..DAYS {
        let date = first + Days::new(d);
        let day = leak(date.to_string());
        let period = leak(format!("{}-01", &day[..7]));
        let weekday = date.weekday().num_days_from_monday() < 5;
        let noise = ((d * 7919) % 13) as f64 * 4.0;
        let ec2 = if weekday { 1_000.0 } else { 400.0 } + noise;
        let line =
            |service: &'static str, cost: f64| Line { service, period, ..Line::usage(day, &format!("{cost:.2}")) };
        lines.push(line("Amazon EC2", ec2));
        lines.push(line("Amazon S3", 200.0 + noise / 4.0));
        if d == SPIKE_DAY {
            lines.push(Line { sub_account: SPIKE_ACCOUNT, ..line("Amazon EC2", 2_500.0) });
        }
        if date.day() == 1 {
            lines.push(Line { category: "Purchase", ..line("AWS Support (Business)", 5_000.0) });
        }
    }
    lines
}

fn monitor() -> MonitorConfig {
    MonitorConfig { name: "services".into(), by: "service".into(), ..MonitorConfig::default() }
}

#[tokio::test]
async fn a_monitor_finds_a_spike_with_its_root_cause_and_learns_from_feedback() {
    for ts in common::stores().await {
        let file = write(&ts.path("q1.csv"), focus_csv(&lines()));
        ts.ingest(&[&file]).await.unwrap();
        let summaries = detect_store(&ts.store, &[monitor()], None).await.unwrap();
        // EC2 and S3: the support fee is a purchase, not usage, so it is no series.
        assert_eq!((summaries[0].series, summaries[0].alerts), (2, 1), "{summaries:?} {}", ts.engine);
        let anomalies = ts.store.anomalies(None).await.unwrap();
        let alert: Vec<_> = anomalies.iter().filter(|a| a.severity.is_some()).collect();
        assert_eq!(alert.len(), 1, "{anomalies:?}");
        let spike = alert[0];
        let spike_day = FIRST_DAY.parse::<NaiveDate>().unwrap() + Days::new(SPIKE_DAY);
        assert_eq!((spike.start, spike.end), (spike_day, spike_day));
        assert_eq!((spike.series.as_str(), spike.currency.as_str()), (r#"{"service":"Amazon EC2"}"#, "USD"));
        assert_eq!(spike.severity.as_deref(), Some("medium"));
        let impact = spike.impact.nanos() as f64 / 1e9;
        assert!((impact - 2_500.0).abs() < 150.0, "{spike:?}");
        let causes: serde_json::Value = serde_json::from_str(&spike.root_causes).unwrap();
        // The new sub-account explains the whole spike: it had no cost in the weeks before.
        assert_eq!(causes[0]["sub_account"], format!("prod ({SPIKE_ACCOUNT})"), "{causes}");
        assert_eq!(causes[0]["impact"], 2_500.0, "{causes}");
        assert_eq!(causes[0]["share_pct"].as_f64().map(|p| p > 90.0), Some(true), "{causes}");

        // Re-detecting keeps the id; feedback survives it and the day is learned as normal.
        detect_store(&ts.store, &[monitor()], None).await.unwrap();
        let again = ts.store.anomalies(None).await.unwrap();
        assert!(again.iter().any(|a| a.id == spike.id), "{again:?}");
        assert!(ts.store.set_anomaly_feedback(&spike.id, "expected", Some("the launch")).await.unwrap());
        assert!(!ts.store.set_anomaly_feedback("no-such-id", "expected", None).await.unwrap());
        let summaries = detect_store(&ts.store, &[monitor()], None).await.unwrap();
        assert_eq!(summaries[0].alerts, 0, "{summaries:?}");
        let kept = ts.store.anomalies(None).await.unwrap();
        let marked = kept.iter().find(|a| a.id == spike.id).expect("the anomaly with feedback is kept");
        assert_eq!(
            (marked.feedback.as_deref(), marked.feedback_note.as_deref()),
            (Some("expected"), Some("the launch"))
        );
        assert_eq!(marked.impact, spike.impact);
        assert!(kept.iter().all(|a| a.id == spike.id || a.severity.is_none()), "{kept:?}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn an_allocation_monitor_explains_a_team_anomaly_by_the_facts_behind_it() {
    for ts in common::stores().await {
        let file = write(&ts.path("q1.csv"), focus_csv(&lines()));
        ts.ingest(&[&file]).await.unwrap();
        let rules = AllocationConfig::default();
        allocate_store(&ts.store, Allocator::new(&rules).unwrap(), &rules).await.unwrap();
        let allocator = Allocator::new(&rules).unwrap();
        let teams = MonitorConfig { name: "teams".into(), by: "allocation:team".into(), ..MonitorConfig::default() };
        let summaries = detect_store(&ts.store, &[teams], Some(&allocator)).await.unwrap();
        assert_eq!((summaries[0].series, summaries[0].alerts), (1, 1), "{summaries:?} {}", ts.engine);
        let anomalies = ts.store.anomalies(None).await.unwrap();
        let spike = anomalies.iter().find(|a| a.severity.is_some()).unwrap();
        assert_eq!(spike.series, r#"{"team":"payments"}"#);
        let causes: serde_json::Value = serde_json::from_str(&spike.root_causes).unwrap();
        assert_eq!(causes[0]["sub_account"], format!("prod ({SPIKE_ACCOUNT})"), "{causes}");
        assert_eq!(causes[0]["impact"], 2_500.0, "{causes}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn the_newest_days_wait_for_the_export_to_settle() {
    let ts = common::sqlite_store().await;
    let file = write(&ts.path("q1.csv"), focus_csv(&lines()));
    ts.ingest(&[&file]).await.unwrap();
    // The spike is 13 days before the last day: settling 14 days leaves it unjudged.
    let settled = MonitorConfig { settle_days: DAYS - SPIKE_DAY, ..monitor() };
    let summaries = detect_store(&ts.store, &[settled], None).await.unwrap();
    assert_eq!(summaries[0].alerts, 0, "{summaries:?}");
    let err = detect_store(&ts.store, &[monitor(), monitor()], None).await.unwrap_err().to_string();
    assert!(err.contains("`services`") && err.contains("used twice"), "{err}");
    ts.cleanup().await;
}

#[test]
fn anomalies_list_prints_json_and_feedback_names_unknown_ids() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ts = runtime.block_on(common::sqlite_store());
    let file = write(&ts.path("q1.csv"), focus_csv(&lines()));
    runtime.block_on(ts.ingest(&[&file])).unwrap();
    let run = |args: &[&str]| common::finopsd(&ts.url).args(args).output().unwrap();
    let out = run(&["anomalies", "detect"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("monitor services: 2 series"), "{out:?}");
    let out = run(&["anomalies", "list", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alerting: Vec<&serde_json::Value> =
        listed.as_array().unwrap().iter().filter(|a| !a["severity"].is_null()).collect();
    assert_eq!(alerting.len(), 1, "{listed}");
    let anomaly = alerting[0];
    for key in ["id", "monitor", "currency", "start", "end", "status", "expected", "actual", "impact", "impact_pct"] {
        assert!(!anomaly[key].is_null(), "{key}: {anomaly}");
    }
    assert_eq!(anomaly["dimension_values"]["service"], "Amazon EC2");
    assert!(anomaly["root_causes"].as_array().is_some_and(|c| !c.is_empty()), "{anomaly}");
    assert!(Money::parse_decimal(anomaly["impact"].as_str().unwrap()).is_some(), "{anomaly}");
    let id = anomaly["id"].as_str().unwrap();
    let out = run(&["anomalies", "feedback", id, "planned", "--note", "load test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["anomalies", "list", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let marked = listed.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap();
    assert_eq!((marked["feedback"].as_str(), marked["feedback_note"].as_str()), (Some("planned"), Some("load test")));
    let out = run(&["anomalies", "feedback", "nope", "expected"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no anomaly has the id `nope`"));
    runtime.block_on(ts.cleanup());
}

#[tokio::test]
async fn a_first_run_over_old_history_lists_old_anomalies_but_sends_only_current_ones() {
    use finopsd::notify::config::{ChannelConfig, NotifyConfig};
    use finopsd::notify::queue_alerts;
    for ts in common::stores().await {
        let file = write(&ts.path("q1.csv"), focus_csv(&lines()));
        ts.ingest(&[&file]).await.unwrap();
        let config = NotifyConfig {
            channels: vec![ChannelConfig::directory("ops", ts.path("alerts"))],
            ..NotifyConfig::default()
        };
        // The spike ended 11 days before the newest judged day: listed, never sent.
        detect_store(&ts.store, &[monitor()], None).await.unwrap();
        let listed = ts.store.anomalies(None).await.unwrap();
        let spike = listed.iter().find(|a| a.severity.is_some()).expect("the spike is listed");
        assert!(!spike.current, "{}: {spike:?}", ts.engine);
        assert_eq!(queue_alerts(&ts.store, &config, &[], chrono::Utc::now()).await.unwrap(), 0, "{}", ts.engine);
        // A monitor that counts it as recent sends it.
        let patient = MonitorConfig { alert_max_age_days: DAYS, ..monitor() };
        detect_store(&ts.store, &[patient], None).await.unwrap();
        assert_eq!(queue_alerts(&ts.store, &config, &[], chrono::Utc::now()).await.unwrap(), 1, "{}", ts.engine);
        ts.cleanup().await;
    }
}

/// The days AWS has delivered; Azure (another source) is three days behind it.
const DELIVERED_DAYS: u64 = 70;
const AZURE_LAG_DAYS: u64 = 3;
/// A real drop of Azure's cost, well inside the days it has delivered (Thursday to Saturday).
const DROP_DAYS: [u64; 3] = [59, 60, 61];
/// A spike of AWS's cost (another team's) on a day AWS has delivered but Azure has not.
const AWS_SPIKE_DAY: u64 = 67;

/// Two sources of one team's costs: an AWS account delivered through day 69 and an Azure
/// billing account delivered through day 66; each has weekday and weekend levels, Azure drops
/// on `DROP_DAYS`, and another team spends on AWS on `AWS_SPIKE_DAY` alone.
fn two_source_lines() -> Vec<Line> {
    let first: NaiveDate = FIRST_DAY.parse().unwrap();
    let mut lines = Vec::new();
    for d in 0..DELIVERED_DAYS {
        let date = first + Days::new(d);
        let day = leak(date.to_string());
        let period = leak(format!("{}-01", &day[..7]));
        let level = if date.weekday().num_days_from_monday() < 5 { 1_000.0 } else { 400.0 };
        let noise = ((d * 7919) % 13) as f64 * 4.0;
        lines.push(Line { period, ..Line::usage(day, &format!("{:.2}", level + noise)) });
        if d == AWS_SPIKE_DAY {
            lines.push(Line { period, tags: r#"{"Team":"search"}"#, ..Line::usage(day, "2500.00") });
        }
        if d < DELIVERED_DAYS - AZURE_LAG_DAYS {
            let azure = if DROP_DAYS.contains(&d) { 150.0 } else { level + noise };
            lines.push(Line {
                period,
                provider: "Microsoft",
                account: "azure-ea-4711",
                service: "Virtual Machines",
                ..Line::usage(day, &format!("{azure:.2}"))
            });
        }
    }
    lines
}

/// Providers (an AWS and an Azure series) and teams, by tag and by allocation: the one team
/// spends on both providers.
fn freshness_monitors() -> Vec<MonitorConfig> {
    let by = |name: &str, by: &str| MonitorConfig { name: name.into(), by: by.into(), ..MonitorConfig::default() };
    vec![by("providers", "provider"), by("team_tags", "tag:team"), by("teams", "allocation:team")]
}

#[tokio::test]
async fn a_lagging_source_is_no_drop_while_a_real_drop_in_its_delivered_days_alerts() {
    let day = |d: u64| FIRST_DAY.parse::<NaiveDate>().unwrap() + Days::new(d);
    for ts in common::stores().await {
        let file = write(&ts.path("two-sources.csv"), focus_csv(&two_source_lines()));
        ts.ingest(&[&file]).await.unwrap();
        let rules = AllocationConfig::default();
        allocate_store(&ts.store, Allocator::new(&rules).unwrap(), &rules).await.unwrap();
        let engine = ts.engine;

        let delivered = ts.store.source_last_days(day(0)).await.unwrap();
        let delivered: Vec<(&str, NaiveDate)> = delivered.iter().map(|s| (s.source.as_str(), s.last_day)).collect();
        assert_eq!(delivered, [("aws:111122223333", day(69)), ("microsoft:azure-ea-4711", day(66))], "{engine}");

        let allocator = Allocator::new(&rules).unwrap();
        let summaries = detect_store(&ts.store, &freshness_monitors(), Some(&allocator)).await.unwrap();
        // Azure's series and the payments team's (both providers) wait for Azure; AWS's and
        // the search team's (AWS alone) do not.
        let waiting: Vec<(&str, usize, usize)> =
            summaries.iter().map(|s| (s.monitor.as_str(), s.series, s.waiting)).collect();
        assert_eq!(waiting, [("providers", 2, 1), ("team_tags", 2, 1), ("teams", 2, 1)], "{engine}");

        let anomalies = ts.store.anomalies(None).await.unwrap();
        let of = |monitor: &str, series: &str| -> Vec<_> {
            anomalies.iter().filter(|a| a.monitor == monitor && a.series == series).cloned().collect()
        };
        // Azure has delivered through day 66: with two days to settle, 64 is the last judged.
        let waiting_series = [
            ("providers", r#"{"provider":"Microsoft"}"#),
            ("team_tags", r#"{"tag:team":"payments"}"#),
            ("teams", r#"{"team":"payments"}"#),
        ];
        for (monitor, series) in waiting_series {
            let found = of(monitor, series);
            assert!(found.iter().all(|a| a.end <= day(64)), "{engine} {monitor} {series}: {found:?}");
            // The drop ended three days before the series' own last judged day: current.
            let drop =
                found.iter().find(|a| a.severity.is_some()).unwrap_or_else(|| panic!("{engine} {monitor}: {found:?}"));
            assert_eq!((drop.start, drop.end), (day(DROP_DAYS[0]), day(DROP_DAYS[2])), "{engine} {monitor}: {drop:?}");
            assert!(drop.impact.nanos() < 0 && drop.current, "{engine} {monitor}: {drop:?}");
        }
        // AWS's own series is judged through its own settled days, spike and all.
        let aws = of("providers", r#"{"provider":"AWS"}"#);
        let spike = aws.iter().find(|a| a.severity.is_some()).unwrap_or_else(|| panic!("{engine}: {aws:?}"));
        // (Days just off the model's band before it, within the noise, may open the anomaly.)
        assert!(spike.start >= day(AWS_SPIKE_DAY - 2) && spike.start <= day(AWS_SPIKE_DAY), "{engine}: {spike:?}");
        assert_eq!((spike.end, spike.current), (day(AWS_SPIKE_DAY), true), "{engine}: {spike:?}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_source_behind_by_more_than_the_lag_limit_has_stopped_and_holds_nothing_back() {
    let day = |d: u64| FIRST_DAY.parse::<NaiveDate>().unwrap() + Days::new(d);
    for ts in common::stores().await {
        let file = write(&ts.path("two-sources.csv"), focus_csv(&two_source_lines()));
        ts.ingest(&[&file]).await.unwrap();
        let impatient = MonitorConfig {
            name: "providers".into(),
            by: "provider".into(),
            max_source_lag_days: AZURE_LAG_DAYS - 1,
            ..MonitorConfig::default()
        };
        let summaries = detect_store(&ts.store, &[impatient], None).await.unwrap();
        assert_eq!(summaries[0].waiting, 0, "{}: {summaries:?}", ts.engine);
        // Azure's missing days are judged like any others: its cost fell to nothing.
        let anomalies = ts.store.anomalies(None).await.unwrap();
        let azure = anomalies.iter().filter(|a| a.series == r#"{"provider":"Microsoft"}"#);
        assert!(
            azure.clone().any(|a| a.severity.is_some() && a.end == day(67) && a.impact.nanos() < 0),
            "{}: {:?}",
            ts.engine,
            azure.collect::<Vec<_>>()
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_fee_dated_ahead_of_the_usage_does_not_hide_a_lagging_source() {
    let day = |d: u64| FIRST_DAY.parse::<NaiveDate>().unwrap() + Days::new(d);
    for ts in common::stores().await {
        // A commitment bought on AWS for ten days after the last usage: the store ends there,
        // more than `max_source_lag_days` past every source's usage.
        let mut lines = two_source_lines();
        let fee_day = leak(day(DELIVERED_DAYS + 10).to_string());
        let period = leak(format!("{}-01", &fee_day[..7]));
        lines.push(Line { period, category: "Purchase", ..Line::usage(fee_day, "5000.00") });
        let file = write(&ts.path("fee-ahead.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        let providers = MonitorConfig { name: "providers".into(), by: "provider".into(), ..MonitorConfig::default() };
        let summaries = detect_store(&ts.store, &[providers], None).await.unwrap();
        // Azure still lags AWS's usage by three days, and its series waits for it.
        assert_eq!((summaries[0].series, summaries[0].waiting), (2, 1), "{}: {summaries:?}", ts.engine);
        let anomalies = ts.store.anomalies(None).await.unwrap();
        let azure: Vec<_> = anomalies.iter().filter(|a| a.series == r#"{"provider":"Microsoft"}"#).collect();
        assert!(azure.iter().all(|a| a.end <= day(64)), "{}: {azure:?}", ts.engine);
        ts.cleanup().await;
    }
}
