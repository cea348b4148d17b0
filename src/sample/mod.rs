//! Sample data: realistic exports of a fictional company, Northwind Commerce, on AWS (a CUR 2.0
//! data export), Azure (actual and amortised cost details, billed in EUR) and Google Cloud (the
//! BigQuery billing export as JSON lines) — generated as FOCUS lines and written in each
//! provider's format (`native`), so every format carries the same spend — weekly seasonality, growth, untagged spend, messy
//! tag keys, credits, tax, a commitment and its amortisation, support fees, and a few injected
//! anomalies recorded in `labels/anomalies.json` so detection can be scored against them.
//!
//! Also the benchmark export: N rows of one month over a fixed resource population, so the
//! number of daily facts does not grow with N and memory can be compared across sizes.

pub mod anomalies;
pub mod cost_series;
mod native;
mod writer;

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::focus::BillingPeriod;
use native::{MonthExport, NativeFormat, month_export};
pub use writer::{ExportEncoding, FocusLine, FocusWriter, WriteError};

#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub out: PathBuf,
    pub first_month: BillingPeriod,
    pub months: u32,
    pub seed: u64,
}

/// What `sample generate` wrote.
#[derive(Debug, Default)]
pub struct SampleSummary {
    pub files: Vec<PathBuf>,
    pub line_items: u64,
    pub anomalies: usize,
}

struct Provider {
    /// Folder name under the output directory.
    folder: &'static str,
    name: &'static str,
    billing_account_id: &'static str,
    billing_account_name: &'static str,
    currency: &'static str,
    format: NativeFormat,
    sub_accounts: &'static [(&'static str, &'static str)],
    services: &'static [Service],
    regions: &'static [&'static str],
    /// A third party's product bought through the provider's marketplace: (service,
    /// seller, monthly charge).
    marketplace: (&'static str, &'static str, f64),
}

struct Service {
    name: &'static str,
    category: &'static str,
    subcategory: &'static str,
    /// Cost per resource per weekday at the start, in the provider's currency.
    daily_cost: f64,
    /// Weekend level as a share of weekdays: compute follows people, storage does not.
    weekend: f64,
    unit: &'static str,
}

const AWS_SERVICES: &[Service] = &[
    Service {
        name: "Amazon Elastic Compute Cloud",
        category: "Compute",
        subcategory: "Virtual Machines",
        daily_cost: 310.0,
        weekend: 0.62,
        unit: "Hours",
    },
    Service {
        name: "Amazon Simple Storage Service",
        category: "Storage",
        subcategory: "Object Storage",
        daily_cost: 85.0,
        weekend: 0.97,
        unit: "GB-Mo",
    },
    Service {
        name: "Amazon Relational Database Service",
        category: "Databases",
        subcategory: "Relational Databases",
        daily_cost: 190.0,
        weekend: 0.9,
        unit: "Hours",
    },
    Service {
        name: "AWS Lambda",
        category: "Compute",
        subcategory: "Serverless Compute",
        daily_cost: 24.0,
        weekend: 0.55,
        unit: "Requests",
    },
    Service {
        name: "Amazon CloudFront",
        category: "Networking",
        subcategory: "Content Delivery",
        daily_cost: 42.0,
        weekend: 0.8,
        unit: "GB",
    },
];
const AZURE_SERVICES: &[Service] = &[
    Service {
        name: "Virtual Machines",
        category: "Compute",
        subcategory: "Virtual Machines",
        daily_cost: 240.0,
        weekend: 0.6,
        unit: "Hours",
    },
    Service {
        name: "Storage",
        category: "Storage",
        subcategory: "Object Storage",
        daily_cost: 60.0,
        weekend: 0.98,
        unit: "GB/Month",
    },
    Service {
        name: "Azure SQL Database",
        category: "Databases",
        subcategory: "Relational Databases",
        daily_cost: 130.0,
        weekend: 0.92,
        unit: "vCore Hours",
    },
    Service {
        name: "Azure Kubernetes Service",
        category: "Compute",
        subcategory: "Containers",
        daily_cost: 95.0,
        weekend: 0.7,
        unit: "Hours",
    },
];
const GCP_SERVICES: &[Service] = &[
    Service {
        name: "Compute Engine",
        category: "Compute",
        subcategory: "Virtual Machines",
        daily_cost: 205.0,
        weekend: 0.64,
        unit: "hour",
    },
    Service {
        name: "BigQuery",
        category: "Analytics",
        subcategory: "Data Processing",
        daily_cost: 120.0,
        weekend: 0.45,
        unit: "tebibyte",
    },
    Service {
        name: "Cloud Storage",
        category: "Storage",
        subcategory: "Object Storage",
        daily_cost: 38.0,
        weekend: 0.99,
        unit: "gibibyte month",
    },
    Service {
        name: "Vertex AI",
        category: "AI and Machine Learning",
        subcategory: "Machine Learning",
        daily_cost: 75.0,
        weekend: 0.5,
        unit: "hour",
    },
];

const PROVIDERS: [Provider; 3] = [
    Provider {
        folder: "aws",
        name: "AWS",
        billing_account_id: "111122223333",
        billing_account_name: "Northwind AWS Organization",
        currency: "USD",
        format: NativeFormat::Cur2,
        sub_accounts: &[
            ("210987654321", "payments-prod"),
            ("310987654321", "search-prod"),
            ("410987654321", "platform-shared"),
            ("510987654321", "data-dev"),
        ],
        services: AWS_SERVICES,
        regions: &["us-east-1", "eu-west-1"],
        marketplace: ("Datadog Pro", "Datadog, Inc.", 420.0),
    },
    Provider {
        folder: "azure",
        name: "Microsoft",
        billing_account_id: "8611537",
        billing_account_name: "Northwind EU Enterprise Agreement",
        currency: "EUR",
        format: NativeFormat::AzureCostDetails,
        sub_accounts: &[
            ("5f1c0a3e-7b2d-4c1e-9a8f-1d2e3f4a5b6c", "payments-eu"),
            ("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "analytics-eu"),
        ],
        services: AZURE_SERVICES,
        regions: &["westeurope", "northeurope"],
        marketplace: ("Contoso Firewall", "Contoso Security Ltd", 180.0),
    },
    Provider {
        folder: "gcp",
        name: "Google Cloud",
        billing_account_id: "01A2B3-C4D5E6-F7A8B9",
        billing_account_name: "Northwind GCP Billing",
        currency: "USD",
        format: NativeFormat::GcpBillingExport,
        sub_accounts: &[("nw-search-prod", "Search Production"), ("nw-ml-dev", "ML Development")],
        services: GCP_SERVICES,
        regions: &["us-central1", "europe-west1"],
        marketplace: ("Elastic Cloud", "Elasticsearch, Inc.", 150.0),
    },
];

/// Team tags as real organisations write them: the key's spelling depends on who tagged.
const TEAMS: [&str; 5] = ["payments", "search", "platform", "data", "ml"];
const TEAM_KEYS: [&str; 4] = ["team", "Team", "owner-team", "TEAM "];
const ENV_VALUES: [&str; 4] = ["prod", "production", "PROD", "dev"];

/// A team's name as resource `n`'s creator wrote it: mostly as everyone does, sometimes
/// capitalised or shouted (`Payments`, `PAYMENTS`), which allocation folds into one team.
fn team_spelling(team: &str, n: usize) -> String {
    match n % 11 {
        5 => team[..1].to_uppercase() + &team[1..],
        9 => team.to_uppercase(),
        _ => team.to_string(),
    }
}

/// A cost anomaly injected into one series, and recorded as ground truth.
struct InjectedAnomaly {
    provider: &'static str,
    sub_account_id: &'static str,
    service: &'static str,
    /// Month index from the first month, and days within it.
    month: u32,
    first_day: u32,
    days: u32,
    factor: f64,
    description: &'static str,
}

const ANOMALIES: [InjectedAnomaly; 3] = [
    InjectedAnomaly {
        provider: "AWS",
        sub_account_id: "310987654321",
        service: "Amazon Elastic Compute Cloud",
        month: 2,
        first_day: 10,
        days: 4,
        factor: 3.5,
        description: "autoscaling group stuck at maximum after a bad deploy",
    },
    InjectedAnomaly {
        provider: "Microsoft",
        sub_account_id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        service: "Storage",
        month: 3,
        first_day: 5,
        days: 2,
        factor: 4.0,
        description: "analytics export copied to the wrong region",
    },
    InjectedAnomaly {
        provider: "Google Cloud",
        sub_account_id: "nw-ml-dev",
        service: "Vertex AI",
        month: 4,
        first_day: 20,
        days: 2,
        factor: 6.0,
        description: "forgotten training job on GPUs",
    },
];

/// Monthly growth of usage.
const MONTHLY_GROWTH: f64 = 0.03;

/// Writes the sample company's exports, one file per provider and month, plus the labels.
pub fn generate(spec: &SampleSpec) -> Result<SampleSummary, WriteError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut summary = SampleSummary::default();
    let mut labels = Vec::new();
    let mut period = spec.first_month;
    for month in 0..spec.months {
        for provider in &PROVIDERS {
            let mut writer = month_export(provider.format, &spec.out.join(provider.folder), period)?;
            summary.line_items += write_month(writer.as_mut(), provider, period, month, &mut rng)?;
            summary.files.extend(writer.finish()?);
        }
        for anomaly in ANOMALIES.iter().filter(|a| a.month == month) {
            let start = period.first_day() + Duration::days(anomaly.first_day as i64 - 1);
            let end = start + Duration::days(anomaly.days as i64 - 1);
            labels.push(serde_json::json!({
                "provider": anomaly.provider,
                "sub_account_id": anomaly.sub_account_id,
                // AWS's exports name services by product code.
                "service_name": if anomaly.provider == "AWS" { native::product_code(anomaly.service) } else { anomaly.service },
                "start": start.to_string(),
                "end": end.to_string(),
                "factor": anomaly.factor,
                "description": anomaly.description,
            }));
            summary.anomalies += 1;
        }
        period = next_period(period);
    }
    // JSON, not CSV, so that ingesting the whole folder does not take the labels for an export.
    let labels_path = spec.out.join("labels").join("anomalies.json");
    let io = |source| WriteError::Io { path: labels_path.display().to_string(), source };
    std::fs::create_dir_all(labels_path.parent().expect("has parent")).map_err(io)?;
    let text = serde_json::to_string_pretty(&labels).expect("labels serialise") + "\n";
    std::fs::write(&labels_path, text).map_err(io)?;
    summary.files.push(labels_path);
    summary.files.push(write_unit_metrics(spec)?);
    let settings_path = spec.out.join(DEMO_SETTINGS);
    std::fs::write(&settings_path, DEMO_SETTINGS_TOML)
        .map_err(|source| WriteError::Io { path: settings_path.display().to_string(), source })?;
    summary.files.push(settings_path);
    Ok(summary)
}

/// The folders under the output directory that hold exports (the others hold labels and
/// unit metrics).
pub fn export_folders() -> Vec<&'static str> {
    PROVIDERS.iter().map(|p| p.folder).collect()
}

/// The demo's settings, next to the sample exports: the shipped defaults plus what the
/// sample company configures on top.
pub const DEMO_SETTINGS: &str = "demo.toml";
const DEMO_SETTINGS_TOML: &str = include_str!("demo.toml");

/// The unit-metric feed of the sample company: each team's daily units of work.
pub const UNIT_METRICS: &str = "unit-metrics/requests.csv";

/// Team, metric, weekday quantity at the start, weekend level.
const TEAM_METRICS: [(&str, &str, f64, f64); 5] = [
    ("payments", "orders", 42_000.0, 0.7),
    ("search", "queries", 1_800_000.0, 0.6),
    ("platform", "requests", 9_000_000.0, 0.8),
    ("data", "GB processed", 5_200.0, 1.0),
    ("ml", "predictions", 650_000.0, 0.9),
];

/// Writes `unit-metrics/requests.csv`, with its own random stream so the exports do not
/// change with it.
fn write_unit_metrics(spec: &SampleSpec) -> Result<PathBuf, WriteError> {
    let path = spec.out.join(UNIT_METRICS);
    let io = |source| WriteError::Io { path: path.display().to_string(), source };
    std::fs::create_dir_all(path.parent().expect("has parent")).map_err(io)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(1));
    let mut text = String::from("date,dimension,value,metric,quantity\n");
    let first = spec.first_month.first_day();
    let mut period = spec.first_month;
    for _ in 0..spec.months {
        period = next_period(period);
    }
    let days = (period.first_day() - first).num_days();
    for day in 0..days {
        let date = first + Duration::days(day);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let growth = (1.0 + MONTHLY_GROWTH).powf(day as f64 / 30.4);
        for (team, metric, weekday, weekend_level) in TEAM_METRICS {
            let level = if weekend { weekend_level } else { 1.0 };
            let quantity = (weekday * level * growth * rng.random_range(0.95..1.05)).round();
            text.push_str(&format!("{date},team,{team},{metric},{quantity}\n"));
        }
    }
    std::fs::write(&path, text).map_err(io)?;
    Ok(path)
}

fn next_period(period: BillingPeriod) -> BillingPeriod {
    BillingPeriod::containing(period.end())
}

fn iso(date: NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

/// Resources of one provider: (sub-account, service, region, resource number, tags JSON).
fn resources(provider: &Provider) -> Vec<(usize, usize, usize, usize, String)> {
    let mut out = Vec::new();
    for (a, _) in provider.sub_accounts.iter().enumerate() {
        for (s, _) in provider.services.iter().enumerate() {
            for r in 0..3 {
                let region = (a + r) % provider.regions.len();
                // One resource in seven is untagged, the rest tagged by whoever created it.
                let n = a * 31 + s * 7 + r;
                let tags = if n % 7 == 3 {
                    "{}".to_string()
                } else {
                    let team = team_spelling(TEAMS[(a + s * (r % 2)) % TEAMS.len()], n);
                    let key = TEAM_KEYS[n % TEAM_KEYS.len()];
                    let env = ENV_VALUES[(a + r) % ENV_VALUES.len()];
                    format!(
                        r#"{{"{key}":"{team}","env":"{env}","cost_center":"CC-{}","Name":"{}-{}-{r}"}}"#,
                        100 + (a * 10),
                        provider.folder,
                        s
                    )
                };
                out.push((a, s, region, r, tags));
            }
        }
    }
    out
}

fn write_month(
    writer: &mut dyn MonthExport,
    provider: &Provider,
    period: BillingPeriod,
    month_index: u32,
    rng: &mut ChaCha8Rng,
) -> Result<u64, WriteError> {
    let first = period.first_day();
    let end = period.end();
    let days = (end - first).num_days();
    let growth = (1.0 + MONTHLY_GROWTH).powi(month_index as i32);
    let base = FocusLine {
        billing_account_id: provider.billing_account_id.into(),
        billing_account_name: provider.billing_account_name.into(),
        currency: provider.currency.into(),
        billing_period_start: iso(first),
        billing_period_end: iso(end),
        provider: provider.name.into(),
        invoice_id: format!("INV-{}-{}", provider.folder.to_uppercase(), period),
        tags: "{}".into(),
        ..FocusLine::default()
    };
    let mut lines = 0u64;
    let mut month_billed = 0.0;
    // AWS buys a monthly Compute Savings Plan for payments-prod; FOCUS puts its cost on the
    // covered usage as EffectiveCost and keeps the purchase as BilledCost.
    let commitment = (provider.folder == "aws").then(|| 2_400.0 * growth.round());
    let mut commitment_left = commitment.unwrap_or(0.0);

    for day in 0..days {
        let date = first + Duration::days(day);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let day_growth = growth * (1.0 + MONTHLY_GROWTH * day as f64 / days as f64);
        for (a, s, region, r, tags) in resources(provider) {
            let service = &provider.services[s];
            let (sub_id, sub_name) = provider.sub_accounts[a];
            let season = if weekend { service.weekend } else { 1.0 };
            let mut cost =
                service.daily_cost * day_growth * season * (0.6 + 0.25 * r as f64) * rng.random_range(0.93..1.07);
            if let Some(anomaly) = ANOMALIES.iter().find(|x| {
                x.provider == provider.name
                    && x.sub_account_id == sub_id
                    && x.service == service.name
                    && x.month == month_index
                    && (x.first_day..x.first_day + x.days).contains(&(day as u32 + 1))
            }) {
                cost *= anomaly.factor;
            }
            // Two SKUs per resource and day: the main meter and a smaller one.
            for (sku, share) in [("main", 0.82), ("secondary", 0.18)] {
                let list = cost * share;
                let billed = (list * 0.97 * 1e6).round() / 1e6;
                let covered = commitment.is_some() && a == 0 && s == 0 && sku == "main";
                let mut line = FocusLine {
                    billed_cost: billed,
                    effective_cost: billed,
                    list_cost: (list * 1e6).round() / 1e6,
                    charge_category: "Usage".into(),
                    charge_description: format!("{} {} usage", service.name, sku),
                    charge_frequency: "Usage-Based".into(),
                    charge_period_start: iso(date),
                    charge_period_end: iso(date + Duration::days(1)),
                    consumed_quantity: Some((billed / 0.0832 * 1000.0).round() / 1000.0),
                    consumed_unit: service.unit.into(),
                    pricing_category: "Standard".into(),
                    region: provider.regions[region].into(),
                    resource_id: format!("{}-{}-{}-{}", provider.folder, sub_name, s, r),
                    service_category: service.category.into(),
                    service_subcategory: service.subcategory.into(),
                    service_name: service.name.into(),
                    sku_id: format!("{}-{}", s, sku),
                    sub_account_id: sub_id.into(),
                    sub_account_name: sub_name.into(),
                    tags: tags.clone(),
                    ..base.clone()
                };
                if covered {
                    let amortised = (commitment.expect("aws") / days as f64 * 0.9 / 3.0 * 1e6).round() / 1e6;
                    commitment_left -= amortised;
                    line.billed_cost = 0.0;
                    line.effective_cost = amortised;
                    line.pricing_category = "Committed".into();
                    line.commitment_discount_id = "sp-northwind-compute".into();
                    line.commitment_discount_status = "Used".into();
                }
                month_billed += line.billed_cost;
                writer.write(line)?;
                lines += 1;
            }
        }
    }

    let month_line = |category: &str, service: &str, description: &str, billed: f64, effective: f64| FocusLine {
        billed_cost: billed,
        effective_cost: effective,
        list_cost: if category == "Purchase" { billed } else { 0.0 },
        charge_category: category.into(),
        charge_description: description.into(),
        charge_frequency: if category == "Usage" { "Usage-Based" } else { "Recurring" }.into(),
        charge_period_start: iso(first),
        charge_period_end: iso(end),
        service_category: "Other".into(),
        service_subcategory: "Other (Other)".into(),
        service_name: service.into(),
        sub_account_id: provider.sub_accounts[0].0.into(),
        sub_account_name: provider.sub_accounts[0].1.into(),
        ..base.clone()
    };
    let mut monthly = Vec::new();
    if let Some(commitment) = commitment {
        monthly.push(month_line(
            "Purchase",
            "Savings Plans for AWS Compute usage",
            "Compute Savings Plan, monthly",
            commitment,
            0.0,
        ));
        // The unused share of the commitment is still an effective cost (FOCUS: Unused).
        let mut unused = month_line(
            "Usage",
            "Savings Plans for AWS Compute usage",
            "Unused commitment",
            0.0,
            round6(commitment_left),
        );
        unused.commitment_discount_id = "sp-northwind-compute".into();
        unused.commitment_discount_status = "Unused".into();
        unused.pricing_category = "Committed".into();
        monthly.push(unused);
        let support = round6(month_billed * 0.03);
        monthly.push(month_line(
            "Purchase",
            "AWS Support (Business)",
            "Business support, 3% of usage",
            support,
            support,
        ));
    }
    if provider.folder == "gcp" {
        monthly.push(month_line("Credit", "Compute Engine", "Startup program credit", -250.0, -250.0));
    }
    let (service, seller, charge) = provider.marketplace;
    monthly.push(FocusLine {
        marketplace_seller: seller.into(),
        ..month_line("Usage", service, "Marketplace subscription, monthly", charge, charge)
    });
    let tax = round6(month_billed * if provider.currency == "EUR" { 0.19 } else { 0.07 });
    monthly.push(month_line("Tax", "Tax", "Sales tax", tax, tax));
    lines += monthly.len() as u64;
    for line in monthly {
        writer.write(line)?;
    }
    Ok(lines)
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// Writes a FOCUS benchmark export of `rows` line items (see [`benchmark_lines`]).
pub fn write_benchmark_export(path: &Path, encoding: ExportEncoding, rows: u64, seed: u64) -> Result<(), WriteError> {
    let mut writer = FocusWriter::create(path, encoding)?;
    benchmark_lines(rows, seed, &mut |line| writer.write(line))?;
    writer.finish()
}

/// Writes the same benchmark line items as an AWS CUR 2.0 data export (gzip'd CSV) under
/// `folder`; returns the data file.
pub fn write_cur2_benchmark_export(folder: &Path, rows: u64, seed: u64) -> Result<PathBuf, WriteError> {
    let period: BillingPeriod = "2025-03".parse().expect("valid month");
    let mut writer = month_export(NativeFormat::Cur2, folder, period)?;
    benchmark_lines(rows, seed, &mut |line| writer.write(line))?;
    let files = writer.finish()?;
    Ok(files.into_iter().next().expect("the data file comes first"))
}

/// `rows` line items in one month: 400 resources over 31 days, hourly usage lines spread over
/// seven SKUs, so the daily groups saturate early and their number does not grow with `rows`.
fn benchmark_lines(
    rows: u64,
    seed: u64,
    sink: &mut dyn FnMut(FocusLine) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let period: BillingPeriod = "2025-03".parse().expect("valid month");
    let first = period.first_day();
    let provider = &PROVIDERS[0];
    let population: Vec<(usize, usize, usize, String)> = (0..400)
        .map(|n| {
            let a = n % provider.sub_accounts.len();
            let s = (n / 4) % provider.services.len();
            let region = (n / 20) % provider.regions.len();
            let tags = if n % 7 == 3 {
                "{}".to_string()
            } else {
                format!(
                    r#"{{"{}":"{}","env":"{}","Name":"res-{n}"}}"#,
                    TEAM_KEYS[n % TEAM_KEYS.len()],
                    TEAMS[n % TEAMS.len()],
                    ENV_VALUES[n % ENV_VALUES.len()]
                )
            };
            (a, s, region, tags)
        })
        .collect();
    let base = FocusLine {
        billing_account_id: provider.billing_account_id.into(),
        billing_account_name: provider.billing_account_name.into(),
        currency: provider.currency.into(),
        billing_period_start: iso(first),
        billing_period_end: iso(period.end()),
        provider: provider.name.into(),
        invoice_id: "INV-BENCH-2025-03".into(),
        charge_category: "Usage".into(),
        charge_frequency: "Usage-Based".into(),
        pricing_category: "Standard".into(),
        ..FocusLine::default()
    };
    for i in 0..rows {
        let (a, s, region, tags) = &population[(i % 400) as usize];
        let hour = (i / 400) % (31 * 24);
        let start = first.and_hms_opt(0, 0, 0).expect("midnight") + Duration::hours(hour as i64);
        let service = &provider.services[*s];
        let billed = round6(service.daily_cost / 24.0 * rng.random_range(0.01..0.3));
        sink(FocusLine {
            billed_cost: billed,
            effective_cost: billed,
            list_cost: round6(billed * 1.08),
            charge_description: format!("{} usage", service.name),
            charge_period_start: start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            charge_period_end: (start + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            consumed_quantity: Some(round6(billed * 12.0)),
            consumed_unit: service.unit.into(),
            region: provider.regions[*region].into(),
            resource_id: format!(
                "arn:aws:ec2:{}:{}:instance/i-{:08x}",
                provider.regions[*region],
                provider.sub_accounts[*a].0,
                i % 400
            ),
            service_category: service.category.into(),
            service_subcategory: service.subcategory.into(),
            service_name: service.name.into(),
            sku_id: format!("SKU-{}", i % 7),
            sub_account_id: provider.sub_accounts[*a].0.into(),
            sub_account_name: provider.sub_accounts[*a].1.into(),
            tags: tags.clone(),
            ..base.clone()
        })?;
    }
    Ok(())
}
