//! `finopsd allocate`: recompute every allocation from the stored facts with the configured
//! rules, and say which rules read tags that ingest does not keep.

use clap::Args;

use finopsd::allocate::{Allocator, allocate_store};
use finopsd::config::Config;
use finopsd::ingest::normalise_tag_key;
use finopsd::store::{AllocationSummary, Store};

use super::open_store;

#[derive(Debug, Args)]
pub struct AllocateArgs {}

pub async fn run(config: &Config, _args: AllocateArgs) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = allocate(config, &store).await;
    store.close().await;
    let summary = result?;
    println!(
        "allocated {} cost facts of {} billing periods into {} rows by {} (allocation run {})",
        summary.facts,
        summary.billing_periods,
        summary.allocated_rows,
        config.allocation.dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "),
        summary.run_id
    );
    Ok(())
}

/// Recomputes the allocations; `ingest` calls it too, so showback never lags the facts.
pub async fn allocate(config: &Config, store: &Store) -> anyhow::Result<AllocationSummary> {
    let allocator = Allocator::new(&config.allocation)?;
    let kept: Vec<String> = config.ingest.tag_keys.iter().map(|k| normalise_tag_key(k)).collect();
    for (key, rule) in allocator.tag_keys_read() {
        if !kept.contains(&key) {
            // Facts only carry the tag keys kept at ingest: this rule can never see this key.
            tracing::warn!(
                tag = %key,
                rule = %rule,
                "an allocation rule reads a tag that ingest does not keep: add it to ingest.tag_keys and \
                 re-ingest the exports (`finopsd ingest <path>`), then `finopsd allocate`"
            );
        }
    }
    Ok(allocate_store(store, &allocator, &config.allocation).await?)
}
