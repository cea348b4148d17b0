//! Tabular output in the three forms people use: a table to read, CSV for spreadsheets,
//! JSON for programs. Money is exact in CSV and JSON and rounded to cents in tables.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{Cell, CellAlignment, Table};
use serde_json::{Map, Value};

use finopsd::focus::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// A value in an output row.
#[derive(Debug, Clone)]
pub enum Field {
    Text(String),
    Money(Money),
    Count(i64),
    /// A share, 0.25 for 25%.
    Ratio(Option<f64>),
}

/// Rows with named columns, printed in any [`OutputFormat`].
pub struct Tabular {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Field>>,
}

impl Tabular {
    pub fn new(columns: Vec<String>) -> Self {
        Tabular { columns, rows: Vec::new() }
    }

    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => self.table(),
            OutputFormat::Csv => self.csv(),
            OutputFormat::Json => self.json(),
        }
    }

    fn table(&self) -> String {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY);
        table.set_header(self.columns.iter().map(|c| Cell::new(c.replace('_', " "))));
        for row in &self.rows {
            table.add_row(row.iter().map(|field| {
                match field {
                    Field::Text(text) => Cell::new(if text.is_empty() { "(none)" } else { text }),
                    Field::Money(money) => Cell::new(money.display_cents()).set_alignment(CellAlignment::Right),
                    Field::Count(n) => Cell::new(n).set_alignment(CellAlignment::Right),
                    Field::Ratio(ratio) => Cell::new(ratio.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_default())
                        .set_alignment(CellAlignment::Right),
                }
            }));
        }
        format!("{table}\n")
    }

    fn csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.columns).expect("writing to memory");
        for row in &self.rows {
            writer
                .write_record(row.iter().map(|field| match field {
                    Field::Text(text) => text.clone(),
                    Field::Money(money) => money.to_string(),
                    Field::Count(n) => n.to_string(),
                    Field::Ratio(ratio) => ratio.map(|r| format!("{r:.6}")).unwrap_or_default(),
                }))
                .expect("writing to memory");
        }
        String::from_utf8(writer.into_inner().expect("writing to memory")).expect("CSV of UTF-8 text")
    }

    fn json(&self) -> String {
        let array: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut object = Map::new();
                for (column, field) in self.columns.iter().zip(row) {
                    let value = match field {
                        Field::Text(text) => Value::String(text.clone()),
                        Field::Money(money) => serde_json::to_value(money).expect("money serialises"),
                        Field::Count(n) => Value::from(*n),
                        Field::Ratio(ratio) => ratio.map(Value::from).unwrap_or(Value::Null),
                    };
                    object.insert(column.clone(), value);
                }
                Value::Object(object)
            })
            .collect();
        format!("{}\n", serde_json::to_string_pretty(&array).expect("JSON serialises"))
    }
}
