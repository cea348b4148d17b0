//! Unit costs and budgets on a real store: a CSV feed and a real Prometheus server give
//! quantities, allocated costs are divided by them, and a budget forecast crosses its threshold.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use common::{Line, TestStore, focus_csv, write};
use finopsd::allocate::{AllocationConfig, Allocator, allocate_store};
use finopsd::analyse::budgets::{BudgetAmount, BudgetConfig, BudgetPeriod, BudgetThreshold, evaluate_budgets};
use finopsd::analyse::unit_costs::{PrometheusFeed, UnitCostConfig, UnitMetricFeed, pull_feeds, unit_costs};
use finopsd::focus::Money;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// `days` consecutive days from `first`, each costing `daily` for the tags given.
fn daily_lines(first: &str, days: u64, daily: &str, tags: &'static str) -> Vec<Line> {
    (0..days)
        .map(|i| {
            let date = day(first) + Days::new(i);
            let day: &'static str = Box::leak(date.to_string().into_boxed_str());
            let period: &'static str = Box::leak(format!("{}-01", &day[..7]).into_boxed_str());
            Line { tags, period, ..Line::usage(day, daily) }
        })
        .collect()
}

async fn load(ts: &TestStore, lines: &[Line]) {
    let file = write(&ts.path("costs.csv"), focus_csv(lines));
    ts.ingest(&[&file]).await.unwrap();
    let config = AllocationConfig::default();
    allocate_store(&ts.store, Allocator::new(&config).unwrap(), &config).await.unwrap();
}

fn unit_cost_lines(rows: &[finopsd::analyse::unit_costs::UnitCost]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{} {}={} {} {} {} {} {}",
                r.date,
                r.dimension,
                r.value,
                r.metric,
                r.currency,
                r.effective_cost,
                r.quantity,
                r.cost_per_unit.map(|m| m.to_string()).unwrap_or_default()
            )
        })
        .collect()
}

fn checkout_costs() -> Vec<Line> {
    let mut lines = daily_lines("2025-03-01", 1, "10", r#"{"service":"checkout"}"#);
    lines.extend(daily_lines("2025-03-02", 1, "30", r#"{"service":"checkout"}"#));
    lines.extend(daily_lines("2025-03-02", 1, "99", r#"{"service":"search"}"#));
    lines
}

#[tokio::test]
async fn a_csv_feed_gives_cost_per_request_per_day_and_month() {
    for ts in common::stores().await {
        load(&ts, &checkout_costs()).await;
        let feed = write(
            &ts.path("requests.csv"),
            "date,dimension,value,metric,quantity\n\
             2025-03-01,service,checkout,requests,1000\n\
             2025-03-02,service,checkout,requests,2000\n\
             2025-03-03,service,checkout,requests,500\n",
        );
        let config = UnitCostConfig {
            feeds: vec![UnitMetricFeed { name: "requests".into(), csv: Some(feed.clone()), prometheus: None }],
        };
        let pulled = pull_feeds(&ts.store, &config, day("2025-03-31")).await.unwrap();
        assert_eq!(pulled, vec![("requests".to_string(), 3)]);
        let month = "2025-03".parse().unwrap();
        let daily = unit_cost_lines(&unit_costs(&ts.store, month, true).await.unwrap());
        assert_eq!(
            daily,
            vec![
                "2025-03-01 service=checkout requests USD 10 1000 0.01",
                "2025-03-02 service=checkout requests USD 30 2000 0.015",
            ],
            "{}",
            ts.engine
        );
        // 40 over 3,000 requests; the day without cost does not dilute the month.
        let monthly = unit_cost_lines(&unit_costs(&ts.store, month, false).await.unwrap());
        assert_eq!(monthly, vec!["2025-03-01 service=checkout requests USD 40 3000 0.013333333"], "{}", ts.engine);

        // A second pull of a corrected file replaces the feed's rows instead of adding to them.
        write(&feed, "date,dimension,value,metric,quantity\n2025-03-01,service,checkout,requests,4000\n");
        pull_feeds(&ts.store, &config, day("2025-03-31")).await.unwrap();
        let monthly = unit_cost_lines(&unit_costs(&ts.store, month, false).await.unwrap());
        assert_eq!(monthly, vec!["2025-03-01 service=checkout requests USD 10 4000 0.0025"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_bad_feed_row_is_named_and_changes_nothing() {
    let ts = common::sqlite_store().await;
    let feed = write(
        &ts.path("requests.csv"),
        "date,dimension,value,metric,quantity\n2025-03-01,service,checkout,requests,10\n2025-03-02,service,checkout,requests,lots\n",
    );
    let config = UnitCostConfig { feeds: vec![UnitMetricFeed { name: "r".into(), csv: Some(feed), prometheus: None }] };
    let err = pull_feeds(&ts.store, &config, day("2025-03-31")).await.unwrap_err().to_string();
    assert!(err.contains("requests.csv") && err.contains("row 3") && err.contains("quantity"), "{err}");
    assert!(ts.store.unit_metrics(day("2025-01-01"), day("2025-12-31")).await.unwrap().is_empty());
    ts.cleanup().await;
}

/// A Prometheus server on loopback holding exactly the samples given.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// `None` when Prometheus is not installed outside CI (in CI that is a failure).
    fn start(openmetrics: &str) -> Option<Prometheus> {
        if Command::new("promtool").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "prometheus and promtool are not installed in CI; .ci/run must install Debian's prometheus"
            );
            eprintln!("SKIPPED the Prometheus unit-cost test: install Debian's `prometheus` package to run it");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let samples = write(&dir.path().join("samples.om"), openmetrics);
        let data = dir.path().join("data");
        let blocks = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&samples)
            .arg(&data)
            .output()
            .unwrap();
        assert!(blocks.status.success(), "promtool: {}", String::from_utf8_lossy(&blocks.stderr));
        let config = write(&dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1h\nscrape_configs: []\n");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        prometheus.wait_ready();
        Some(prometheus)
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        let address = self.url.trim_start_matches("http://").to_string();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n");
                let mut reply = String::new();
                let _ = stream.read_to_string(&mut reply);
                if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus at {} did not become ready in 30 s", self.url);
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn midnight_after(date: &str) -> i64 {
    (day(date) + Days::new(1)).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
}

#[tokio::test]
async fn a_prometheus_feed_gives_cost_per_request() {
    // Each day's request count is the sample at the midnight that ends it.
    let openmetrics = format!(
        "# TYPE requests_per_day gauge\n\
         requests_per_day{{service=\"checkout\"}} 1000 {}\n\
         requests_per_day{{service=\"checkout\"}} 2000 {}\n\
         requests_per_day{{service=\"search\"}} 33 {}\n\
         # EOF\n",
        midnight_after("2025-03-01"),
        midnight_after("2025-03-02"),
        midnight_after("2025-03-02"),
    );
    let Some(prometheus) = Prometheus::start(&openmetrics) else { return };
    for ts in common::stores().await {
        load(&ts, &checkout_costs()).await;
        let config = UnitCostConfig {
            feeds: vec![UnitMetricFeed {
                name: "prometheus requests".into(),
                csv: None,
                prometheus: Some(PrometheusFeed {
                    url: prometheus.url.clone(),
                    query: "requests_per_day".into(),
                    metric: "requests".into(),
                    dimension: "service".into(),
                    value_label: Some("service".into()),
                    value: None,
                    days: 5,
                }),
            }],
        };
        let pulled = pull_feeds(&ts.store, &config, day("2025-03-03")).await.unwrap();
        assert_eq!(pulled, vec![("prometheus requests".to_string(), 3)], "{}", ts.engine);
        let month = "2025-03".parse().unwrap();
        let daily = unit_cost_lines(&unit_costs(&ts.store, month, true).await.unwrap());
        assert_eq!(
            daily,
            vec![
                "2025-03-01 service=checkout requests USD 10 1000 0.01",
                "2025-03-02 service=checkout requests USD 30 2000 0.015",
                "2025-03-02 service=search requests USD 99 33 3",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_budget_forecast_crossing_its_threshold_creates_one_alert() {
    for ts in common::stores().await {
        // 100 a day since February; March is on course for 3,100 against a 3,000 budget.
        let mut lines = daily_lines("2025-02-01", 38, "100", r#"{"team":"payments"}"#);
        lines.extend(daily_lines("2025-03-01", 10, "1", r#"{"team":"search"}"#));
        load(&ts, &lines).await;
        let budget = |name: &str, value: &str, amount: i64| BudgetConfig {
            name: name.into(),
            dimension: "team".into(),
            value: value.into(),
            period: BudgetPeriod::Monthly,
            amounts: [("USD".to_string(), BudgetAmount(Money::from_nanos(i128::from(amount) * 1_000_000_000)))].into(),
            thresholds: vec![
                BudgetThreshold { actual: Some(80.0), forecast: None },
                BudgetThreshold { actual: None, forecast: Some(100.0) },
            ],
        };
        let budgets = vec![budget("payments", "payments", 3000), budget("search", "search", 1000)];
        let statuses = evaluate_budgets(&ts.store, &budgets, day("2025-03-10")).await.unwrap();
        let payments = &statuses[0];
        assert_eq!(payments.actual, Money::from_nanos(1000 * 1_000_000_000), "{}", ts.engine);
        let expected = 3100.0;
        let forecast = payments.forecast.total.nanos() as f64 / 1e9;
        assert!((forecast - expected).abs() < expected * 0.01, "{}: forecast {forecast}", ts.engine);
        assert!(payments.forecast.low <= payments.forecast.total && payments.forecast.total <= payments.forecast.high);
        assert_eq!(payments.crossed, vec![("forecast".to_string(), 100.0, true)], "{}", ts.engine);
        assert!(statuses[1].crossed.is_empty(), "{}: {:?}", ts.engine, statuses[1]);

        // Evaluating again finds the same crossing but keeps one alert.
        let again = evaluate_budgets(&ts.store, &budgets, day("2025-03-10")).await.unwrap();
        assert_eq!(again[0].crossed, vec![("forecast".to_string(), 100.0, false)], "{}", ts.engine);
        let alerts = ts.store.budget_alerts().await.unwrap();
        assert_eq!(alerts.len(), 1, "{}", ts.engine);
        assert_eq!((alerts[0].budget.as_str(), alerts[0].kind.as_str()), ("payments", "forecast"));
        assert_eq!(alerts[0].actual, payments.actual);
        ts.cleanup().await;
    }
}
