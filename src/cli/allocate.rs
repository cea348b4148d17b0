//! `finopsd allocate`: recompute every allocation from the stored facts with the configured
//! rules; `explain`, `diff` and `coverage` review them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use finopsd::allocate::config::{Conditions, Pattern};
use finopsd::allocate::{AllocationConfig, Allocator, ExplainFilter, allocate_store, diff, summarise_coverage};
use finopsd::config::Config;
use finopsd::ingest::normalise_tag_key;
use finopsd::store::{AllocationSummary, Store};

use super::output::{Field, OutputFormat, Tabular};
use super::{UsageError, check_dimensions, month_arg, open_store};

#[derive(Debug, Args)]
pub struct AllocateArgs {
    #[command(subcommand)]
    action: Option<AllocateAction>,
}

#[derive(Debug, Subcommand)]
enum AllocateAction {
    /// Which rule or split put each cost of a month where it is, per dimension.
    Explain(ExplainArgs),
    /// How each dimension value's month would move under other rules, before applying them.
    Diff(DiffArgs),
    /// How much of a month's EffectiveCost tags, rules and splits allocate, the largest
    /// unallocated costs, and the tag values spelled more than one way: what to fix.
    Coverage(CoverageArgs),
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// The invoice month (billing period), e.g. 2025-03.
    #[arg(long, value_name = "YYYY-MM")]
    month: String,
    /// Only this provider (a `*` makes it a glob; so for the other filters).
    #[arg(long)]
    provider: Option<String>,
    /// Only this sub-account (AWS account, subscription, project), by id or name.
    #[arg(long)]
    sub_account: Option<String>,
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    charge_category: Option<String>,
    /// Only costs with this tag, KEY=VALUE (repeatable; the value compares case- and
    /// whitespace-insensitively).
    #[arg(long, value_name = "KEY=VALUE")]
    tag: Vec<String>,
    /// Only costs allocated to this value, DIMENSION=VALUE (repeatable), e.g. team=payments.
    #[arg(long, value_name = "DIMENSION=VALUE")]
    value: Vec<String>,
    /// Only these dimensions (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    dimension: Vec<String>,
    /// At most this many rows, largest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// A TOML file with the proposed rules: an `[allocation]` table as in the config (a whole
    /// config file works), or its contents at the top level.
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Only this invoice month; every month in the store by default.
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Debug, Args)]
struct CoverageArgs {
    /// The invoice month (billing period), e.g. 2025-03.
    #[arg(long, value_name = "YYYY-MM")]
    month: String,
    /// Print the largest unallocated items instead of the shares (the table shows all).
    #[arg(long, conflicts_with = "spellings")]
    items: bool,
    /// Print the values tags spell more than one way instead of the shares: each spelling,
    /// the value it is folded into and the cost it carries (the table shows all).
    #[arg(long)]
    spellings: bool,
    /// Unallocated items per dimension and currency.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(config: &Config, args: AllocateArgs) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = match args.action {
        None => allocate(config, &store).await.map(|summary| {
            println!(
                "allocated {} cost facts of {} billing periods into {} rows by {} (allocation run {})",
                summary.facts,
                summary.billing_periods,
                summary.allocated_rows,
                config.allocation.dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "),
                summary.run_id
            );
        }),
        Some(AllocateAction::Explain(args)) => explain(config, &store, args).await,
        Some(AllocateAction::Diff(args)) => preview(config, &store, args).await,
        Some(AllocateAction::Coverage(args)) => coverage(&store, args).await,
    };
    store.close().await;
    result
}

/// Recomputes the allocations; `ingest` calls it too, so showback never lags the facts.
pub async fn allocate(config: &Config, store: &Store) -> anyhow::Result<AllocationSummary> {
    let allocator = Allocator::new(&config.allocation)?;
    let kept: Vec<String> = config.ingest.tag_keys.iter().map(|k| normalise_tag_key(k)).collect();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, reader) in allocator.tag_keys_read() {
        if !kept.contains(&key) {
            missing.entry(key).or_default().push(reader);
        }
    }
    if !missing.is_empty() {
        // Facts carry only the tag keys kept at ingest: these rules can never see these keys.
        let files = store.current_export_files().await?;
        let reingest = if files.is_empty() { "<export files>".to_string() } else { files.join(" ") };
        for (key, readers) in &missing {
            eprintln!(
                "warning: {} read tag `{key}`, which ingest does not keep, so they match no cost. Add \"{key}\" to \
                 ingest.tag_keys in the config, then run: finopsd ingest {reingest}",
                readers.join(", ")
            );
        }
    }
    Ok(allocate_store(store, allocator, &config.allocation).await?)
}

/// `text` as a rule pattern: a glob when it has glob characters, else exact.
fn pattern(text: &Option<String>) -> Option<Pattern> {
    text.as_ref().map(|text| {
        if text.contains(['*', '?', '[']) { Pattern::Glob { glob: text.clone() } } else { Pattern::Exact(text.clone()) }
    })
}

fn pairs(flag: &str, texts: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    texts
        .iter()
        .map(|text| {
            text.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| UsageError(format!("--{flag} `{text}` is not of the form NAME=VALUE")))
        })
        .collect()
}

async fn explain(config: &Config, store: &Store, args: ExplainArgs) -> anyhow::Result<()> {
    let month = month_arg(&args.month)?;
    let values = pairs("value", &args.value)?;
    check_dimensions(config, "value", values.iter().map(|(d, _)| d.as_str()))?;
    check_dimensions(config, "dimension", args.dimension.iter().map(String::as_str))?;
    let conditions = Conditions {
        provider: pattern(&args.provider),
        sub_account: pattern(&args.sub_account),
        service: pattern(&args.service),
        region: pattern(&args.region),
        charge_category: pattern(&args.charge_category),
        tags: pairs("tag", &args.tag)?.into_iter().map(|(k, v)| (k, Pattern::Exact(v))).collect(),
        ..Conditions::default()
    };
    let filter = ExplainFilter::new(&conditions, values, args.dimension).map_err(|e| UsageError(e.to_string()))?;
    let mut allocator = Allocator::new(&config.allocation)?;
    // Values show as `finopsd allocate` spells them.
    allocator.learn_spellings(&store.fact_sums_by_attributes().await?);
    let sources = store.period_facts(month).await?;
    let rows = allocator.explain(&sources, &filter);
    let mut table = Tabular::new(
        [
            "dimension",
            "value",
            "method",
            "provider",
            "sub_account",
            "service",
            "charge_category",
            "tags",
            "currency",
            "effective_cost",
            "billed_cost",
            "days",
        ]
        .map(String::from)
        .to_vec(),
    );
    let shown = rows.len().min(args.limit);
    for row in rows.iter().take(args.limit) {
        table.rows.push(vec![
            Field::Text(row.dimension.clone()),
            Field::Text(row.value.clone()),
            Field::Text(row.method.clone()),
            Field::Text(row.provider.clone()),
            Field::Text(row.sub_account.clone()),
            Field::Text(row.service.clone()),
            Field::Text(row.charge_category.clone()),
            Field::Text(row.tags.clone()),
            Field::Text(row.currency.clone()),
            Field::Money(row.costs.effective_cost),
            Field::Money(row.costs.billed_cost),
            Field::Count(row.days as i64),
        ]);
    }
    print!("{}", table.render(args.format));
    if args.format == OutputFormat::Table {
        eprintln!(
            "{shown} of {} rows for {month} with the rules in the config (methods: `tag: <rule>`, `rule: <rule>`, \
             `split: <split> (from <value the rules gave>)`, `default`)",
            rows.len()
        );
    }
    Ok(())
}

/// The `[allocation]` table of a rules file, or the file itself when it has none.
fn load_rules(path: &PathBuf) -> anyhow::Result<AllocationConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the rules file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| UsageError(format!("the rules file {} is not valid TOML: {e}", path.display())))?;
    let allocation = match table.get("allocation") {
        Some(allocation) => allocation.clone(),
        None => toml::Value::Table(table),
    };
    allocation.try_into().map_err(|e| {
        UsageError(format!("the rules in {} are not valid allocation settings: {e}", path.display())).into()
    })
}

async fn preview(config: &Config, store: &Store, args: DiffArgs) -> anyhow::Result<()> {
    let proposed_rules = load_rules(&args.rules)?;
    let mut proposed = Allocator::new(&proposed_rules)
        .map_err(|e| UsageError(format!("the rules in {}: {e}", args.rules.display())))?;
    let mut current = Allocator::new(&config.allocation)?;
    // Values show as `finopsd allocate` would spell them under each set of rules.
    let sums = store.fact_sums_by_attributes().await?;
    current.learn_spellings(&sums);
    proposed.learn_spellings(&sums);
    let months = match &args.month {
        Some(month) => vec![month_arg(month)?],
        None => store.billing_periods().await?,
    };
    let mut table = Tabular::new(
        ["dimension", "value", "month", "currency", "current", "proposed", "change"].map(String::from).to_vec(),
    );
    for month in months {
        let sources = store.period_facts(month).await?;
        for change in diff(&current, &proposed, month, &sources) {
            table.rows.push(vec![
                Field::Text(change.dimension),
                Field::Text(change.value),
                Field::Text(change.month.to_string()),
                Field::Text(change.currency),
                Field::Money(change.current),
                Field::Money(change.proposed),
                Field::Money(change.proposed - change.current),
            ]);
        }
    }
    if table.rows.is_empty() && args.format == OutputFormat::Table {
        println!("the proposed rules allocate every month exactly as the current ones do");
    } else {
        print!("{}", table.render(args.format));
    }
    Ok(())
}

async fn coverage(store: &Store, args: CoverageArgs) -> anyhow::Result<()> {
    let month = month_arg(&args.month)?;
    let Some(dimensions) = store.allocated_dimensions().await? else {
        eprintln!("nothing is allocated yet: run `finopsd allocate` (ingest runs it too)");
        return Ok(());
    };
    let table = args.format == OutputFormat::Table;
    if !(args.items || args.spellings) || table {
        let rows = store.allocation_coverage(month, &dimensions).await?;
        print!("{}", coverage_table(&rows).render(args.format));
    }
    if args.items || table {
        let items = store.unallocated_items(month, args.top).await?;
        if table {
            println!("Largest unallocated costs of {month} (tag them or add a rule):");
        }
        print!("{}", unallocated_table(&items).render(args.format));
    }
    if args.spellings || table {
        let spellings = store.folded_spellings(month).await?;
        if table && !spellings.is_empty() {
            println!("Values spelled more than one way in {month}, each folded into the value shown (retag to match):");
        }
        if !(table && spellings.is_empty()) {
            print!("{}", spellings_table(&spellings).render(args.format));
        }
    }
    Ok(())
}

/// Each spelling of a value tags spell more than one way, with the value shown and its cost.
pub fn spellings_table(spellings: &[finopsd::store::FoldedSpelling]) -> Tabular {
    let mut table =
        Tabular::new(["dimension", "value", "spelling", "currency", "effective_cost"].map(String::from).to_vec());
    for spelling in spellings {
        table.rows.push(vec![
            Field::Text(spelling.dimension.clone()),
            Field::Text(spelling.value.clone()),
            Field::Text(spelling.spelling.clone()),
            Field::Text(spelling.currency.clone()),
            Field::Money(spelling.effective_cost),
        ]);
    }
    table
}

/// Per provider, currency and dimension: EffectiveCost by how it was allocated.
pub fn coverage_table(rows: &[finopsd::store::CoverageRow]) -> Tabular {
    let mut table = Tabular::new(
        [
            "dimension",
            "provider",
            "currency",
            "effective_cost",
            "by_tag",
            "by_rule",
            "by_split",
            "unallocated",
            "allocated_share",
        ]
        .map(String::from)
        .to_vec(),
    );
    for summary in summarise_coverage(rows) {
        table.rows.push(vec![
            Field::Text(summary.dimension.clone()),
            Field::Text(summary.provider.clone()),
            Field::Text(summary.currency.clone()),
            Field::Money(summary.total()),
            Field::Money(summary.by_tag),
            Field::Money(summary.by_rule),
            Field::Money(summary.by_split),
            Field::Money(summary.unallocated),
            Field::Ratio(summary.allocated_share()),
        ]);
    }
    table
}

pub fn unallocated_table(items: &[finopsd::store::UnallocatedItem]) -> Tabular {
    let mut table = Tabular::new(
        ["dimension", "currency", "provider", "sub_account", "service", "effective_cost", "billed_cost"]
            .map(String::from)
            .to_vec(),
    );
    for item in items {
        let sub_account = if item.sub_account_name.is_empty() {
            item.sub_account_id.clone()
        } else {
            format!("{} ({})", item.sub_account_name, item.sub_account_id)
        };
        table.rows.push(vec![
            Field::Text(item.dimension.clone()),
            Field::Text(item.currency.clone()),
            Field::Text(item.provider.clone()),
            Field::Text(sub_account),
            Field::Text(item.service_name.clone()),
            Field::Money(item.costs.effective_cost),
            Field::Money(item.costs.billed_cost),
        ]);
    }
    table
}
