//! Shared test fixtures: a fresh store on every engine, FOCUS files to ingest, and snapshots
//! of what the store holds.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, Row};

use finopsd::config::{Config, DatabaseUrl, IngestConfig};
use finopsd::ingest::{IngestError, IngestReport, IngestRequest, IngestSettings, ingest};
use finopsd::store::Store;

/// Where the PostgreSQL tests connect, e.g. postgres://postgres@127.0.0.1:5432/test.
pub const POSTGRES_ENV: &str = "FINOPSD_TEST_POSTGRES_URL";

/// A fresh, empty store on one engine.
pub struct TestStore {
    pub engine: &'static str,
    pub url: DatabaseUrl,
    pub store: Store,
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

/// A fresh store on SQLite, and on PostgreSQL when `FINOPSD_TEST_POSTGRES_URL` is set. In CI the
/// variable must be set: PostgreSQL tests never pass by not running.
pub async fn stores() -> Vec<TestStore> {
    let mut stores = vec![sqlite_store().await];
    match std::env::var(POSTGRES_ENV) {
        Ok(base) if !base.is_empty() => stores.push(postgres_store(&base).await),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} is not set in CI; .ci/run must point it at the machine's PostgreSQL")
        }
        _ => eprintln!(
            "SKIPPED the PostgreSQL half of this test: set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/test to run it"
        ),
    }
    stores
}

pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("finopsd.db").display()));
    let store = Store::open(&url, 2).await.expect("open SQLite store");
    TestStore { engine: "sqlite", url, store, dir, schema: None }
}

async fn postgres_store(base: &str) -> TestStore {
    let schema = format!("finopsd_test_{}_{}", std::process::id(), SCHEMAS.fetch_add(1, Ordering::Relaxed));
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={base} is set but PostgreSQL cannot be reached: {e}"));
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create schema");
    admin.close().await.ok();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = DatabaseUrl::new(format!("{base}{separator}options=-c%20search_path%3D{schema}"));
    let store = Store::open(&url, 4).await.expect("open PostgreSQL store");
    let dir = tempfile::tempdir().expect("temp dir");
    TestStore { engine: "postgres", url, store, dir, schema: Some((base.to_string(), schema)) }
}

impl TestStore {
    /// Drops the PostgreSQL schema (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        self.store.close().await;
        let Some((base, schema)) = self.schema else { return };
        if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
            admin.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()).await.ok();
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn ingest(&self, paths: &[&Path]) -> Result<IngestReport, IngestError> {
        self.ingest_with(paths, &IngestConfig::default()).await
    }

    pub async fn ingest_with(&self, paths: &[&Path], config: &IngestConfig) -> Result<IngestReport, IngestError> {
        let settings = IngestSettings::from_config(config).expect("settings");
        let request =
            IngestRequest { paths: paths.iter().map(|p| p.to_path_buf()).collect(), quiet: true, ..Default::default() };
        ingest(&self.store, &settings, &request).await
    }

    /// Every fact the store holds, as sorted text: equal snapshots mean an unchanged store.
    pub async fn facts(&self) -> Vec<String> {
        query_strings(
            &self.url,
            "SELECT source || '|' || billing_period || '|' || charge_date || '|' || provider || '|' || billing_account_id
                    || '|' || sub_account_id || '|' || service_name || '|' || region || '|' || charge_category || '|'
                    || currency || '|' || tags || '|' || CAST(billed_cost_nanos AS TEXT) || '|'
                    || CAST(effective_cost_nanos AS TEXT) || '|' || CAST(list_cost_nanos AS TEXT) || '|'
                    || CAST(line_items AS TEXT)
             FROM cost_facts ORDER BY 1",
        )
        .await
    }

    /// Billed cost per (source, billing period, currency) as exact decimal text.
    pub async fn billed_totals(&self) -> Vec<String> {
        query_strings(
            &self.url,
            "SELECT source || ' ' || billing_period || ' ' || currency || ' ' || CAST(SUM(billed_cost_nanos) AS TEXT)
             FROM cost_facts GROUP BY source, billing_period, currency ORDER BY 1",
        )
        .await
    }

    /// Cost per (charge day, currency) as stored in the facts and as allocated: equal lists
    /// mean allocation conserved every day's money in every currency.
    pub async fn allocation_balance(&self) -> (Vec<String>, Vec<String>) {
        let per_day = |table: &str| {
            format!(
                "SELECT charge_date || ' ' || currency || ' ' || CAST(SUM(billed_cost_nanos) AS TEXT) || ' '
                        || CAST(SUM(effective_cost_nanos) AS TEXT) || ' ' || CAST(SUM(list_cost_nanos) AS TEXT)
                 FROM {table} GROUP BY charge_date, currency ORDER BY 1"
            )
        };
        (
            query_strings(&self.url, &per_day("cost_facts")).await,
            query_strings(&self.url, &per_day("allocated_costs")).await,
        )
    }

    /// Billed and effective cost per (source, billing period, currency, charge category),
    /// exact nano-units: what a provider fixture's hand-computed totals are checked against.
    pub async fn category_totals(&self) -> Vec<String> {
        query_strings(
            &self.url,
            "SELECT source || ' ' || billing_period || ' ' || currency || ' ' || charge_category || ' '
                    || CAST(SUM(billed_cost_nanos) AS TEXT) || ' ' || CAST(SUM(effective_cost_nanos) AS TEXT)
             FROM cost_facts GROUP BY source, billing_period, currency, charge_category ORDER BY 1",
        )
        .await
    }

    /// Billed and effective cost per source, currency and marketplace seller (empty: the
    /// provider's own charges).
    pub async fn marketplace_totals(&self) -> Vec<String> {
        query_strings(
            &self.url,
            "SELECT source || ' ' || currency || ' [' || marketplace_publisher || '] '
                    || CAST(SUM(billed_cost_nanos) AS TEXT) || ' ' || CAST(SUM(effective_cost_nanos) AS TEXT)
             FROM cost_facts GROUP BY source, currency, marketplace_publisher ORDER BY 1",
        )
        .await
    }

    /// For each of `dimensions`, its daily and monthly sums beside the facts' own per day and
    /// per billing period, billed and effective, in every currency: equal pairs mean the sums
    /// allocation keeps per value conserve money in each dimension.
    pub async fn rollup_balance(&self, dimensions: &[&str]) -> Vec<(Vec<String>, Vec<String>)> {
        let sums = |key: &str, table: &str, only: &str| {
            format!(
                "SELECT {key} || ' ' || currency || ' ' || CAST(SUM(billed_cost_nanos) AS TEXT) || ' '
                        || CAST(SUM(effective_cost_nanos) AS TEXT)
                 FROM {table} {only} GROUP BY {key}, currency ORDER BY 1"
            )
        };
        let mut pairs = Vec::new();
        for dimension in dimensions {
            let only = format!("WHERE dimension = '{dimension}'");
            for (key, table) in
                [("charge_date", "allocated_daily_costs"), ("billing_period", "allocated_monthly_costs")]
            {
                pairs.push((
                    query_strings(&self.url, &sums(key, "cost_facts", "")).await,
                    query_strings(&self.url, &sums(key, table, &only)).await,
                ));
            }
        }
        pairs
    }

    /// The per-value sums allocation wrote, and those the migration that introduced them
    /// computes from the allocated rows in SQL (as it did for stores allocated before it):
    /// equal pairs mean both ways agree.
    pub async fn rollups_and_their_backfill(&self) -> [(Vec<String>, Vec<String>); 2] {
        let snapshot = || async {
            [
                query_strings(
                    &self.url,
                    "SELECT dimension || '|' || value || '|' || charge_date || '|' || provider || '|' || charge_category
                            || '|' || currency || '|' || CAST(SUM(billed_cost_nanos) AS TEXT) || '|'
                            || CAST(SUM(effective_cost_nanos) AS TEXT)
                     FROM allocated_daily_costs
                     GROUP BY dimension, value, charge_date, provider, charge_category, currency ORDER BY 1",
                )
                .await,
                query_strings(
                    &self.url,
                    "SELECT dimension || '|' || value || '|' || method || '|' || billing_period || '|' || provider || '|'
                            || currency || '|' || CAST(SUM(billed_cost_nanos) AS TEXT) || '|'
                            || CAST(SUM(effective_cost_nanos) AS TEXT)
                     FROM allocated_monthly_costs GROUP BY dimension, value, method, billing_period, provider, currency
                     ORDER BY 1",
                )
                .await,
            ]
        };
        let [daily, monthly] = snapshot().await;
        let migration = std::fs::read_to_string(format!(
            "{}/src/store/migrations/{}/0010_allocation_rollups.sql",
            env!("CARGO_MANIFEST_DIR"),
            self.engine
        ))
        .expect("the rollup migration");
        let mut statements =
            vec!["DELETE FROM allocated_daily_costs".to_string(), "DELETE FROM allocated_monthly_costs".into()];
        statements.extend(migration.split(';').map(str::trim).filter(|s| s.contains("INSERT INTO")).map(|s| {
            // Statements follow comment lines; keep from the INSERT on.
            s[s.find("INSERT INTO").unwrap()..].to_string()
        }));
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(self.url.expose()).await.expect("connect");
        for statement in &statements {
            conn.execute(statement.as_str()).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        conn.close().await.ok();
        let [backfilled_daily, backfilled_monthly] = snapshot().await;
        [(daily, backfilled_daily), (monthly, backfilled_monthly)]
    }

    /// Outcomes of the ledger, oldest first.
    pub async fn ledger_outcomes(&self) -> Vec<String> {
        query_strings(&self.url, "SELECT outcome FROM ingest_runs ORDER BY id").await
    }
}

pub async fn query_strings(url: &DatabaseUrl, sql: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let url = url.expose().to_string();
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect for a snapshot");
    let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("snapshot query");
    conn.close().await.ok();
    rows.iter().map(|r| r.try_get::<String, _>(0).expect("text column")).collect()
}

/// One FOCUS line item for a test file; fields left empty are written empty.
#[derive(Debug, Clone)]
pub struct Line {
    pub day: &'static str,
    pub period: &'static str,
    pub provider: &'static str,
    pub account: &'static str,
    pub sub_account: &'static str,
    pub service: &'static str,
    pub category: &'static str,
    pub currency: &'static str,
    pub billed: String,
    pub effective: String,
    pub list: String,
    pub tags: &'static str,
}

impl Line {
    pub fn usage(day: &'static str, billed: &str) -> Line {
        Line {
            day,
            period: "2025-03-01",
            provider: "AWS",
            account: "111122223333",
            sub_account: "210987654321",
            service: "Amazon EC2",
            category: "Usage",
            currency: "USD",
            billed: billed.to_string(),
            effective: billed.to_string(),
            list: billed.to_string(),
            tags: r#"{"Team":"payments"}"#,
        }
    }
}

/// FOCUS 1.2 header (with InvoiceId and ServiceSubcategory, which mark the version).
pub const FOCUS_HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodStart,\
BillingPeriodEnd,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,EffectiveCost,InvoiceId,ListCost,ProviderName,RegionId,\
ServiceCategory,ServiceName,ServiceSubcategory,SubAccountId,SubAccountName,Tags";

pub fn focus_csv(lines: &[Line]) -> String {
    let mut text = format!("{FOCUS_HEADER}\n");
    for l in lines {
        let tags = format!("\"{}\"", l.tags.replace('"', "\"\""));
        text.push_str(&format!(
            "{},{},Acme,{},{}T00:00:00Z,,{},{}T00:00:00Z,{}T23:59:59Z,{},INV-1,{},{},us-east-1,Compute,{},Virtual Machines,{},prod,{}\n",
            l.billed, l.account, l.currency, l.period, l.category, l.day, l.day, l.effective, l.list, l.provider,
            l.service, l.sub_account, tags
        ));
    }
    text
}

pub fn write(path: &Path, content: impl AsRef<[u8]>) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    std::fs::write(path, content).expect("write fixture");
    path.to_path_buf()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// The binary under test, with a config that points at `url`.
pub fn finopsd(url: &DatabaseUrl) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_finopsd"));
    command.env("FINOPSD_DATABASE_URL", url.expose()).env_remove("RUST_LOG");
    command
}

/// Default config, as the binary would see it without a file.
pub fn default_config() -> Config {
    Config::default()
}
