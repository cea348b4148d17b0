//! Writing FOCUS 1.2 exports as CSV, gzip'd CSV or Parquet, streamed in batches so a
//! benchmark file of 10⁷ rows never sits in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

/// One FOCUS line item as the generator produces it.
#[derive(Debug, Clone, Default)]
pub struct FocusLine {
    pub billed_cost: f64,
    pub effective_cost: f64,
    pub list_cost: f64,
    pub billing_account_id: String,
    pub billing_account_name: String,
    pub currency: String,
    /// First day of the billing period, `YYYY-MM-DD`.
    pub billing_period_start: String,
    pub billing_period_end: String,
    pub charge_category: String,
    pub charge_description: String,
    pub charge_frequency: String,
    pub charge_period_start: String,
    pub charge_period_end: String,
    pub commitment_discount_id: String,
    pub commitment_discount_status: String,
    pub consumed_quantity: Option<f64>,
    pub consumed_unit: String,
    pub invoice_id: String,
    pub pricing_category: String,
    pub provider: String,
    pub region: String,
    pub resource_id: String,
    pub service_category: String,
    pub service_subcategory: String,
    pub service_name: String,
    pub sku_id: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    /// The Tags JSON object, `{}` when untagged.
    pub tags: String,
    /// The seller of a marketplace charge; empty for the provider's own charges. Written
    /// by the provider formats, each in its own columns (FOCUS files here have no
    /// PublisherName).
    pub marketplace_seller: String,
}

/// The columns written, in FOCUS's alphabetical order.
pub const COLUMNS: [&str; 29] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "ConsumedQuantity",
    "ConsumedUnit",
    "EffectiveCost",
    "InvoiceId",
    "ListCost",
    "PricingCategory",
    "ProviderName",
    "RegionId",
    "ResourceId",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportEncoding {
    Csv,
    CsvGz,
    Parquet,
}

impl ExportEncoding {
    pub fn extension(self) -> &'static str {
        match self {
            ExportEncoding::Csv => "csv",
            ExportEncoding::CsvGz => "csv.gz",
            ExportEncoding::Parquet => "parquet",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Parquet { path: String, source: PolarsError },
}

enum Sink {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Parquet { writer: Box<polars::io::parquet::write::BatchedWriter<File>>, batch: Vec<FocusLine> },
}

/// Writes FOCUS lines to one file.
pub struct FocusWriter {
    sink: Sink,
    path: String,
}

/// Rows per Parquet row group: bounded memory whatever the file size.
const PARQUET_BATCH: usize = 250_000;

/// Money as providers write it: ten decimals, trailing zeros trimmed.
pub fn money_text(value: f64) -> String {
    let s = format!("{value:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" { "0".to_string() } else { s.to_string() }
}

impl FocusWriter {
    pub fn create(path: &Path, encoding: ExportEncoding) -> Result<FocusWriter, WriteError> {
        let shown = path.display().to_string();
        let io = |source| WriteError::Io { path: shown.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = File::create(path).map_err(io)?;
        let sink = match encoding {
            ExportEncoding::Csv | ExportEncoding::CsvGz => {
                let out: Box<dyn Write> = if encoding == ExportEncoding::CsvGz {
                    Box::new(flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::new(6)))
                } else {
                    Box::new(BufWriter::with_capacity(1 << 20, file))
                };
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(COLUMNS).map_err(|e| io(e.into()))?;
                Sink::Csv(Box::new(writer))
            }
            ExportEncoding::Parquet => {
                let schema = parquet_schema();
                let writer = ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Snappy)
                    .batched(&schema)
                    .map_err(|source| WriteError::Parquet { path: shown.clone(), source })?;
                Sink::Parquet { writer: Box::new(writer), batch: Vec::with_capacity(PARQUET_BATCH) }
            }
        };
        Ok(FocusWriter { sink, path: shown })
    }

    pub fn write(&mut self, line: FocusLine) -> Result<(), WriteError> {
        match &mut self.sink {
            Sink::Csv(writer) => {
                let quantity = line.consumed_quantity.map(money_text).unwrap_or_default();
                writer
                    .write_record([
                        money_text(line.billed_cost).as_str(),
                        &line.billing_account_id,
                        &line.billing_account_name,
                        &line.currency,
                        &line.billing_period_end,
                        &line.billing_period_start,
                        &line.charge_category,
                        &line.charge_description,
                        &line.charge_frequency,
                        &line.charge_period_end,
                        &line.charge_period_start,
                        &line.commitment_discount_id,
                        &line.commitment_discount_status,
                        &quantity,
                        &line.consumed_unit,
                        &money_text(line.effective_cost),
                        &line.invoice_id,
                        &money_text(line.list_cost),
                        &line.pricing_category,
                        &line.provider,
                        &line.region,
                        &line.resource_id,
                        &line.service_category,
                        &line.service_name,
                        &line.service_subcategory,
                        &line.sku_id,
                        &line.sub_account_id,
                        &line.sub_account_name,
                        &line.tags,
                    ])
                    .map_err(|e| WriteError::Io { path: self.path.clone(), source: e.into() })
            }
            Sink::Parquet { writer, batch } => {
                batch.push(line);
                if batch.len() >= PARQUET_BATCH {
                    let df = parquet_frame(batch);
                    batch.clear();
                    writer
                        .write_batch(&df)
                        .map_err(|source| WriteError::Parquet { path: self.path.clone(), source })?;
                }
                Ok(())
            }
        }
    }

    pub fn finish(self) -> Result<(), WriteError> {
        let path = self.path;
        match self.sink {
            Sink::Csv(writer) => {
                let mut out =
                    writer.into_inner().map_err(|e| WriteError::Io { path: path.clone(), source: e.into_error() })?;
                out.flush().map_err(|source| WriteError::Io { path, source })
            }
            Sink::Parquet { mut writer, batch } => {
                let parquet = |source| WriteError::Parquet { path: path.clone(), source };
                if !batch.is_empty() {
                    writer.write_batch(&parquet_frame(&batch)).map_err(parquet)?;
                }
                writer.finish().map_err(parquet)?;
                Ok(())
            }
        }
    }
}

fn parquet_schema() -> Schema {
    COLUMNS
        .iter()
        .map(|name| {
            let dtype = match *name {
                "BilledCost" | "EffectiveCost" | "ListCost" | "ConsumedQuantity" => DataType::Float64,
                "BillingPeriodStart" | "BillingPeriodEnd" | "ChargePeriodStart" | "ChargePeriodEnd" => {
                    DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                }
                _ => DataType::String,
            };
            Field::new((*name).into(), dtype)
        })
        .collect()
}

fn parquet_frame(lines: &[FocusLine]) -> DataFrame {
    let texts = |get: fn(&FocusLine) -> &str| -> Vec<Option<&str>> {
        lines.iter().map(|l| Some(get(l)).filter(|v| !v.is_empty())).collect()
    };
    let millis = |get: fn(&FocusLine) -> &str| -> Vec<Option<i64>> {
        lines
            .iter()
            .map(|l| {
                chrono::DateTime::parse_from_rfc3339(get(l)).ok().map(|t| t.timestamp_millis()).or_else(|| {
                    chrono::NaiveDate::parse_from_str(get(l), "%Y-%m-%d")
                        .ok()
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis())
                })
            })
            .collect()
    };
    let schema = parquet_schema();
    let columns: Vec<Column> = COLUMNS
        .iter()
        .map(|name| {
            let series = match *name {
                "BilledCost" => Series::new((*name).into(), lines.iter().map(|l| l.billed_cost).collect::<Vec<_>>()),
                "EffectiveCost" => {
                    Series::new((*name).into(), lines.iter().map(|l| l.effective_cost).collect::<Vec<_>>())
                }
                "ListCost" => Series::new((*name).into(), lines.iter().map(|l| l.list_cost).collect::<Vec<_>>()),
                "ConsumedQuantity" => {
                    Series::new((*name).into(), lines.iter().map(|l| l.consumed_quantity).collect::<Vec<_>>())
                }
                "BillingPeriodStart" => Series::new((*name).into(), millis(|l| &l.billing_period_start)),
                "BillingPeriodEnd" => Series::new((*name).into(), millis(|l| &l.billing_period_end)),
                "ChargePeriodStart" => Series::new((*name).into(), millis(|l| &l.charge_period_start)),
                "ChargePeriodEnd" => Series::new((*name).into(), millis(|l| &l.charge_period_end)),
                other => Series::new((*name).into(), texts(text_getter(other))),
            };
            let dtype = schema.get(name).expect("column in schema");
            series.cast(dtype).expect("generator types cast").into()
        })
        .collect();
    DataFrame::new(lines.len(), columns).expect("columns of equal length")
}

fn text_getter(column: &str) -> fn(&FocusLine) -> &str {
    match column {
        "BillingAccountId" => |l| &l.billing_account_id,
        "BillingAccountName" => |l| &l.billing_account_name,
        "BillingCurrency" => |l| &l.currency,
        "ChargeCategory" => |l| &l.charge_category,
        "ChargeDescription" => |l| &l.charge_description,
        "ChargeFrequency" => |l| &l.charge_frequency,
        "CommitmentDiscountId" => |l| &l.commitment_discount_id,
        "CommitmentDiscountStatus" => |l| &l.commitment_discount_status,
        "ConsumedUnit" => |l| &l.consumed_unit,
        "InvoiceId" => |l| &l.invoice_id,
        "PricingCategory" => |l| &l.pricing_category,
        "ProviderName" => |l| &l.provider,
        "RegionId" => |l| &l.region,
        "ResourceId" => |l| &l.resource_id,
        "ServiceCategory" => |l| &l.service_category,
        "ServiceName" => |l| &l.service_name,
        "ServiceSubcategory" => |l| &l.service_subcategory,
        "SkuId" => |l| &l.sku_id,
        "SubAccountId" => |l| &l.sub_account_id,
        "SubAccountName" => |l| &l.sub_account_name,
        "Tags" => |l| &l.tags,
        other => unreachable!("no text column {other}"),
    }
}

pub fn io_error(path: &Path) -> impl Fn(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.display().to_string(), source }
}

pub fn write_text(path: &Path, text: &str) -> Result<(), WriteError> {
    std::fs::create_dir_all(path.parent().expect("has parent")).map_err(io_error(path))?;
    std::fs::write(path, text).map_err(io_error(path))
}
