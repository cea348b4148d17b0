//! Allocation on a real store: every day's money in every currency is conserved, rules can
//! change and be re-applied, and showback compares a month with the one before.

mod common;

use common::{Line, TestStore, focus_csv, write};
use finopsd::allocate::config::{Conditions, DimensionConfig, Pattern, RuleConfig, SplitConfig, SplitMethod};
use finopsd::allocate::{AllocationConfig, Allocator, ValueCase, allocate_store, allocate_store_if_changed};
use finopsd::focus::Money;
use finopsd::store::ShowbackQuery;
use proptest::prelude::*;

fn line(day: &'static str, billed: &str, service: &'static str, currency: &'static str, tags: &'static str) -> Line {
    let period: &'static str = Box::leak(format!("{}-01", &day[..7]).into_boxed_str());
    Line { service, currency, tags, period, ..Line::usage(day, billed) }
}

async fn allocate(ts: &TestStore, config: &AllocationConfig) {
    let allocator = Allocator::new(config).expect("valid rules");
    allocate_store(&ts.store, allocator, config).await.expect("allocate");
}

fn showback_line(row: &finopsd::store::ShowbackRow) -> String {
    format!(
        "{} {} {} {} {}",
        row.values.join("/"),
        row.currency,
        row.effective_cost,
        row.billed_cost,
        row.previous_effective_cost
    )
}

/// `finopsd run` allocates only when the facts or the rules changed since the last allocation.
#[tokio::test]
async fn allocations_are_made_again_only_for_new_facts_or_rules() {
    for ts in common::stores().await {
        let rules = AllocationConfig::default();
        let again = |rules: AllocationConfig| {
            let store = ts.store.clone();
            async move {
                let allocator = Allocator::new(&rules).unwrap();
                allocate_store_if_changed(&store, allocator, &rules).await.unwrap().is_some()
            }
        };
        let file = write(&ts.path("costs.csv"), focus_csv(&[Line::usage("2025-03-01", "10")]));
        ts.ingest(&[&file]).await.unwrap();
        assert!(again(rules.clone()).await, "{}: never allocated", ts.engine);
        assert!(!again(rules.clone()).await, "{}: nothing changed", ts.engine);
        let restated = write(&ts.path("costs.csv"), focus_csv(&[Line::usage("2025-03-01", "12")]));
        ts.ingest(&[&restated]).await.unwrap();
        assert!(again(rules.clone()).await, "{}: the facts changed", ts.engine);
        let mut fewer = rules.clone();
        fewer.dimensions.truncate(1);
        assert!(again(fewer.clone()).await, "{}: the rules changed", ts.engine);
        assert!(!again(fewer).await, "{}: nothing changed", ts.engine);
        ts.cleanup().await;
    }
}

/// What the API's kept answers are checked against: every write they are made of moves it.
#[tokio::test]
async fn the_store_version_grows_with_every_write_the_api_reads() {
    for ts in common::stores().await {
        let mut last = ts.store.version().await.unwrap();
        let mut grew = |now: i64, what: &str| {
            assert!(now > last, "{}: {what} left the version at {now}", ts.engine);
            last = now;
        };
        let file = write(&ts.path("costs.csv"), focus_csv(&[Line::usage("2025-03-01", "10")]));
        ts.ingest(&[&file]).await.unwrap();
        grew(ts.store.version().await.unwrap(), "an ingest");
        allocate(&ts, &AllocationConfig::default()).await;
        grew(ts.store.version().await.unwrap(), "an allocation");
        ts.store.replace_unit_metrics("requests", None, &[]).await.unwrap();
        grew(ts.store.version().await.unwrap(), "a unit-metric feed");
        ts.store.replace_anomalies("teams", &[]).await.unwrap();
        grew(ts.store.version().await.unwrap(), "a detection");
        ts.store.set_anomaly_feedback("none", "expected", None).await.unwrap();
        grew(ts.store.version().await.unwrap(), "feedback");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn every_dollar_lands_on_a_team_or_unallocated() {
    for ts in common::stores().await {
        let lines = vec![
            line("2025-03-01", "10.5", "Amazon EC2", "USD", r#"{"Team":"payments"}"#),
            line("2025-03-01", "2.25", "Amazon S3", "USD", r#"{"owner-team":"search"}"#),
            line("2025-03-01", "4", "Amazon S3", "EUR", "{}"),
            line("2025-03-02", "0.000000001", "Amazon EC2", "USD", r#"{"TEAM ":"payments","team":"search"}"#),
        ];
        let file = write(&ts.path("march.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        allocate(&ts, &AllocationConfig::default()).await;
        let (facts, allocated) = ts.allocation_balance().await;
        assert_eq!(allocated, facts, "{}", ts.engine);
        let rows =
            ts.store.showback(&ShowbackQuery { month: "2025-03".parse().unwrap(), by: vec!["team".into()] }).await;
        let rows: Vec<String> = rows.unwrap().iter().map(showback_line).collect();
        assert_eq!(
            rows,
            // Two spellings of one key on a resource: ingest keeps the first value.
            vec!["payments USD 10.500000001 10.500000001 0", "search USD 2.25 2.25 0", "unallocated EUR 4 4 0"],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_rule_change_is_applied_to_stored_costs_without_a_reingest() {
    for ts in common::stores().await {
        let lines = vec![
            line("2025-03-01", "10", "Amazon EC2", "USD", "{}"),
            line("2025-03-01", "5", "Amazon S3", "USD", r#"{"team":"data"}"#),
        ];
        let file = write(&ts.path("march.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        let month = ShowbackQuery { month: "2025-03".parse().unwrap(), by: vec!["team".into()] };
        allocate(&ts, &AllocationConfig::default()).await;
        let before: Vec<String> = ts.store.showback(&month).await.unwrap().iter().map(showback_line).collect();
        assert_eq!(before, vec!["data USD 5 5 0", "unallocated USD 10 10 0"], "{}", ts.engine);

        let mut config = AllocationConfig::default();
        config.dimensions[0].rules.push(RuleConfig {
            name: "compute is platform".into(),
            conditions: Conditions { service: Some(Pattern::Glob { glob: "*EC2".into() }), ..Conditions::default() },
            value: Some("platform".into()),
            value_from_tag: None,
            lookup: None,
        });
        allocate(&ts, &config).await;
        let mut after: Vec<String> = ts.store.showback(&month).await.unwrap().iter().map(showback_line).collect();
        after.sort();
        assert_eq!(after, vec!["data USD 5 5 0", "platform USD 10 10 0"], "{}", ts.engine);
        let (facts, allocated) = ts.allocation_balance().await;
        assert_eq!(allocated, facts, "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn showback_compares_with_the_month_before_by_two_dimensions() {
    for ts in common::stores().await {
        let lines = vec![
            line("2025-02-10", "7", "Amazon EC2", "USD", r#"{"team":"search","app":"web"}"#),
            line("2025-03-10", "9", "Amazon EC2", "USD", r#"{"team":"search","app":"web"}"#),
            line("2025-03-11", "1", "Amazon EC2", "USD", r#"{"team":"search","service":"batch"}"#),
        ];
        let file = write(&ts.path("q1.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        allocate(&ts, &AllocationConfig::default()).await;
        let query = ShowbackQuery { month: "2025-03".parse().unwrap(), by: vec!["team".into(), "service".into()] };
        let mut rows: Vec<String> = ts.store.showback(&query).await.unwrap().iter().map(showback_line).collect();
        rows.sort();
        assert_eq!(rows, vec!["search/batch USD 1 1 0", "search/web USD 9 9 7"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

/// Lines of one team tagged three ways (` checkout ` is trimmed at ingest) and one tagged two
/// ways with the same cost.
fn drifting_team_tags() -> Vec<Line> {
    vec![
        line("2025-03-01", "50", "Amazon EC2", "USD", r#"{"team":"Checkout"}"#),
        line("2025-03-01", "30", "Amazon S3", "USD", r#"{"team":" checkout "}"#),
        line("2025-03-02", "20", "AWS Lambda", "USD", r#"{"team":"CHECKOUT"}"#),
        line("2025-03-02", "4", "Amazon EC2", "EUR", r#"{"team":"checkout"}"#),
        line("2025-03-01", "10", "Amazon EC2", "USD", r#"{"team":"Data  Platform"}"#),
        line("2025-03-02", "10", "Amazon S3", "USD", r#"{"team":"data platform"}"#),
    ]
}

#[tokio::test]
async fn three_spellings_of_a_team_are_one_team_named_as_most_of_its_cost_spells_it() {
    for ts in common::stores().await {
        let file = write(&ts.path("march.csv"), focus_csv(&drifting_team_tags()));
        ts.ingest(&[&file]).await.unwrap();
        allocate(&ts, &AllocationConfig::default()).await;
        let month = "2025-03".parse().unwrap();
        let rows = ts.store.showback(&ShowbackQuery { month, by: vec!["team".into()] }).await.unwrap();
        let rows: Vec<String> = rows.iter().map(showback_line).collect();
        // `Checkout` carries 50 of the 100 USD (the currency of most of its line items; EUR
        // is never added to it); `Data  Platform` and `data platform` tie, so lower case.
        assert_eq!(
            rows,
            vec!["Checkout EUR 4 4 0", "Checkout USD 100 100 0", "data platform USD 20 20 0"],
            "{}",
            ts.engine
        );
        let (facts, allocated) = ts.allocation_balance().await;
        assert_eq!(allocated, facts, "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_dimension_that_preserves_case_keeps_every_spelling_apart() {
    for ts in common::stores().await {
        let file = write(&ts.path("march.csv"), focus_csv(&drifting_team_tags()));
        ts.ingest(&[&file]).await.unwrap();
        let mut config = AllocationConfig::default();
        config.dimensions[0].value_case = ValueCase::Preserve;
        allocate(&ts, &config).await;
        let month = "2025-03".parse().unwrap();
        let rows = ts.store.showback(&ShowbackQuery { month, by: vec!["team".into()] }).await.unwrap();
        let rows: Vec<String> = rows.iter().map(showback_line).collect();
        assert_eq!(
            rows,
            vec![
                "CHECKOUT USD 20 20 0",
                "Checkout USD 50 50 0",
                "Data  Platform USD 10 10 0",
                "checkout EUR 4 4 0",
                "checkout USD 30 30 0",
                "data platform USD 10 10 0",
            ],
            "{}",
            ts.engine
        );
        assert!(ts.store.folded_spellings(month).await.unwrap().is_empty(), "{}: nothing folded", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn coverage_lists_the_spellings_folded_together_as_a_tagging_to_do_list() {
    for ts in common::stores().await {
        let mut lines = drifting_team_tags();
        lines.push(line("2025-03-03", "1", "Amazon EC2", "USD", r#"{"team":"search"}"#));
        let file = write(&ts.path("march.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        allocate(&ts, &AllocationConfig::default()).await;
        let spellings = ts.store.folded_spellings("2025-03".parse().unwrap()).await.unwrap();
        let spellings: Vec<String> = spellings
            .iter()
            .map(|s| format!("{} {} <- {} {} {}", s.dimension, s.value, s.spelling, s.currency, s.effective_cost))
            .collect();
        // Per value, largest first; `search` is spelled one way, so it is not listed.
        assert_eq!(
            spellings,
            vec![
                "team Checkout <- checkout EUR 4",
                "team Checkout <- Checkout USD 50",
                "team Checkout <- checkout USD 30",
                "team Checkout <- CHECKOUT USD 20",
                "team data platform <- Data  Platform USD 10",
                "team data platform <- data platform USD 10",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

fn support_split(method: SplitMethod) -> SplitConfig {
    SplitConfig {
        name: "support plan".into(),
        dimension: "team".into(),
        conditions: Conditions { service: Some(Pattern::Exact("AWS Support".into())), ..Conditions::default() },
        method,
        targets: Vec::new(),
        percentages: Default::default(),
        basis: Conditions::default(),
    }
}

#[tokio::test]
async fn coverage_tells_tags_rules_splits_and_unallocated_apart_and_names_the_largest_gaps() {
    for ts in common::stores().await {
        let mut other_account = line("2025-03-01", "3", "Amazon RDS", "USD", "{}");
        other_account.sub_account = "999988887777";
        let lines = vec![
            line("2025-03-01", "60", "Amazon EC2", "USD", r#"{"team":"payments"}"#),
            line("2025-03-01", "20", "Amazon EC2", "USD", r#"{"team":"search"}"#),
            line("2025-03-01", "10", "Amazon S3", "USD", "{}"),
            line("2025-03-01", "8", "AWS Support", "USD", "{}"),
            line("2025-03-01", "5", "Amazon Route 53", "USD", "{}"),
            other_account,
            line("2025-03-01", "7", "Amazon EC2", "EUR", "{}"),
        ];
        let file = write(&ts.path("march.csv"), focus_csv(&lines));
        ts.ingest(&[&file]).await.unwrap();
        let mut config = AllocationConfig::default();
        config.dimensions[0].rules.push(RuleConfig {
            name: "storage is data".into(),
            conditions: Conditions { service: Some(Pattern::Exact("Amazon S3".into())), ..Conditions::default() },
            value: Some("data".into()),
            value_from_tag: None,
            lookup: None,
        });
        config.splits = vec![support_split(SplitMethod::Proportional)];
        allocate(&ts, &config).await;
        let (facts, allocated) = ts.allocation_balance().await;
        assert_eq!(allocated, facts, "{}", ts.engine);
        let month = "2025-03".parse().unwrap();
        let mut kinds: std::collections::BTreeMap<(String, String), Money> = Default::default();
        for row in ts.store.allocation_coverage(month, &["team".to_string()]).await.unwrap() {
            *kinds.entry((row.currency, finopsd::allocate::method_kind(&row.method).to_string())).or_default() +=
                row.effective_cost;
        }
        let kinds: Vec<String> = kinds.iter().map(|((c, k), m)| format!("{c} {k} {m}")).collect();
        // Support (8) goes to payments, search and data by their 60/20/10 of the day.
        assert_eq!(
            kinds,
            vec!["EUR default 7", "USD default 8", "USD rule 10", "USD split 8", "USD tag 80"],
            "{}",
            ts.engine
        );
        let items = ts.store.unallocated_items(month, 10).await.unwrap();
        let team: Vec<String> = items
            .iter()
            .filter(|i| i.dimension == "team")
            .map(|i| format!("{} {} {} {}", i.currency, i.sub_account_id, i.service_name, i.costs.effective_cost))
            .collect();
        assert_eq!(
            team,
            vec![
                "EUR 210987654321 Amazon EC2 7",
                "USD 210987654321 Amazon Route 53 5",
                "USD 999988887777 Amazon RDS 3"
            ],
            "{}",
            ts.engine
        );
        let rows = ts.store.showback(&ShowbackQuery { month, by: vec!["team".into()] }).await.unwrap();
        let rows: Vec<String> = rows.iter().map(showback_line).collect();
        // 8 × 60/90, 8 × 20/90 and 8 × 10/90, rounded down to the nano-unit; the 2 nano-units
        // left over go to the largest weights (payments, then search).
        assert_eq!(
            rows,
            vec![
                "data USD 10.888888888 10.888888888 0",
                "payments USD 65.333333334 65.333333334 0",
                "search USD 21.777777778 21.777777778 0",
                "unallocated EUR 7 7 0",
                "unallocated USD 8 8 0",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

/// Random rules over the dimensions team and service: tag rules, fixed values on a service
/// or a tag, in a random order.
fn rules() -> impl Strategy<Value = AllocationConfig> {
    let rule = (0..4usize, 0..3usize).prop_map(|(kind, pick)| {
        let services = ["Amazon EC2", "Amazon S3", "AWS Lambda"];
        let teams = ["payments", "search", "data"];
        let base = RuleConfig {
            name: format!("rule {kind}/{pick}"),
            conditions: Conditions::default(),
            value: Some(teams[pick].into()),
            value_from_tag: None,
            lookup: None,
        };
        match kind {
            0 => RuleConfig { value: None, value_from_tag: Some("team".into()), ..base },
            1 => RuleConfig {
                conditions: Conditions {
                    service: Some(Pattern::Exact(services[pick].into())),
                    ..Conditions::default()
                },
                ..base
            },
            2 => RuleConfig {
                conditions: Conditions {
                    tags: [("team".to_string(), Pattern::Regex { regex: format!("^{}$", teams[pick]) })].into(),
                    ..Conditions::default()
                },
                ..base
            },
            _ => base,
        }
    });
    // Splits of the support service and of Lambda, in either dimension.
    let split = (0..4usize, 0..2usize, any::<bool>()).prop_map(|(method, dimension, lambda)| SplitConfig {
        name: format!("split {method}/{dimension}/{lambda}"),
        dimension: ["team", "service"][dimension].into(),
        conditions: Conditions {
            service: Some(Pattern::Exact(if lambda { "AWS Lambda" } else { "Amazon S3" }.into())),
            ..Conditions::default()
        },
        percentages: if method == 2 {
            [("payments".to_string(), 12.5), ("search".to_string(), 87.5)].into()
        } else {
            Default::default()
        },
        targets: if method == 3 { vec!["data".into(), "search".into()] } else { Vec::new() },
        ..support_split(
            [SplitMethod::Even, SplitMethod::Proportional, SplitMethod::Fixed, SplitMethod::Proportional][method],
        )
    });
    let case = prop_oneof![Just(ValueCase::Fold), Just(ValueCase::Preserve)];
    (
        prop::collection::vec(rule.clone(), 0..5),
        prop::collection::vec(rule, 0..3),
        prop::collection::vec(split, 0..3),
        case,
    )
        .prop_map(|(team, service, mut splits, team_case)| {
            splits.sort_by(|a, b| a.name.cmp(&b.name));
            splits.dedup_by(|a, b| a.name == b.name);
            AllocationConfig {
                dimensions: vec![
                    DimensionConfig {
                        name: "team".into(),
                        default: "unallocated".into(),
                        rules: team,
                        value_case: team_case,
                    },
                    DimensionConfig {
                        name: "service".into(),
                        default: "unallocated".into(),
                        rules: service,
                        value_case: ValueCase::Fold,
                    },
                ],
                splits,
                ..AllocationConfig::default()
            }
        })
}

fn cost_lines() -> impl Strategy<Value = Vec<Line>> {
    let one = (1u32..=5, -1_000_000_000_000i64..1_000_000_000_000, 0..3usize, 0..2usize, 0..6usize).prop_map(
        |(day, nanos, service, currency, tags)| {
            let day: &'static str = Box::leak(format!("2025-03-{day:02}").into_boxed_str());
            // Some spellings drift, as real tags do.
            let tags = [
                r#"{"team":"payments"}"#,
                r#"{"owner-team":"search"}"#,
                r#"{"Team":"data"}"#,
                "{}",
                r#"{"team":"Payments"}"#,
                r#"{"team":"SEARCH"}"#,
            ][tags];
            let service = ["Amazon EC2", "Amazon S3", "AWS Lambda"][service];
            line(day, &Money::from_nanos(nanos.into()).to_string(), service, ["USD", "EUR"][currency], tags)
        },
    );
    prop::collection::vec(one, 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Conservation: allocated + unallocated = ingested, per day and currency, to the
    /// nano-unit, whatever the facts, rules and splits.
    #[test]
    fn allocation_conserves_money(lines in cost_lines(), config in rules()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            for ts in common::stores().await {
                let file = write(&ts.path("costs.csv"), focus_csv(&lines));
                ts.ingest(&[&file]).await.unwrap();
                allocate(&ts, &config).await;
                let (facts, allocated) = ts.allocation_balance().await;
                prop_assert_eq!(allocated, facts, "{}", ts.engine);
                let dimensions: Vec<&str> = config.dimensions.iter().map(|d| d.name.as_str()).collect();
                for (facts, rollup) in ts.rollup_balance(&dimensions).await {
                    prop_assert_eq!(rollup, facts, "{}", ts.engine);
                }
                for (written, backfilled) in ts.rollups_and_their_backfill().await {
                    prop_assert!(!written.is_empty(), "{}: allocation wrote no sums", ts.engine);
                    prop_assert_eq!(written, backfilled, "{}", ts.engine);
                }
                ts.cleanup().await;
            }
            Ok(())
        })?;
    }
}
