//! The Markdown form: the report's sections as headings and tables, for wikis, pull requests
//! and chat. Money is rounded to cents here; the CSV and JSON forms keep every digit.

use std::fmt::Write;

use super::{ShowbackReport, format_change_pct, format_share, sub_account};
use crate::detect::monitor::root_cause_label;
use crate::focus::Money;

pub fn render(report: &ShowbackReport) -> String {
    let mut out = String::new();
    let dimension = &report.dimension;
    let _ = writeln!(out, "# Showback by {} — {}\n", report.subject(), report.month);
    let _ = writeln!(
        out,
        "EffectiveCost (amortised) per {dimension} for the invoice month {}, against the month before; \
         BilledCost is what the invoice charges. Generated {}.\n",
        report.month, report.generated_at
    );
    if report.currencies.is_empty() {
        out.push_str("No allocated spend this month.\n");
    }
    for section in &report.currencies {
        let c = &section.currency;
        let _ = writeln!(out, "## {c}\n");
        let _ = writeln!(
            out,
            "**{} {c}** EffectiveCost ({} {c} billed), {} {c} the month before ({}).\n",
            section.effective_cost.display_cents(),
            section.billed_cost.display_cents(),
            section.previous_effective_cost.display_cents(),
            (section.effective_cost - section.previous_effective_cost).display_signed_cents(),
        );
        let r = &section.reconciliation;
        let _ = match (r.invoice_effective_cost, r.invoice_billed_cost, r.difference) {
            (Some(effective), Some(billed), Some(difference)) => writeln!(
                out,
                "Reconciliation: every {dimension} together {} EffectiveCost / {} BilledCost; the exports state \
                 {} / {}; difference {} — {}.\n",
                r.allocated_effective_cost.display_cents(),
                r.allocated_billed_cost.display_cents(),
                effective.display_cents(),
                billed.display_cents(),
                difference.display_cents(),
                if r.balances { "reconciled to the cent" } else { "**does not reconcile**" },
            ),
            _ => writeln!(out, "Reconciliation: **no export states a {c} total for {}**.\n", report.month),
        };
        let mut head =
            vec![dimension.as_str(), "EffectiveCost", "BilledCost", "previous", "change", "change %", "share"];
        let trend = format!("{} → {}", report.months[0], report.month);
        head.push(&trend);
        let rows = section
            .values
            .iter()
            .map(|v| {
                vec![
                    v.value.clone(),
                    v.effective_cost.display_cents(),
                    v.billed_cost.display_cents(),
                    v.previous_effective_cost.display_cents(),
                    v.change.display_signed_cents(),
                    format_change_pct(v.change_pct),
                    format_share(v.share),
                    sparkline(&v.trend),
                ]
            })
            .collect();
        table(&mut out, &head, rows);
        if !section.movers.is_empty() {
            let _ = writeln!(
                out,
                "Top movers: {}.\n",
                section
                    .movers
                    .iter()
                    .map(|m| format!(
                        "{} {} ({})",
                        m.value,
                        m.change.display_signed_cents(),
                        format_change_pct(m.change_pct)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    if !report.budgets.is_empty() {
        out.push_str("## Budgets\n\n");
        let rows = report
            .budgets
            .iter()
            .map(|b| {
                vec![
                    b.budget.clone(),
                    format!("{} to {}", b.period_start, b.period_last_day),
                    format!("{} {}", b.amount.display_cents(), b.currency),
                    format!("{} ({:.0}%)", b.actual.display_cents(), b.actual_pct),
                    format!(
                        "{} ({:.0}%; 80%: {} – {})",
                        b.forecast.display_cents(),
                        b.forecast_pct,
                        b.forecast_low.display_cents(),
                        b.forecast_high.display_cents()
                    ),
                    b.variance.display_signed_cents(),
                    b.thresholds_crossed.join(", "),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "budget",
                "period",
                "amount",
                &format!("actual to {}", report.budgets[0].as_of),
                "forecast",
                "variance",
                "crossed",
            ],
            rows,
        );
    }
    if !report.unit_costs.is_empty() {
        out.push_str("## Unit costs\n\n");
        let rows = report
            .unit_costs
            .iter()
            .map(|u| {
                vec![
                    u.value.clone(),
                    u.metric.clone(),
                    format!("{} {}", u.effective_cost.display_cents(), u.currency),
                    format!("{:.0}", u.quantity),
                    u.cost_per_unit.map(|c| format!("{c} {}", u.currency)).unwrap_or_default(),
                ]
            })
            .collect();
        table(&mut out, &[dimension, "metric", "EffectiveCost", "quantity", "per unit"], rows);
    }
    out.push_str("## Anomalies\n\n");
    if report.anomalies.is_empty() {
        out.push_str("None alerted this month.\n\n");
    } else {
        let rows = report
            .anomalies
            .iter()
            .map(|a| {
                vec![
                    a.series.clone(),
                    format!("{} to {}", a.start, a.end),
                    a.severity.clone(),
                    format!("{} {} ({:+.0}%)", a.impact.display_signed_cents(), a.currency, a.impact_pct),
                    format!("{} expected, {} actual", a.expected.display_cents(), a.actual.display_cents()),
                    a.root_causes.first().map(|cause| root_cause_label(cause, &a.currency)).unwrap_or_default(),
                    a.id.clone(),
                ]
            })
            .collect();
        table(&mut out, &["series", "days", "severity", "impact", "against", "top cause", "id"], rows);
    }
    if !report.coverage.is_empty() {
        let _ = writeln!(out, "## Allocation coverage of {dimension}\n");
        let rows = report
            .coverage
            .iter()
            .map(|c| {
                vec![
                    c.provider.clone(),
                    c.currency.clone(),
                    c.by_tag.display_cents(),
                    c.by_rule.display_cents(),
                    c.by_split.display_cents(),
                    c.unallocated.display_cents(),
                    format_share(c.allocated_share()),
                ]
            })
            .collect();
        table(&mut out, &["provider", "currency", "by tag", "by rule", "by split", "unallocated", "allocated"], rows);
    }
    if !report.unallocated.is_empty() {
        let _ = writeln!(out, "## Largest unallocated costs (tag these first)\n");
        let rows = report
            .unallocated
            .iter()
            .map(|i| {
                vec![
                    i.provider.clone(),
                    sub_account(i),
                    i.service_name.clone(),
                    format!("{} {}", i.costs.effective_cost.display_cents(), i.currency),
                ]
            })
            .collect();
        table(&mut out, &["provider", "sub-account", "service", "EffectiveCost"], rows);
    }
    if !report.folded_spellings.is_empty() {
        let _ = writeln!(out, "## Tag values spelled more than one way (retag to match)\n");
        let rows = report
            .folded_spellings
            .iter()
            .map(|s| {
                vec![
                    s.value.clone(),
                    s.spelling.clone(),
                    format!("{} {}", s.effective_cost.display_cents(), s.currency),
                ]
            })
            .collect();
        table(&mut out, &[dimension.as_str(), "spelling", "EffectiveCost"], rows);
    }
    out
}

/// A Markdown table; `|` in cells is escaped.
fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(head.iter().map(|h| h.to_string()).collect()));
    out.push_str(&line(head.iter().map(|_| "---".to_string()).collect()));
    for row in rows {
        out.push_str(&line(row.into_iter().map(|c| c.replace('|', "\\|")).collect()));
    }
    out.push('\n');
}

/// The trend as block characters scaled to its own largest month.
fn sparkline(trend: &[Money]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = trend.iter().map(|m| m.nanos()).max().unwrap_or(0);
    trend.iter().map(|m| if max <= 0 { BARS[0] } else { BARS[((m.nanos().max(0) * 7) / max) as usize] }).collect()
}
