//! Reading a slice of a Parquet export with polars into daily groups, and the types both
//! readers (this one and `csv_records`) produce.
//!
//! One pass over the slice feeds two aggregations that share the scan: the daily groups that
//! become cost facts, and the export's own column sums per billing account, billing period
//! and currency that the store must reconcile with.

use chrono::NaiveDate;
use polars::prelude::*;

use super::error::Position;
use super::export_file::ExportFile;
use super::mapping::ExportMapping;
use super::progress::RowCounter;
use crate::focus::FocusColumn;

/// Parquet money is read as f64 and turned into integer pico-units per row (see `focus::money`).
const PICOS_PER_UNIT: f64 = 1e12;

/// One daily group of line items, before tag normalisation. Text is `None` where the export
/// left it empty; the caller decides which of those are errors.
#[derive(Debug, Clone)]
pub struct ExportGroup {
    /// `Err` holds a value that is not a date.
    pub charge_date: Result<Option<NaiveDate>, String>,
    pub billing_period_start: Result<Option<NaiveDate>, String>,
    pub provider: Option<String>,
    pub billing_account_id: Option<String>,
    pub billing_account_name: Option<String>,
    pub sub_account_id: Option<String>,
    pub sub_account_name: Option<String>,
    pub service_name: Option<String>,
    pub service_category: Option<String>,
    pub region: Option<String>,
    pub charge_category: Option<String>,
    pub currency: Option<String>,
    pub raw_tags: Option<String>,
    pub billed_picos: i128,
    pub effective_picos: i128,
    pub list_picos: i128,
    pub consumed_quantity: f64,
    pub line_items: i64,
    /// The first row of the group, where the reader knows it (CSV): a value of the group that
    /// breaks a rule is reported there.
    pub first_row: Option<Position>,
}

/// The export's own column sums for one billing period, currency and billing account.
#[derive(Debug, Clone)]
pub struct ExportTotal {
    pub billing_period_start: Result<Option<NaiveDate>, String>,
    pub currency: Option<String>,
    pub provider: Option<String>,
    pub billing_account_id: Option<String>,
    pub billed_picos: i128,
    pub effective_picos: i128,
    pub list_picos: i128,
    /// Rows whose required money was empty: each one is an error.
    pub empty_money: i64,
    pub line_items: i64,
}

pub struct ExportRead {
    pub groups: Vec<ExportGroup>,
    pub totals: Vec<ExportTotal>,
}

/// Date columns of the grain, grouped on by the calendar date they start on.
pub const KEY_DATES: [FocusColumn; 2] = [FocusColumn::ChargePeriodStart, FocusColumn::BillingPeriodStart];
/// Text columns of the grain, in the order they are grouped on.
pub const KEY_TEXT: [(FocusColumn, &str); 8] = [
    (FocusColumn::ProviderName, "provider"),
    (FocusColumn::BillingAccountId, "billing_account_id"),
    (FocusColumn::SubAccountId, "sub_account_id"),
    (FocusColumn::ServiceName, "service_name"),
    (FocusColumn::RegionId, "region"),
    (FocusColumn::ChargeCategory, "charge_category"),
    (FocusColumn::BillingCurrency, "currency"),
    (FocusColumn::Tags, "raw_tags"),
];
/// Names that depend on an id in the grain: carried along, not grouped on.
pub const ATTRIBUTE_TEXT: [(FocusColumn, &str); 3] = [
    (FocusColumn::BillingAccountName, "billing_account_name"),
    (FocusColumn::SubAccountName, "sub_account_name"),
    (FocusColumn::ServiceCategory, "service_category"),
];
pub const MONEY: [(FocusColumn, &str); 3] =
    [(FocusColumn::BilledCost, "billed"), (FocusColumn::EffectiveCost, "effective"), (FocusColumn::ListCost, "list")];

/// Rows per Parquet slice: one pass over all rows made polars' memory grow with the file.
pub const PARQUET_SLICE_ROWS: u32 = 1_000_000;

/// The column names and types of a Parquet export, and its row count, from its metadata.
pub fn parquet_layout(file: &ExportFile) -> PolarsResult<(Schema, u64)> {
    let mut lf = scan_parquet(file)?;
    let schema = lf.collect_schema()?.as_ref().clone();
    let count = scan_parquet(file)?.select([len()]).collect()?;
    let rows = count.column("len")?.as_materialized_series().cast(&DataType::UInt64)?.u64()?.get(0).unwrap_or(0);
    Ok((schema, rows))
}

fn scan_parquet(file: &ExportFile) -> PolarsResult<LazyFrame> {
    LazyFrame::scan_parquet(PlRefPath::new(file.path.to_string_lossy().as_ref()), ScanArgsParquet::default())
}

/// Reads `rows` rows from `offset` of a Parquet export (polars skips the row groups outside
/// them) with `mapping` into daily groups and export totals. `schema` holds the file's
/// columns and their types, `rows_read` counts rows as they pass.
pub fn read_parquet_rows(
    file: &ExportFile,
    (offset, rows): (i64, u32),
    mapping: &ExportMapping,
    schema: &Schema,
    rows_read: RowCounter,
) -> PolarsResult<ExportRead> {
    let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let source = |column: FocusColumn| mapping.resolve(column, &header);
    let base = scan_parquet(file)?.slice(offset, rows);

    let mut columns = Vec::new();
    for (focus, name) in KEY_DATES.into_iter().zip(["charge_date", "billing_period_start"]) {
        columns.push(date_expr(source(focus), schema).alias(name));
    }
    for (focus, name) in KEY_TEXT.iter().chain(ATTRIBUTE_TEXT.iter()) {
        columns.push(text_expr(source(*focus)).alias(*name));
    }
    for (focus, name) in MONEY {
        let zero_if_null = mapping.columns.get(&focus).is_some_and(|c| c.zero_if_null);
        columns.push(money_expr(source(focus), zero_if_null).alias(name));
    }
    columns.push(match source(FocusColumn::ConsumedQuantity) {
        Some(c) => col(c).cast(DataType::Float64).fill_null(lit(0.0)).alias("consumed_quantity"),
        None => lit(0.0).alias("consumed_quantity"),
    });
    // Counts rows as morsels stream past, for the progress bar; both aggregations share it.
    let rows = base.select(columns).map(
        move |df: DataFrame| {
            rows_read.fetch_add(df.height() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(df)
        },
        OptFlags::STREAMING | OptFlags::PROJECTION_PUSHDOWN | OptFlags::PREDICATE_PUSHDOWN,
        None,
        Some("count rows"),
    );

    let mut group_keys = vec![col("charge_date"), col("billing_period_start")];
    group_keys.extend(KEY_TEXT.iter().map(|(_, name)| col(*name)));
    let mut group_aggs: Vec<Expr> = ATTRIBUTE_TEXT.iter().map(|(_, name)| col(*name).first()).collect();
    group_aggs.extend(MONEY.iter().map(|(_, name)| col(*name).sum()));
    group_aggs.push(col("consumed_quantity").sum());
    group_aggs.push(len().alias("line_items"));
    let groups = rows.clone().group_by(group_keys).agg(group_aggs);

    let empty_money = MONEY
        .iter()
        .map(|(_, name)| col(*name).null_count().cast(DataType::Int64))
        .reduce(|a, b| a + b)
        .expect("three money columns");
    let totals = rows
        .group_by([col("billing_period_start"), col("currency"), col("provider"), col("billing_account_id")])
        .agg([
            col("billed").sum(),
            col("effective").sum(),
            col("list").sum(),
            empty_money.alias("empty_money"),
            len().alias("line_items"),
        ]);

    let opt = groups.get_current_optimizations();
    let mut results =
        LazyFrame::collect_all_with_engine(vec![groups.logical_plan, totals.logical_plan], Engine::Streaming, opt)?;
    let totals = results.pop().expect("two results");
    let groups = results.pop().expect("two results");
    Ok(ExportRead { groups: extract_groups(&groups)?, totals: extract_totals(&totals)? })
}

/// A FOCUS date-time column as the UTC calendar date it starts on: days since 1970 (Int32)
/// for typed columns, the leading `YYYY-MM-DD` of text ones. Text is grouped first and parsed
/// per group afterwards: the same check, on thousands of values instead of millions.
fn date_expr(source: Option<&str>, schema: &Schema) -> Expr {
    let Some(name) = source else { return lit(NULL).cast(DataType::String) };
    match schema.get(name) {
        Some(DataType::Date) => col(name).cast(DataType::Int32),
        Some(DataType::Datetime(_, _)) => col(name).dt().date().cast(DataType::Int32),
        _ => col(name).cast(DataType::String).str().slice(lit(0), lit(10)),
    }
}

fn text_expr(source: Option<&str>) -> Expr {
    match source {
        Some(name) => col(name).cast(DataType::String),
        None => lit(NULL).cast(DataType::String),
    }
}

fn money_expr(source: Option<&str>, zero_if_null: bool) -> Expr {
    let Some(name) = source else { return lit(0).cast(DataType::Int128) };
    let picos = (col(name).cast(DataType::Float64) * lit(PICOS_PER_UNIT))
        .round(0, RoundMode::HalfAwayFromZero)
        .strict_cast(DataType::Int128);
    if zero_if_null { picos.fill_null(lit(0).cast(DataType::Int128)) } else { picos }
}

/// The calendar date a FOCUS date-time starts with (`2024-03-01T…` → 2024-03-01).
pub fn parse_date_prefix(value: &str) -> Option<NaiveDate> {
    let prefix = value.get(..10)?;
    NaiveDate::parse_from_str(prefix, "%Y-%m-%d").ok()
}

fn text_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df.column(name)?.as_materialized_series().str()?.iter().map(|v| v.map(str::to_string)).collect())
}

/// A date column as produced by [`date_expr`]; `Err` carries text that is not a date.
fn date_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<Result<Option<NaiveDate>, String>>> {
    let series = df.column(name)?.as_materialized_series();
    if series.dtype() == &DataType::String {
        return Ok(series
            .str()?
            .iter()
            .map(|text| match text {
                None => Ok(None),
                Some(text) => parse_date_prefix(text).map(Some).ok_or_else(|| text.to_string()),
            })
            .collect());
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Ok(series
        .cast(&DataType::Int32)?
        .i32()?
        .iter()
        .map(|days| Ok(days.and_then(|d| epoch.checked_add_signed(chrono::Duration::days(d as i64)))))
        .collect())
}

fn picos_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<i128>> {
    Ok(df.column(name)?.as_materialized_series().i128()?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn count_column(df: &DataFrame, name: &str) -> PolarsResult<Vec<i64>> {
    let series = df.column(name)?.as_materialized_series().cast(&DataType::Int64)?;
    Ok(series.i64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn extract_groups(df: &DataFrame) -> PolarsResult<Vec<ExportGroup>> {
    let charge_date = date_column(df, "charge_date")?;
    let billing_period_start = date_column(df, "billing_period_start")?;
    let mut text: Vec<std::vec::IntoIter<Option<String>>> = Vec::new();
    for (_, name) in KEY_TEXT.iter().chain(ATTRIBUTE_TEXT.iter()) {
        text.push(text_column(df, name)?.into_iter());
    }
    let billed = picos_column(df, "billed")?;
    let effective = picos_column(df, "effective")?;
    let list = picos_column(df, "list")?;
    let quantity: Vec<f64> =
        df.column("consumed_quantity")?.as_materialized_series().f64()?.iter().map(|v| v.unwrap_or(0.0)).collect();
    let line_items = count_column(df, "line_items")?;
    let mut groups = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut next = |k: usize| text[k].next().flatten();
        groups.push(ExportGroup {
            charge_date: charge_date[i].clone(),
            billing_period_start: billing_period_start[i].clone(),
            provider: next(0),
            billing_account_id: next(1),
            sub_account_id: next(2),
            service_name: next(3),
            region: next(4),
            charge_category: next(5),
            currency: next(6),
            raw_tags: next(7),
            billing_account_name: next(8),
            sub_account_name: next(9),
            service_category: next(10),
            billed_picos: billed[i],
            effective_picos: effective[i],
            list_picos: list[i],
            consumed_quantity: quantity[i],
            line_items: line_items[i],
            first_row: None,
        });
    }
    Ok(groups)
}

fn extract_totals(df: &DataFrame) -> PolarsResult<Vec<ExportTotal>> {
    let period = date_column(df, "billing_period_start")?;
    let currency = text_column(df, "currency")?;
    let provider = text_column(df, "provider")?;
    let billing_account_id = text_column(df, "billing_account_id")?;
    let billed = picos_column(df, "billed")?;
    let effective = picos_column(df, "effective")?;
    let list = picos_column(df, "list")?;
    let empty_money = count_column(df, "empty_money")?;
    let line_items = count_column(df, "line_items")?;
    Ok((0..df.height())
        .map(|i| ExportTotal {
            billing_period_start: period[i].clone(),
            currency: currency[i].clone(),
            provider: provider[i].clone(),
            billing_account_id: billing_account_id[i].clone(),
            billed_picos: billed[i],
            effective_picos: effective[i],
            list_picos: list[i],
            empty_money: empty_money[i],
            line_items: line_items[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::export_file::Encoding;
    use crate::ingest::mapping::MappingSet;
    use crate::sample::{ExportEncoding, write_benchmark_export};

    fn billed(read: &ExportRead) -> (i128, i64) {
        (read.totals.iter().map(|t| t.billed_picos).sum(), read.totals.iter().map(|t| t.line_items).sum())
    }

    #[test]
    fn parquet_slices_cover_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        write_benchmark_export(&path, ExportEncoding::Parquet, 2_500, 5).unwrap();
        let file = ExportFile { bytes: std::fs::metadata(&path).unwrap().len(), path, encoding: Encoding::Parquet };
        let mappings = MappingSet::load(None).unwrap();
        let mapping = mappings.by_name("focus-1.2").unwrap();
        let (schema, rows) = parquet_layout(&file).unwrap();
        assert_eq!(rows, 2_500);
        let read = |offset: i64, rows: u32| {
            read_parquet_rows(&file, (offset, rows), mapping, &schema, RowCounter::default()).unwrap()
        };
        let whole = billed(&read(0, 10_000));
        let (mut picos, mut items) = (0, 0);
        for offset in [0, 1_000, 2_000] {
            let (p, n) = billed(&read(offset, 1_000));
            picos += p;
            items += n;
        }
        assert_eq!((picos, items), whole);
        assert_eq!(items, 2_500);
    }
}
