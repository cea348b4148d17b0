//! Allocation benchmark: 10,000,000 daily cost facts against 200 rules and 5 shared-cost
//! splits, in memory (the store's read and write are measured by the ingest benchmark).
//!
//!     cargo bench --bench allocation
//!     BENCH_FACTS=2000000 cargo bench --bench allocation
//!
//! Facts come in batches of one source and billing period, as `finopsd allocate` reads
//! them: 30 days of the same resources' accounts, services, regions and tags; 8% of the
//! resources are shared costs one of the splits divides among up to 40 teams. Prints
//! facts/s for the rules alone and for rules plus splits, on one core and on all of them (as
//! `finopsd allocate` does, one billing period per core), and checks that every batch's
//! money is conserved.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use finopsd::allocate::config::{
    Conditions, DimensionConfig, LookupConfig, Pattern, RuleConfig, SplitConfig, SplitMethod,
};
use finopsd::allocate::{AllocationConfig, Allocator, ValueCase};
use finopsd::focus::{BillingPeriod, CostFact, CostTotals, FactAmounts, FactKey, Money};
use rand::{Rng, SeedableRng};

// The allocator finopsd itself runs with, with its options (src/main.rs).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 21] = b"oversize_threshold:0\0";

const DAYS: u32 = 30;
const FACTS_PER_BATCH: usize = 500_000;
const SERVICES: [&str; 12] = [
    "Amazon EC2",
    "Amazon S3",
    "Amazon RDS",
    "AWS Lambda",
    "Amazon EKS",
    "Amazon CloudFront",
    "Amazon DynamoDB",
    "AWS Data Transfer",
    "Amazon VPC",
    "AWS Support (Business)",
    "Tax",
    "Amazon ElastiCache",
];
const CATEGORIES: [&str; 12] = [
    "Compute",
    "Storage",
    "Databases",
    "Compute",
    "Compute",
    "Networking",
    "Databases",
    "Networking",
    "Networking",
    "Management and Governance",
    "Other",
    "Databases",
];

/// Indexes into SERVICES of the services the splits share, and of the others.
const SHARED: [usize; 5] = [4, 7, 8, 9, 10];
const OWN: [usize; 7] = [0, 1, 2, 3, 5, 6, 11];

fn team(i: usize) -> String {
    format!("team-{i:02}")
}

/// 200 rules over three dimensions: team (tags, account globs, service and regex matches),
/// service (tags and account names) and cost_center (a lookup from team, then fixed values).
fn config() -> AllocationConfig {
    let mut team_rules = vec![RuleConfig {
        name: "team tag".into(),
        conditions: Conditions::default(),
        value: None,
        value_from_tag: Some("team".into()),
        lookup: None,
    }];
    for i in 0..99 {
        let conditions = match i % 3 {
            0 => {
                Conditions { sub_account: Some(Pattern::Glob { glob: format!("acct-{i:02}*") }), ..Default::default() }
            }
            1 => Conditions {
                service: Some(Pattern::Exact(SERVICES[i % SERVICES.len()].into())),
                region: Some(Pattern::Exact(format!("region-{}", i % 7))),
                ..Default::default()
            },
            _ => Conditions {
                tags: [("app".to_string(), Pattern::Regex { regex: format!("^app-{i:02}(-.*)?$") })].into(),
                ..Default::default()
            },
        };
        team_rules.push(RuleConfig {
            name: format!("team rule {i}"),
            conditions,
            value: Some(team(i % 40)),
            value_from_tag: None,
            lookup: None,
        });
    }
    let mut service_rules = vec![RuleConfig {
        name: "service tag".into(),
        conditions: Conditions::default(),
        value: None,
        value_from_tag: Some("service".into()),
        lookup: None,
    }];
    for i in 0..59 {
        service_rules.push(RuleConfig {
            name: format!("service rule {i}"),
            conditions: Conditions {
                sub_account: Some(Pattern::Exact(format!("acct-{i:02}-name"))),
                ..Default::default()
            },
            value: Some(format!("svc-{i}")),
            value_from_tag: None,
            lookup: None,
        });
    }
    let mut cost_center_rules = vec![RuleConfig {
        name: "team's cost centre".into(),
        conditions: Conditions::default(),
        value: None,
        value_from_tag: None,
        lookup: Some(LookupConfig {
            dimension: "team".into(),
            table: (0..40).map(|i| (team(i), format!("cc-{}", i % 8))).collect(),
            catalog: None,
        }),
    }];
    for i in 0..40 - 1 {
        cost_center_rules.push(RuleConfig {
            name: format!("cost centre rule {i}"),
            conditions: Conditions { region: Some(Pattern::Exact(format!("region-{}", i % 7))), ..Default::default() },
            value: Some(format!("cc-{}", i % 8)),
            value_from_tag: None,
            lookup: None,
        });
    }
    let split = |name: &str, service: &str, method: SplitMethod| SplitConfig {
        name: name.into(),
        dimension: "team".into(),
        conditions: Conditions { service: Some(Pattern::Exact(service.into())), ..Default::default() },
        method,
        targets: Vec::new(),
        percentages: Default::default(),
        basis: Conditions::default(),
    };
    let splits = vec![
        split("support plan", "AWS Support (Business)", SplitMethod::Proportional),
        SplitConfig {
            basis: Conditions { service_category: Some(Pattern::Exact("Compute".into())), ..Default::default() },
            ..split("shared cluster", "Amazon EKS", SplitMethod::Proportional)
        },
        split("networking", "Amazon VPC", SplitMethod::Even),
        SplitConfig {
            percentages: [("team-00".to_string(), 50.0), ("team-01".to_string(), 30.0), ("team-02".to_string(), 20.0)]
                .into(),
            ..split("tax", "Tax", SplitMethod::Fixed)
        },
        SplitConfig {
            dimension: "cost_center".into(),
            ..split("data transfer", "AWS Data Transfer", SplitMethod::Proportional)
        },
    ];
    let rules = team_rules.len() + service_rules.len() + cost_center_rules.len();
    assert_eq!(rules, 200);
    AllocationConfig {
        dimensions: vec![
            DimensionConfig {
                name: "team".into(),
                default: "unallocated".into(),
                rules: team_rules,
                value_case: ValueCase::Fold,
            },
            DimensionConfig {
                name: "service".into(),
                default: "unallocated".into(),
                rules: service_rules,
                value_case: ValueCase::Fold,
            },
            DimensionConfig {
                name: "cost_center".into(),
                default: "unallocated".into(),
                rules: cost_center_rules,
                value_case: ValueCase::Fold,
            },
        ],
        splits,
        ..AllocationConfig::default()
    }
}

/// One source's billing period: resources with their attributes, each on every day.
fn batch(seed: u64, facts: usize) -> Vec<CostFact> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let period: BillingPeriod = "2025-03".parse().unwrap();
    let resources = facts / DAYS as usize;
    let mut out = Vec::with_capacity(resources * DAYS as usize);
    for _ in 0..resources {
        // About 8% of resources are shared costs (cluster, network, support, tax, transfer).
        let s = if rng.random_range(0..100) < 8 {
            SHARED[rng.random_range(0..SHARED.len())]
        } else {
            OWN[rng.random_range(0..OWN.len())]
        };
        let account = rng.random_range(0..100);
        let tags = match rng.random_range(0..4) {
            0 => format!(r#"{{"team":"{}"}}"#, team(rng.random_range(0..40))),
            1 => format!(r#"{{"app":"app-{:02}-web","environment":"prod"}}"#, rng.random_range(0..100)),
            2 => format!(
                r#"{{"owner-team":"{}","service":"svc-{}"}}"#,
                team(rng.random_range(0..40)),
                rng.random_range(0..200)
            ),
            _ => "{}".to_string(),
        };
        let key = FactKey {
            source: format!("aws:{seed}"),
            billing_period: period,
            charge_date: period.first_day(),
            provider: "AWS".into(),
            billing_account_id: format!("{seed}"),
            billing_account_name: "payer".into(),
            sub_account_id: format!("acct-{account:02}"),
            sub_account_name: format!("acct-{account:02}-name"),
            service_name: SERVICES[s].into(),
            service_category: CATEGORIES[s].into(),
            region: format!("region-{}", rng.random_range(0..7)),
            charge_category: "Usage".into(),
            currency: if rng.random_range(0..10) == 0 { "EUR" } else { "USD" }.into(),
            tags,
            marketplace_publisher: String::new(),
        };
        let daily = rng.random_range(1..5_000_000_000i64) as i128;
        for day in 0..DAYS {
            let money = Money::from_nanos(daily + day as i128);
            out.push(CostFact {
                key: FactKey { charge_date: period.first_day() + chrono::Days::new(day.into()), ..key.clone() },
                amounts: FactAmounts {
                    costs: CostTotals { billed_cost: money, effective_cost: money, list_cost: money },
                    consumed_quantity: 1.0,
                    line_items: 1,
                },
            });
        }
    }
    out
}

fn total(costs: impl Iterator<Item = CostTotals>) -> CostTotals {
    costs.fold(CostTotals::default(), |mut sum, c| {
        sum.add(&c);
        sum
    })
}

/// Allocates `batches` as `finopsd allocate` does, as many billing periods at once as
/// `threads`, each to the rows the store keeps, checking that every batch's money is
/// conserved; returns the wall time and the rows made.
fn allocate_all(allocator: &Allocator, batches: &[(Vec<CostFact>, CostTotals)], threads: usize) -> (f64, usize) {
    let next = AtomicUsize::new(0);
    let rows = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some((batch, ingested)) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let allocated = allocator.allocate_period(batch).allocated_costs().expect("a batch has facts");
                    assert_eq!(total(allocated.rows.iter().map(|a| a.costs)), *ingested, "money is conserved");
                    rows.fetch_add(allocated.rows.len(), Ordering::Relaxed);
                }
            });
        }
    });
    (started.elapsed().as_secs_f64(), rows.into_inner())
}

fn main() {
    let facts: usize = std::env::var("BENCH_FACTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000_000);
    let with_splits = config();
    let rules_only = AllocationConfig { splits: Vec::new(), ..with_splits.clone() };
    let allocators = [
        ("200 rules", Allocator::new(&rules_only).unwrap()),
        ("200 rules + 5 splits", Allocator::new(&with_splits).unwrap()),
    ];
    let mut batches = Vec::new();
    let mut done = 0;
    while done < facts {
        let facts = batch(batches.len() as u64, FACTS_PER_BATCH.min(facts - done).max(DAYS as usize));
        let ingested = total(facts.iter().map(|f| f.amounts.costs));
        done += facts.len();
        batches.push((facts, ingested));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("allocation of {done} facts in {} billing periods of 500,000 facts:", batches.len());
    for (name, allocator) in &allocators {
        for threads in [1, cores] {
            let (seconds, rows) = allocate_all(allocator, &batches, threads);
            println!(
                "  {name:<22} {threads} core{} {seconds:>7.2} s  {:>6.2} M facts/s  ({rows} allocated rows)",
                if threads == 1 { " " } else { "s" },
                done as f64 / seconds / 1e6,
            );
        }
    }
}
