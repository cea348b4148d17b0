//! The daemon's HTTP endpoints: `/healthz` (the process answers), `/readyz` (the store
//! answers; the age of the last ingest) and `/metrics` (Prometheus text format), beside the
//! `/api/v1` routes of [`super::api`].

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::cache::ResponseCache;
use super::{DaemonState, Stage};
use crate::analyse::budgets::BudgetStatus;
use crate::config::Config;
use crate::store::Store;

#[derive(Clone)]
struct Shared {
    store: Store,
    state: Arc<DaemonState>,
    config: Arc<Config>,
    cache: Arc<ResponseCache>,
}

/// The health and metrics endpoints and the `/api/v1` routes.
pub fn router(store: Store, state: Arc<DaemonState>, config: Arc<Config>) -> Router {
    let cache = Arc::new(ResponseCache::new(config.daemon.api_cache_mib));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Shared { store: store.clone(), state, config: config.clone(), cache: cache.clone() })
        .merge(super::api::router(store, config, cache))
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    match shared.store.ingest_runs(1).await {
        Ok(_) => {
            let age = shared.state.last_ingest_age();
            let body = match age {
                Some(age) => format!("ready; last ingest {age} s ago\n"),
                None => "ready; nothing ingested since start\n".to_string(),
            };
            (StatusCode::OK, body)
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: the store does not answer: {error}\n")),
    }
}

async fn metrics(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if shared.config.daemon.metrics_need_token
        && let Err(refused) = super::api::authorize(&shared.config.daemon.tokens, &headers, super::api::Scope::Read)
    {
        return refused.into_response();
    }
    let state = &shared.state;
    let mut text = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    let per_stage = |count: &dyn Fn(Stage) -> u64| -> Vec<(String, f64)> {
        Stage::ALL.iter().map(|&stage| (format!("{{stage=\"{}\"}}", stage.name()), count(stage) as f64)).collect()
    };
    family("finopsd_pipeline_runs_total", "counter", "Pipeline stage runs.", &per_stage(&|s| state.runs(s)));
    family(
        "finopsd_pipeline_failures_total",
        "counter",
        "Pipeline stage runs that failed.",
        &per_stage(&|s| state.failures(s)),
    );
    family(
        "finopsd_ingested_line_items_total",
        "counter",
        "Line items ingested from watched locations.",
        &[(String::new(), state.ingested_line_items() as f64)],
    );
    family(
        "finopsd_source_fetched_objects_total",
        "counter",
        "Export objects downloaded from buckets and containers (unchanged ones are not fetched again).",
        &[(String::new(), state.fetched_objects() as f64)],
    );
    let requests: Vec<(String, f64)> =
        state.cost_api_requests().iter().map(|(api, n)| (format!("{{api=\"{api}\"}}"), *n as f64)).collect();
    family(
        "finopsd_cost_api_requests_total",
        "counter",
        "Requests to the cost APIs (AWS bills each Cost Explorer request).",
        &requests,
    );
    let (hits, misses) = shared.cache.counts();
    family(
        "finopsd_api_cache_answers_total",
        "counter",
        "Answers of the cost and showback routes, from the cache (hit) or made from the store (miss).",
        &[("{result=\"hit\"}".to_string(), hits as f64), ("{result=\"miss\"}".to_string(), misses as f64)],
    );
    // The store's figures; a store that does not answer leaves them out (and /readyz says so).
    let by_status = |counts: Vec<(String, i64)>| -> Vec<(String, f64)> {
        counts.into_iter().map(|(status, n)| (format!("{{status=\"{status}\"}}"), n as f64)).collect()
    };
    if let Ok(counts) = shared.store.outbox_counts().await {
        family(
            "finopsd_outbox_messages",
            "gauge",
            "Outbox messages by status: pending (waiting or being retried), delivered, dead (given up; `finopsd outbox retry`).",
            &by_status(counts),
        );
    }
    if let Ok(counts) = shared.store.anomaly_counts().await {
        family("finopsd_anomalies", "gauge", "Anomalies kept, by status.", &by_status(counts));
    }
    let budgets = state.budget_statuses();
    let burn = |ratio: &dyn Fn(&BudgetStatus) -> f64| -> Vec<(String, f64)> {
        budgets
            .iter()
            .map(|b| {
                let labels = format!(
                    "{{budget=\"{}\",dimension=\"{}\",value=\"{}\",currency=\"{}\"}}",
                    escape(&b.budget),
                    escape(&b.dimension),
                    escape(&b.value),
                    b.currency
                );
                (labels, ratio(b))
            })
            .collect()
    };
    if !budgets.is_empty() {
        family(
            "finopsd_budget_actual_ratio",
            "gauge",
            "Spend so far in the budget's period over its amount (1 = all of it).",
            &burn(&|b| b.actual_pct() / 100.0),
        );
        family(
            "finopsd_budget_forecast_ratio",
            "gauge",
            "The period's forecast spend over the budget's amount.",
            &burn(&|b| b.forecast_pct() / 100.0),
        );
    }
    if let Some(age) = state.last_ingest_age() {
        family(
            "finopsd_ingest_age_seconds",
            "gauge",
            "Seconds since the last successful ingest.",
            &[(String::new(), age as f64)],
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// A label value as the Prometheus text format writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
