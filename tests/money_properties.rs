//! Property: whatever the line items and however the export spells them, the store's totals
//! are exactly the sum of the export's amounts (CSV money is parsed from its decimal text,
//! never through a float), and every period reconciles.

mod common;

use common::{Line, focus_csv, write};
use finopsd::focus::Money;
use proptest::prelude::*;

/// An amount in nano-units and how an export might spell it.
fn amount() -> impl Strategy<Value = (i64, String)> {
    (-100_000_000_000_000i64..100_000_000_000_000, 0..3usize).prop_map(|(nanos, style)| {
        let exact = Money::from_nanos(nanos as i128).to_string();
        let text = match style {
            0 => exact,
            // E-notation with one digit before the point, as Azure writes amounts (1.25E-05).
            1 => {
                let digits = nanos.unsigned_abs().to_string();
                let sign = if nanos < 0 { "-" } else { "" };
                format!("{sign}{}.{}E{}", &digits[..1], &digits[1..], digits.len() as i64 - 10)
            }
            // Trailing zeros, as some CSV writers pad.
            _ => format!("{exact}{}", if exact.contains('.') { "000" } else { ".000" }),
        };
        (nanos, text)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stored_totals_are_the_exact_sum_of_the_line_items(
        items in prop::collection::vec((1u32..=28, amount()), 1..200)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let ts = common::sqlite_store().await;
            let days: Vec<&'static str> = (1..=28).map(|d| &*Box::leak(format!("2025-03-{d:02}").into_boxed_str())).collect();
            let lines: Vec<Line> = items
                .iter()
                .map(|(day, (_, text))| Line::usage(days[*day as usize - 1], text))
                .collect();
            let file = write(&ts.path("items.csv"), focus_csv(&lines));
            let report = ts.ingest(&[&file]).await.unwrap();
            let exact: i128 = items.iter().map(|(_, (nanos, _))| *nanos as i128).sum();
            let line = &report.run.reconciliation[0];
            prop_assert!(line.balances());
            prop_assert_eq!(line.stored.billed_cost.nanos(), exact);
            prop_assert_eq!(line.stored.billed_cost, line.export.billed_cost);
            ts.cleanup().await;
            Ok(())
        })?;
    }
}
