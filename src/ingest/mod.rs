//! Ingest: billing exports in, daily cost facts out, one atomic replacement per
//! (source, billing period), reconciled to the export's own totals before it commits.

mod csv_chunks;
mod csv_records;
pub mod error;
mod export_file;
mod groups;
pub mod location;
mod manifest;
pub mod mapping;
mod paired;
mod parquet;
mod progress;
pub mod pulls;
mod records;
mod row_layout;
mod tags;
mod watermark;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::config::IngestConfig;
use crate::focus::{BillingPeriod, CostFact, CostTotals, CurrencyPolicy, FactAmounts, FactKey, FocusColumn};
use crate::store::{FallbackCount, IngestFileRecord, IngestRunRecord, PeriodReplacement, ReconciliationKey, Store};

use csv_records::CsvRead;
pub use error::{BadInput, IngestError, Position};
use export_file::{Encoding, ExportFile};
use groups::{DailyGroups, ExportGroup, ExportRead, ExportTotal, export_totals};
use manifest::DatasetRole;
use mapping::{Detection, ExportMapping, MappingSet};
use paired::PairedDatasets;
use progress::IngestProgress;
use records::RecordsRead;
use row_layout::{FallbackUse, RowLayout};
pub use tags::{TagFilter, normalise_tag_key};
use watermark::Watermarks;

/// Daily facts summed across the parts and files of an ingest. Hashed, not ordered: with a
/// few hundred thousand facts, ordering them by their fifteen text fields cost more than all
/// the rest of merging, and nothing downstream depends on their order.
type FactSums = foldhash::HashMap<FactKey, FactAmounts>;

/// What ingest needs from the config, prepared once.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub tag_keys: Vec<String>,
    tags: TagFilter,
    currencies: CurrencyPolicy,
    mappings: MappingSet,
}

impl IngestSettings {
    pub fn from_config(config: &IngestConfig) -> Result<Self, IngestError> {
        let mut tag_keys: Vec<String> = config.tag_keys.iter().map(|k| normalise_tag_key(k)).collect();
        tag_keys.sort();
        tag_keys.dedup();
        Ok(IngestSettings {
            tags: TagFilter::new(&tag_keys),
            tag_keys,
            currencies: CurrencyPolicy::new(&config.extra_currencies),
            mappings: MappingSet::load(config.models_dir.as_deref())?,
        })
    }

    pub fn format_names(&self) -> Vec<&str> {
        self.mappings.names()
    }
}

/// One `finopsd ingest` invocation.
#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    /// Files or folders.
    pub paths: Vec<PathBuf>,
    /// A mapping name that overrides detection, e.g. `focus-1.2`.
    pub format: Option<String>,
    /// Overrides the source the facts belong to (default `<provider>:<billing account>`).
    pub source: Option<String>,
    /// No progress bar.
    pub quiet: bool,
}

#[derive(Debug)]
pub struct IngestReport {
    pub run: IngestRunRecord,
    pub warnings: Vec<String>,
}

/// Line items whose descriptive value came from a fallback, by FOCUS column and source.
type FallbackCounts = BTreeMap<(FocusColumn, String), i64>;

/// Everything read from the files, merged, before it is written.
struct ReadOutcome {
    facts: FactSums,
    export_totals: BTreeMap<ReconciliationKey, CostTotals>,
    /// Actual and amortised halves of paired exports, merged once every file is read.
    paired: PairedDatasets,
    /// The highest watermark values read so far, per format (see `ExportMapping::watermark`).
    watermarks: HashMap<String, Watermarks>,
    line_items: i64,
    fallback_rows: FallbackCounts,
    warnings: Vec<String>,
}

/// Reads every export under `request.paths` and replaces the billing periods they cover.
/// Nothing changes in the store unless every file reads cleanly and the result reconciles.
pub async fn ingest(
    store: &Store,
    settings: &IngestSettings,
    request: &IngestRequest,
) -> Result<IngestReport, IngestError> {
    let started_at = Utc::now();
    let mut files_seen = Vec::new();
    let result = ingest_inner(store, settings, request, started_at, &mut files_seen).await;
    if let Err(err) = &result {
        // A refused ingest is recorded too, so `ingest status` explains what happened.
        if let Err(ledger_err) =
            store.record_failed_run(started_at, &settings.tag_keys, &files_seen, &err.to_string()).await
        {
            tracing::warn!(error = %ledger_err, "could not record the failed ingest in the ledger");
        }
    }
    result
}

async fn ingest_inner(
    store: &Store,
    settings: &IngestSettings,
    request: &IngestRequest,
    started_at: DateTime<Utc>,
    files_seen: &mut Vec<IngestFileRecord>,
) -> Result<IngestReport, IngestError> {
    let files = export_file::discover(&request.paths)?;
    let read = {
        let settings = settings.clone();
        let request = request.clone();
        let (outcome, records) = tokio::task::spawn_blocking(move || read_files(&files, &settings, &request))
            .await
            .expect("reader panicked");
        *files_seen = records;
        outcome?
    };
    let periods: Vec<(String, BillingPeriod)> = read
        .export_totals
        .keys()
        .map(|(source, period, _)| (source.clone(), *period))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut facts: Vec<CostFact> = read.facts.into_iter().map(|(key, amounts)| CostFact { key, amounts }).collect();
    // By day, the order of the store's date index: its pages are then written in order, not at random.
    facts.sort_unstable_by_key(|fact| fact.key.charge_date);
    let export_totals: Vec<_> = read.export_totals.into_iter().collect();
    let mut fallbacks: Vec<FallbackCount> = read
        .fallback_rows
        .into_iter()
        .map(|((column, source), line_items)| FallbackCount { column: column.to_string(), source, line_items })
        .collect();
    // In the order the ledger gives them back.
    fallbacks.sort_by(|a, b| (&a.column, &a.source).cmp(&(&b.column, &b.source)));
    tracing::debug!(facts = facts.len(), periods = periods.len(), "writing cost facts");
    let writing = std::time::Instant::now();
    let run = store
        .replace_billing_periods(PeriodReplacement {
            started_at,
            tag_keys: &settings.tag_keys,
            files: files_seen,
            line_items: read.line_items,
            fallbacks: &fallbacks,
            periods: &periods,
            facts: &facts,
            export_totals: &export_totals,
        })
        .await?;
    let seconds = writing.elapsed().as_secs_f64();
    tracing::info!(
        facts = facts.len(),
        seconds = format!("{seconds:.2}"),
        facts_per_second = format!("{:.0}", facts.len() as f64 / seconds.max(1e-9)),
        "stored cost facts (replaced, reconciled and committed)"
    );
    Ok(IngestReport { run, warnings: read.warnings })
}

/// Reads all files (blocking: the readers own the cores meanwhile). Returns the ledger records of
/// the files looked at, whatever the outcome.
fn read_files(
    files: &[ExportFile],
    settings: &IngestSettings,
    request: &IngestRequest,
) -> (Result<ReadOutcome, IngestError>, Vec<IngestFileRecord>) {
    let progress = IngestProgress::new(files.iter().map(|f| f.bytes).sum(), request.quiet);
    let mut records = Vec::new();
    let mut outcome = ReadOutcome {
        facts: FactSums::default(),
        export_totals: BTreeMap::new(),
        paired: PairedDatasets::default(),
        watermarks: HashMap::new(),
        line_items: 0,
        fallback_rows: FallbackCounts::new(),
        warnings: Vec::new(),
    };
    for file in files {
        let mut record = IngestFileRecord {
            path: file.path.display().to_string(),
            format: String::new(),
            checksum: String::new(),
            bytes: file.bytes as i64,
            line_items: 0,
        };
        let earlier: Vec<_> = records.iter().zip(files).map(|(record, file)| (record, file.role)).collect();
        let result = read_file(file, settings, request, &progress, &earlier, &mut record, &mut outcome);
        records.push(record);
        if let Err(err) = result {
            progress.finish();
            return (Err(err), records);
        }
    }
    progress.finish();
    let paired = std::mem::take(&mut outcome.paired);
    paired.merge_into(&mut outcome.facts, &mut outcome.export_totals, &mut outcome.warnings);
    (Ok(outcome), records)
}

fn read_file(
    file: &ExportFile,
    settings: &IngestSettings,
    request: &IngestRequest,
    progress: &IngestProgress,
    earlier: &[(&IngestFileRecord, Option<DatasetRole>)],
    record: &mut IngestFileRecord,
    outcome: &mut ReadOutcome,
) -> Result<(), IngestError> {
    let parquet = match file.encoding {
        Encoding::Csv | Encoding::GzipCsv | Encoding::JsonLines | Encoding::GzipJsonLines => None,
        Encoding::Parquet => Some(parquet::parquet_layout(file)?),
    };
    let mut header: Vec<String> = match &parquet {
        None if file.encoding.is_json_lines() => records::header(file)?,
        None => file.csv_header()?,
        Some((schema, _)) => parquet::header(schema),
    };
    let mapping = choose_mapping(file, &mut header, settings, request)?;
    record.format = mapping.name.clone();
    let by_record = file.encoding.is_json_lines() || (mapping.nested && parquet.is_none());
    if by_record {
        // A record leaves out what it lacks (no credits yet), and a CSV cell holds a
        // repeated field whole: every field the mapping reads may turn up in a later row.
        for name in mapping.referenced_columns() {
            if !header.iter().any(|h| h == name) {
                header.push(name.to_string());
            }
        }
    }
    let layout = RowLayout::new(mapping, &header, &settings.tags);
    if let Some((schema, _)) = &parquet {
        outcome.warnings.extend(parquet::money_as_text(file, schema, &layout));
    }
    let mut file_read = FileRead {
        file,
        mapping,
        header: &header,
        fallback_uses: &layout.fallback_uses,
        line_items: 0,
        kept_tags: HashMap::new(),
    };
    let earlier_marks = outcome.watermarks.get(&mapping.name).cloned().unwrap_or_default();

    let file_progress = progress.start_file(file);
    let read_result = match &parquet {
        None if by_record => {
            let RecordsRead { read, end, marks } =
                records::read_records(file, &layout, &earlier_marks, &file_progress.counter());
            watermark::raise_all(outcome.watermarks.entry(mapping.name.clone()).or_default(), marks);
            file_read.absorb(read, request, &settings.currencies, &settings.tags, outcome)?;
            end
        }
        None => {
            let CsvRead { read, end } =
                csv_records::read_csv(file, &layout, csv_chunks::CHUNK_BYTES, &file_progress.counter());
            // The rows before a refused one may hold an earlier bad value: it is reported first.
            file_read.absorb(read, request, &settings.currencies, &settings.tags, outcome)?;
            end
        }
        Some((schema, rows)) => std::thread::scope(|scope| {
            // Hashing reads the file once more, beside polars; the page cache serves both.
            let hashing = scope.spawn(|| file.checksum());
            let mut groups = DailyGroups::default();
            let mut marks = Watermarks::new();
            let mut offset = 0u64;
            // At least one pass, so an empty file still has its columns checked.
            while offset < *rows || offset == 0 {
                let slice = (offset, parquet::PARQUET_SLICE_ROWS);
                let counter = file_progress.counter();
                let read = parquet::read_parquet_rows(file, slice, &layout, schema, &earlier_marks, &counter)?;
                groups.merge(read.groups, |at| at);
                watermark::raise_all(&mut marks, read.marks);
                offset += u64::from(parquet::PARQUET_SLICE_ROWS);
            }
            watermark::raise_all(outcome.watermarks.entry(mapping.name.clone()).or_default(), marks);
            file_read.absorb(groups.into_read(), request, &settings.currencies, &settings.tags, outcome)?;
            hashing.join().expect("hashing panicked")
        }),
    };
    file_progress.done(&file.path);
    record.checksum = read_result?;
    record.line_items = file_read.line_items;
    // The parts of one export never have equal content; a copy would count its rows twice.
    // An actual and an amortised export are equal where no commitment was bought: that is
    // no copy.
    let other_half = |role: Option<DatasetRole>| role.is_some() && file.role.is_some() && role != file.role;
    if let Some((twin, _)) = earlier.iter().find(|(e, role)| e.checksum == record.checksum && !other_half(*role)) {
        return Err(BadInput {
            file: file.path.clone(),
            position: None,
            column: None,
            problem: format!("the file has the same content as {}, so its rows would count twice", twin.path),
            expected: "each file of an ingest to be a different part of the export (remove the copy)".into(),
        }
        .into());
    }
    if file_read.line_items == 0 {
        let warning = format!("{} has a header but no rows; nothing to ingest from it", file.path.display());
        tracing::warn!(file = %file.path.display(), "export file has no rows");
        outcome.warnings.push(warning);
    }
    Ok(())
}

/// One file being read, part by part.
struct FileRead<'a> {
    file: &'a ExportFile,
    mapping: &'a ExportMapping,
    header: &'a [String],
    fallback_uses: &'a [FallbackUse],
    line_items: i64,
    /// Kept tags per raw Tags value: tag sets repeat across groups and parts.
    kept_tags: HashMap<String, String>,
}

impl FileRead<'_> {
    /// Checks a file's groups and totals and merges them into the outcome, so memory holds
    /// the merged facts, never the parts.
    fn absorb(
        &mut self,
        part: ExportRead,
        request: &IngestRequest,
        currencies: &CurrencyPolicy,
        tags: &TagFilter,
        outcome: &mut ReadOutcome,
    ) -> Result<(), IngestError> {
        let refused = |position: Option<Position>, problem: String, column: FocusColumn| {
            IngestError::from(BadInput {
                file: self.file.path.clone(),
                position,
                column: self.mapping.resolve(column, self.header).map(String::from),
                problem,
                expected: format!("a valid {column} on every row"),
            })
        };
        let role = self.file.role.filter(|_| self.mapping.paired_datasets);
        for (FallbackUse { column, source }, rows) in self.fallback_uses.iter().zip(&part.fallback_rows) {
            if *rows > 0 {
                *outcome.fallback_rows.entry((*column, source.clone())).or_default() += rows;
            }
        }
        let groups: Vec<ExportGroup> = part.groups.into_iter().map(|g| translate_group(self.mapping, g)).collect();
        if let Err((position, column, problem)) = check_partition_fallbacks(&groups) {
            return Err(IngestError::from(BadInput {
                file: self.file.path.clone(),
                position,
                column: self.mapping.resolve(column, self.header).map(String::from),
                problem,
                expected: format!("a {column} on this row, or one that the file's other rows state"),
            }));
        }
        let totals = export_totals(&groups);
        let line_items: i64 = totals.iter().map(|t| t.line_items).sum();
        self.line_items += line_items;
        outcome.line_items += line_items;
        for group in groups {
            let first_row = group.first_row.clone();
            let prefixes = self.mapping.tag_key_prefixes();
            let (key, amounts) = fact_from_group(group, request, currencies, (tags, prefixes), &mut self.kept_tags)
                .map_err(|(column, problem)| refused(first_row, problem, column))?;
            match role {
                Some(role) => outcome.paired.add_fact(role, key, &amounts),
                None => outcome.facts.entry(key).or_default().add(&amounts),
            }
        }
        for total in totals {
            let (key, totals) =
                export_total(&total, request).map_err(|(column, problem)| refused(None, problem, column))?;
            match role {
                Some(role) => outcome.paired.add_total(role, key, &totals),
                None => outcome.export_totals.entry(key).or_default().add(&totals),
            }
        }
        Ok(())
    }
}

/// The mapping a file is read with: `--format`, or detected from the header. A header of
/// localised names that carry the English one in parentheses is read by the English names.
fn choose_mapping<'a>(
    file: &ExportFile,
    header: &mut Vec<String>,
    settings: &'a IngestSettings,
    request: &IngestRequest,
) -> Result<&'a ExportMapping, IngestError> {
    let bad = |column: Option<String>, problem: String, expected: String| {
        IngestError::from(BadInput {
            file: file.path.clone(),
            position: Some(Position::Header),
            column,
            problem,
            expected,
        })
    };
    if let Some(english) = mapping::english_header(header) {
        let fits = |header: &[String]| match &request.format {
            Some(name) => settings.mappings.by_name(name).is_some_and(|m| m.missing_required(header).is_empty()),
            None => matches!(settings.mappings.detect(header), Detection::Found(_)),
        };
        if !fits(header) && fits(&english) {
            *header = english;
        }
    }
    let header: &[String] = header;
    let mapping = match &request.format {
        Some(name) => settings.mappings.by_name(name).ok_or_else(|| {
            bad(
                None,
                format!("--format {name} is not a known format"),
                format!("one of {}", settings.format_names().join(", ")),
            )
        })?,
        None => match settings.mappings.detect(header) {
            Detection::Found(mapping) | Detection::Closest(mapping) => mapping,
            Detection::Unknown => {
                let closest = match settings.mappings.closest(header) {
                    Some(m) => format!(
                        "; the closest known format is {} ({}), which also needs the columns {}",
                        m.name,
                        m.description,
                        m.missing_detect_columns(header).join(", ")
                    ),
                    None => String::new(),
                };
                return Err(bad(
                    None,
                    format!("the header ({}) matches no known export format{closest}", shorten_list(header)),
                    format!("one of {} (or name one with --format)", settings.format_names().join(", ")),
                ));
            }
        },
    };
    let unused = mapping.unused_columns(header);
    if !unused.is_empty() {
        tracing::debug!(
            file = %file.path.display(),
            format = %mapping.name,
            columns = unused.len(),
            names = %shorten_list(&unused.iter().map(|c| c.to_string()).collect::<Vec<_>>()),
            "columns the format does not read are ignored"
        );
    }
    let missing = mapping.missing_required(header);
    if let Some((column, looked_for)) = missing.first() {
        let others = missing.iter().skip(1).map(|(c, _)| c.name()).collect::<Vec<_>>();
        let also = if others.is_empty() { String::new() } else { format!(" (also missing: {})", others.join(", ")) };
        return Err(bad(
            Some(looked_for.clone()),
            format!("the required column is missing from this {} file{also}", mapping.name),
            format!("a column named {looked_for} holding {column}"),
        ));
    }
    Ok(mapping)
}

fn shorten_list(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(6).map(String::as_str).collect();
    if items.len() > shown.len() { format!("{}, …", shown.join(", ")) } else { shown.join(", ") }
}

/// The group's text values as FOCUS values (`values` maps of the mapping).
fn translate_group(mapping: &ExportMapping, group: ExportGroup) -> ExportGroup {
    let t = |column: FocusColumn, value: Option<String>| mapping.translate(column, value);
    ExportGroup {
        provider: t(FocusColumn::ProviderName, group.provider),
        billing_account_id: t(FocusColumn::BillingAccountId, group.billing_account_id),
        billing_account_name: t(FocusColumn::BillingAccountName, group.billing_account_name),
        sub_account_id: t(FocusColumn::SubAccountId, group.sub_account_id),
        sub_account_name: t(FocusColumn::SubAccountName, group.sub_account_name),
        service_name: t(FocusColumn::ServiceName, group.service_name),
        service_category: t(FocusColumn::ServiceCategory, group.service_category),
        region: t(FocusColumn::RegionId, group.region),
        charge_category: t(FocusColumn::ChargeCategory, group.charge_category),
        currency: t(FocusColumn::BillingCurrency, group.currency),
        marketplace_publisher: t(FocusColumn::MarketplacePublisher, group.marketplace_publisher),
        ..group
    }
}

/// A rule an aggregated value breaks: the column and what is wrong.
type Refusal = (FocusColumn, String);

/// A fallback may say where money is stored — its billing period and source — only where
/// no row of the file states that column, or where it gives a value the file's rows state:
/// a refund row without its billing period must not replace another month, nor a row
/// without its account start an account of its own (which a restated export, stating it,
/// would then leave behind).
fn check_partition_fallbacks(groups: &[ExportGroup]) -> Result<(), (Option<Position>, FocusColumn, String)> {
    type Fed = fn(&ExportGroup) -> bool;
    type Partition = fn(&ExportGroup) -> (bool, Option<String>);
    let partitions: [(FocusColumn, Fed, Partition); 3] = [
        (
            FocusColumn::BillingPeriodStart,
            |g| g.fallback_fed.billing_period,
            |g| {
                let month =
                    g.billing_period_start.clone().ok().flatten().map(|d| BillingPeriod::containing(d).to_string());
                (g.fallback_fed.billing_period, month)
            },
        ),
        (FocusColumn::ProviderName, |g| g.fallback_fed.provider, |g| (g.fallback_fed.provider, g.provider.clone())),
        (
            FocusColumn::BillingAccountId,
            |g| g.fallback_fed.billing_account,
            |g| (g.fallback_fed.billing_account, g.billing_account_id.clone()),
        ),
    ];
    for (column, fed, partition) in partitions {
        // Nearly every file: no fallback said where any money goes.
        if !groups.iter().any(fed) {
            continue;
        }
        let stated: BTreeSet<String> =
            groups.iter().map(partition).filter(|(fed, _)| !fed).filter_map(|(_, value)| value).collect();
        if stated.is_empty() {
            continue;
        }
        for group in groups {
            if let (true, Some(value)) = partition(group)
                && !stated.contains(&value)
            {
                let problem = format!(
                    "the row leaves {column} empty and its fallback gives {value}, which no other row of the file \
                     states ({}): where its money belongs cannot be told",
                    shorten_list(&stated.into_iter().collect::<Vec<_>>())
                );
                return Err((group.first_row.clone(), column, problem));
            }
        }
    }
    Ok(())
}

/// Turns one daily group into a fact key and amounts, enforcing the rules on its values.
fn fact_from_group(
    group: ExportGroup,
    request: &IngestRequest,
    currencies: &CurrencyPolicy,
    (tags, prefixes): (&TagFilter, &[(String, String)]),
    kept_tags: &mut HashMap<String, String>,
) -> Result<(FactKey, FactAmounts), Refusal> {
    let required = |value: Option<String>, column: FocusColumn| {
        value.filter(|v| !v.trim().is_empty()).ok_or((column, format!("a row leaves {column} empty")))
    };
    let charge_date = required_date(group.charge_date, FocusColumn::ChargePeriodStart)?;
    let period_start = required_date(group.billing_period_start, FocusColumn::BillingPeriodStart)?;
    let provider = required(group.provider, FocusColumn::ProviderName)?;
    let billing_account_id = required(group.billing_account_id, FocusColumn::BillingAccountId)?;
    let currency = required(group.currency, FocusColumn::BillingCurrency)?;
    if !currencies.accepts(&currency) {
        return Err((FocusColumn::BillingCurrency, format!("`{currency}` is not a known currency code")));
    }
    let raw_tags = group.raw_tags.unwrap_or_default();
    let tags = match kept_tags.get(&raw_tags) {
        Some(kept) => kept.clone(),
        None => {
            let kept = tags.kept(&raw_tags, prefixes).map_err(|problem| (FocusColumn::Tags, problem))?;
            kept_tags.insert(raw_tags, kept.clone());
            kept
        }
    };
    let key = FactKey {
        source: source_name(request, &provider, &billing_account_id),
        billing_period: BillingPeriod::containing(period_start),
        charge_date,
        provider,
        billing_account_id,
        billing_account_name: group.billing_account_name.unwrap_or_default(),
        sub_account_id: group.sub_account_id.unwrap_or_default(),
        sub_account_name: group.sub_account_name.unwrap_or_default(),
        service_name: required(group.service_name, FocusColumn::ServiceName)?,
        service_category: group.service_category.unwrap_or_default(),
        region: group.region.unwrap_or_default(),
        charge_category: required(group.charge_category, FocusColumn::ChargeCategory)?,
        currency,
        tags,
        marketplace_publisher: group.marketplace_publisher.unwrap_or_default(),
    };
    let amounts = FactAmounts {
        costs: CostTotals::from_picos(group.billed_picos, group.effective_picos, group.list_picos),
        consumed_quantity: group.consumed_quantity,
        line_items: group.line_items,
    };
    Ok((key, amounts))
}

fn required_date(
    value: Result<Option<chrono::NaiveDate>, String>,
    column: FocusColumn,
) -> Result<chrono::NaiveDate, Refusal> {
    match value {
        Ok(Some(date)) => Ok(date),
        Ok(None) => Err((column, format!("a row leaves {column} empty"))),
        Err(text) => Err((column, format!("`{text}` is not a date"))),
    }
}

/// Facts belong to the export stream of one billing account: a newer export of the same
/// account and month replaces the older one, whatever format it came in.
fn source_name(request: &IngestRequest, provider: &str, billing_account_id: &str) -> String {
    match &request.source {
        Some(source) => source.clone(),
        None => {
            let provider: Vec<String> = provider.split_whitespace().map(str::to_lowercase).collect();
            format!("{}:{}", provider.join("-"), billing_account_id.trim())
        }
    }
}

fn export_total(total: &ExportTotal, request: &IngestRequest) -> Result<(ReconciliationKey, CostTotals), Refusal> {
    let period =
        BillingPeriod::containing(required_date(total.billing_period_start.clone(), FocusColumn::BillingPeriodStart)?);
    let currency = total
        .currency
        .clone()
        .ok_or((FocusColumn::BillingCurrency, "a row leaves BillingCurrency empty".to_string()))?;
    let provider =
        total.provider.as_deref().ok_or((FocusColumn::ProviderName, "a row leaves ProviderName empty".to_string()))?;
    let account = total
        .billing_account_id
        .as_deref()
        .ok_or((FocusColumn::BillingAccountId, "a row leaves BillingAccountId empty".to_string()))?;
    let totals = CostTotals::from_picos(total.billed_picos, total.effective_picos, total.list_picos);
    Ok(((source_name(request, provider, account), period, currency), totals))
}
