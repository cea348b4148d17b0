//! `/api/v1`: costs, showback reports, anomalies and budgets over HTTP, for product teams'
//! dashboards and tools. Every route wants a bearer token from `[[daemon.tokens]]` (kept
//! there as its SHA-256, never in clear) with the route's scope; a token restricted to one
//! allocation value (`team = payments`) reads that value's showback, anomalies and budgets
//! only, and is refused the routes that cannot be sliced by it. Bad input gets 400 and a
//! message saying what is expected. `/api/v1/openapi.json` describes the routes.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::cache::{Answer, ResponseCache};
use crate::allocate::ValueCases;
use crate::config::Config;
use crate::focus::{BillingPeriod, Money};
use crate::report::{ReportError, ReportFormat, ShowbackRequest, showback_report};
use crate::store::{CostDimension, CostQuery, Store, StoredAnomaly};

/// The longest range `/api/v1/costs` answers: enough for two years and their month-before.
const MAX_RANGE_DAYS: i64 = 800;

/// What a token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    /// Read, and record feedback on anomalies.
    Feedback,
    /// Everything.
    Admin,
}

/// One allocation value a token is limited to, e.g. `team` = `payments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    pub dimension: String,
    pub value: String,
}

/// A `[[daemon.tokens]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it, for the logs (the token itself is never logged).
    pub name: String,
    /// The token's SHA-256, hex: `printf %s "$TOKEN" | sha256sum`.
    pub sha256: String,
    pub scopes: Vec<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrict: Option<Restriction>,
}

impl ApiToken {
    fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|&scope| scope >= needed)
    }

    /// Whether an anomaly of series `(dimension, value)` or a budget may be shown: values
    /// compare as their dimension's `value_case` says, so a token restricted to `payments`
    /// reads `Payments`.
    fn sees(&self, cases: &ValueCases, dimension: &str, value: &str) -> bool {
        self.restrict.as_ref().is_none_or(|r| r.dimension == dimension && cases.same(dimension, &r.value, value))
    }
}

/// Checks `[[daemon.tokens]]` at config load.
pub fn validate(tokens: &[ApiToken], dimensions: &[&str]) -> Result<(), String> {
    for (i, token) in tokens.iter().enumerate() {
        let at = format!("daemon.tokens[{i}] ({:?})", token.name);
        if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{at}: sha256 must be 64 hex digits, e.g. from `printf %s \"$TOKEN\" | sha256sum`"));
        }
        if token.scopes.is_empty() {
            return Err(format!("{at}: scopes is empty; give read, feedback or admin"));
        }
        if let Some(restrict) = &token.restrict
            && !dimensions.contains(&restrict.dimension.as_str())
        {
            return Err(format!(
                "{at}: restrict.dimension {:?} is not an allocation dimension; the config has: {}",
                restrict.dimension,
                dimensions.join(", ")
            ));
        }
        if tokens[..i].iter().any(|t| t.sha256.eq_ignore_ascii_case(&token.sha256)) {
            return Err(format!("{at}: the same token is configured twice"));
        }
    }
    Ok(())
}

/// An answer other than 200: its status and a message saying what to do.
#[derive(Debug)]
pub(super) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::FORBIDDEN, message.into())
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, message.into())
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "an API request failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {error}"))
}

#[derive(Clone)]
struct Api {
    store: Store,
    config: Arc<Config>,
    cache: Arc<ResponseCache>,
}

impl Api {
    /// The token the request carries, when it is configured and has `needed`.
    fn caller(&self, headers: &HeaderMap, needed: Scope) -> Result<&ApiToken, ApiError> {
        authorize(&self.config.daemon.tokens, headers, needed)
    }

    fn dimensions(&self) -> Vec<&str> {
        self.config.allocation.dimensions.iter().map(|d| d.name.as_str()).collect()
    }

    /// The answer `make` gives, or the one it gave for `key` while the store has not changed.
    /// `key` names the route and every input the answer depends on, restrictions applied.
    async fn cached(
        &self,
        key: String,
        content_type: &'static str,
        make: impl Future<Output = Result<String, ApiError>>,
    ) -> Result<Response, ApiError> {
        let made = async { Ok(Answer { content_type, body: make.await?.into() }) };
        let answer = if self.cache.enabled() {
            let version = self.store.version().await.map_err(internal)?;
            self.cache.answer(version, key, made).await?
        } else {
            made.await?
        };
        Ok(([(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response())
    }
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialise")
}

const JSON: &str = "application/json";

/// The configured token a request carries, when it has `needed`.
pub(super) fn authorize<'a>(
    tokens: &'a [ApiToken],
    headers: &HeaderMap,
    needed: Scope,
) -> Result<&'a ApiToken, ApiError> {
    let unauthorized = |message: &str| ApiError(StatusCode::UNAUTHORIZED, message.to_string());
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send a token from [[daemon.tokens]] as `Authorization: Bearer <token>`"))?;
    let digest = hex(&Sha256::digest(presented.trim().as_bytes()));
    let token = tokens
        .iter()
        .find(|token| token.sha256.eq_ignore_ascii_case(&digest))
        .ok_or_else(|| unauthorized("the token is not one of [[daemon.tokens]]"))?;
    if !token.allows(needed) {
        let needed = serde_json::to_value(needed).expect("scopes serialise");
        return Err(forbidden(format!(
            "token {:?} lacks the {} scope this route needs",
            token.name,
            needed.as_str().unwrap_or("")
        )));
    }
    Ok(token)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn router(store: Store, config: Arc<Config>, cache: Arc<ResponseCache>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/costs", get(costs))
        .route("/api/v1/services/{name}/costs", get(service_costs))
        .route("/api/v1/showback/{month}", get(showback))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/anomalies/{id}", get(anomaly))
        .route("/api/v1/anomalies/{id}/feedback", post(feedback))
        .route("/api/v1/budgets", get(budgets))
        .route("/api/v1/outbox", get(outbox))
        .with_state(Api { store, config, cache })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostsParams {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

async fn costs(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Result<Query<CostsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    if let Some(restrict) = &token.restrict {
        return Err(forbidden(format!(
            "token {:?} reads {}={} only, and costs by billing fields are not sliced by allocation; read /api/v1/showback/{{month}}",
            token.name, restrict.dimension, restrict.value
        )));
    }
    let Query(params) = params.map_err(|e| bad_request(format!("{e}; parameters are from, to and group_by")))?;
    let group_by = params
        .group_by
        .as_deref()
        .unwrap_or("month,provider")
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.parse::<CostDimension>().map_err(bad_request))
        .collect::<Result<Vec<_>, _>>()?;
    let (from, to) = range_bounds(&params.from, &params.to)?;
    let key = format!("costs {from:?} {to:?} {group_by:?}");
    api.cached(key, JSON, costs_answer(&api, from, to, group_by)).await
}

async fn costs_answer(
    api: &Api,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    group_by: Vec<CostDimension>,
) -> Result<String, ApiError> {
    let Some((first, last)) = api.store.charge_date_range().await.map_err(internal)? else {
        return Ok(json_text(&json!({ "from": from, "to": to, "group_by": names(&group_by), "rows": [] })));
    };
    let (from, to) = (from.unwrap_or(first), to.unwrap_or(last));
    check_range(from, to)?;
    let rows = api.store.costs(&CostQuery { from, to, group_by: group_by.clone() }).await.map_err(internal)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let keys: serde_json::Map<String, Value> =
                group_by.iter().zip(&row.keys).map(|(d, k)| (d.to_string(), Value::from(k.as_str()))).collect();
            json!({
                "keys": keys,
                "currency": row.currency,
                "billed_cost": row.totals.billed_cost,
                "effective_cost": row.totals.effective_cost,
                "list_cost": row.totals.list_cost,
            })
        })
        .collect();
    Ok(json_text(&json!({ "from": from, "to": to, "group_by": names(&group_by), "rows": rows })))
}

/// `from` and `to` parameters: dates, or months meaning their first and last day.
fn range_bounds(
    from: &Option<String>,
    to: &Option<String>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
    let bound =
        |text: &Option<String>, end| text.as_deref().map(|t| BillingPeriod::parse_day_bound(t, end)).transpose();
    let from = bound(from, false).map_err(|e| bad_request(format!("from: {e}")))?;
    let to = bound(to, true).map_err(|e| bad_request(format!("to: {e}")))?;
    Ok((from, to))
}

fn names(group_by: &[CostDimension]) -> Vec<String> {
    group_by.iter().map(ToString::to_string).collect()
}

fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if from > to {
        return Err(bad_request(format!("from {from} is after to {to}")));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(bad_request(format!(
            "{from} to {to} is longer than {MAX_RANGE_DAYS} days; ask for a shorter range or group by month"
        )));
    }
    Ok(())
}

/// The allocation dimension `/api/v1/services/{name}` reads.
const SERVICE_DIMENSION: &str = "service";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

/// One service's allocated costs by day and month, its unit costs and budgets: what a
/// product team checks on any day.
async fn service_costs(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(name): Path<String>,
    params: Result<Query<RangeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    let Query(params) = params.map_err(|e| bad_request(format!("{e}; parameters are from and to")))?;
    if !api.dimensions().contains(&SERVICE_DIMENSION) {
        return Err(not_found(format!("the config has no {SERVICE_DIMENSION:?} allocation dimension")));
    }
    if !token.sees(&api.config.allocation.value_cases(), SERVICE_DIMENSION, &name) {
        return Err(forbidden(format!("token {:?} may not read service {name:?}", token.name)));
    }
    let (from, to) = range_bounds(&params.from, &params.to)?;
    let key = format!("service {name:?} {from:?} {to:?}");
    api.cached(key, JSON, service_costs_answer(&api, name, from, to)).await
}

async fn service_costs_answer(
    api: &Api,
    name: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<String, ApiError> {
    let last = match to {
        Some(to) => to,
        None => match api.store.charge_date_range().await.map_err(internal)? {
            Some((_, last)) => last,
            None => {
                return Ok(json_text(
                    &json!({ "service": name, "daily": [], "monthly": [], "unit_costs": [], "budgets": [] }),
                ));
            }
        },
    };
    // By default the month of the last day and the two before it.
    let from = from.unwrap_or_else(|| BillingPeriod::containing(last).previous().previous().first_day());
    check_range(from, last)?;
    let days = api.store.daily_allocated_costs_of(SERVICE_DIMENSION, &name, from, last).await.map_err(internal)?;
    let mut daily: std::collections::BTreeMap<(NaiveDate, String), Money> = Default::default();
    let mut monthly: std::collections::BTreeMap<(BillingPeriod, String), Money> = Default::default();
    for day in &days {
        *daily.entry((day.date, day.currency.clone())).or_default() += day.effective_cost;
        *monthly.entry((BillingPeriod::containing(day.date), day.currency.clone())).or_default() += day.effective_cost;
    }
    let mut unit_costs = Vec::new();
    let mut month = BillingPeriod::containing(from);
    while month.first_day() <= last {
        let all = crate::analyse::unit_costs::unit_costs(&api.store, month, false).await.map_err(internal)?;
        unit_costs.extend(all.into_iter().filter(|u| u.dimension == SERVICE_DIMENSION && u.value == name));
        month = BillingPeriod::containing(month.end());
    }
    let budgets: Vec<_> =
        api.config.budgets.iter().filter(|b| b.dimension == SERVICE_DIMENSION && b.value == name).cloned().collect();
    let statuses = crate::analyse::budgets::budget_statuses(&api.store, &budgets, last).await.map_err(internal)?;
    let budgets: Vec<Value> = statuses
        .iter()
        .map(|b| {
            json!({
                "budget": b.budget, "currency": b.currency, "period_start": b.period_start, "period_end": b.period_end,
                "amount": b.amount, "actual": b.actual, "forecast": b.forecast.total, "variance": b.variance(),
            })
        })
        .collect();
    Ok(json_text(&json!({
        "service": name,
        "from": from,
        "to": last,
        "daily": daily.iter().map(|((day, currency), cost)| json!({ "day": day, "currency": currency, "effective_cost": cost })).collect::<Vec<_>>(),
        "monthly": monthly.iter().map(|((month, currency), cost)| json!({ "month": month, "currency": currency, "effective_cost": cost })).collect::<Vec<_>>(),
        "unit_costs": unit_costs,
        "budgets": budgets,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowbackParams {
    by: Option<String>,
    value: Option<String>,
    format: Option<String>,
}

async fn showback(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(month): Path<String>,
    params: Result<Query<ShowbackParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    let Query(params) = params.map_err(|e| bad_request(format!("{e}; parameters are by, value and format")))?;
    let month: BillingPeriod = month.parse().map_err(bad_request)?;
    let dimensions = api.dimensions();
    let by = match (&params.by, &token.restrict) {
        (Some(by), _) => by.clone(),
        (None, Some(restrict)) => restrict.dimension.clone(),
        (None, None) => dimensions.first().map(|d| d.to_string()).unwrap_or_default(),
    };
    if !dimensions.contains(&by.as_str()) {
        return Err(bad_request(format!(
            "by {by:?} is not an allocation dimension; use one of: {}",
            dimensions.join(", ")
        )));
    }
    let value = match &token.restrict {
        None => params.value.clone(),
        Some(restrict)
            if restrict.dimension == by
                && params
                    .value
                    .as_ref()
                    .is_none_or(|v| api.config.allocation.value_cases().same(&by, v, &restrict.value)) =>
        {
            Some(restrict.value.clone())
        }
        Some(restrict) => {
            return Err(forbidden(format!(
                "token {:?} reads {}={} only",
                token.name, restrict.dimension, restrict.value
            )));
        }
    };
    let (format, content_type) = match params.format.as_deref().unwrap_or("json") {
        "json" => (ReportFormat::Json, "application/json"),
        "csv" => (ReportFormat::Csv, "text/csv; charset=utf-8"),
        "html" => (ReportFormat::Html, "text/html; charset=utf-8"),
        "md" => (ReportFormat::Md, "text/markdown; charset=utf-8"),
        other => return Err(bad_request(format!("format {other:?} is not one of json, csv, html, md"))),
    };
    let key = format!("showback {month} {by:?} {value:?} {format:?}");
    let request = ShowbackRequest { month, dimension: by, value, budgets: &api.config.budgets };
    let report = async {
        let report = showback_report(&api.store, &request).await.map_err(|error| match error {
            ReportError::UnknownValue { .. } => not_found(error.to_string()),
            ReportError::NotAllocated | ReportError::DimensionNotAllocated { .. } => {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            other => internal(other),
        })?;
        Ok(report.render(format))
    };
    api.cached(key, content_type, report).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomaliesParams {
    status: Option<String>,
}

const STATUSES: [&str; 4] = ["open", "ongoing", "resolved", "new_normal"];

/// The anomalies the token may see, newest first.
async fn visible_anomalies(api: &Api, token: &ApiToken, status: Option<&str>) -> Result<Vec<StoredAnomaly>, ApiError> {
    let mut anomalies = api.store.anomalies(status).await.map_err(internal)?;
    let cases = api.config.allocation.value_cases();
    anomalies.retain(|a| a.series_key().is_some_and(|(dimension, value)| token.sees(&cases, &dimension, &value)));
    Ok(anomalies)
}

fn anomaly_json(anomaly: &StoredAnomaly) -> Result<Value, ApiError> {
    anomaly.to_json().map_err(internal)
}

async fn anomalies(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Result<Query<AnomaliesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    let Query(params) = params.map_err(|e| bad_request(format!("{e}; the parameter is status")))?;
    if let Some(status) = &params.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(bad_request(format!("status {status:?} is not one of {}", STATUSES.join(", "))));
    }
    let anomalies = visible_anomalies(&api, token, params.status.as_deref()).await?;
    let rows = anomalies.iter().map(anomaly_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "anomalies": rows })))
}

/// An anomaly outside a token's restriction is answered like one that does not exist.
async fn find_anomaly(api: &Api, token: &ApiToken, id: &str) -> Result<StoredAnomaly, ApiError> {
    visible_anomalies(api, token, None)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found(format!("no anomaly {id:?}; GET /api/v1/anomalies lists them")))
}

async fn anomaly(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    Ok(Json(anomaly_json(&find_anomaly(&api, token, &id).await?)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    feedback: String,
    note: Option<String>,
}

const FEEDBACK: [&str; 3] = ["unexpected", "expected", "planned"];

async fn feedback(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<FeedbackBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = api.caller(&headers, Scope::Feedback)?;
    let Json(body) = body.map_err(|e| {
        bad_request(format!("{e}; send {{\"feedback\": \"unexpected|expected|planned\", \"note\": \"why\"}}"))
    })?;
    if !FEEDBACK.contains(&body.feedback.as_str()) {
        return Err(bad_request(format!("feedback {:?} is not one of {}", body.feedback, FEEDBACK.join(", "))));
    }
    find_anomaly(&api, token, &id).await?;
    api.store.set_anomaly_feedback(&id, &body.feedback, body.note.as_deref()).await.map_err(internal)?;
    tracing::info!(anomaly = %id, feedback = %body.feedback, token = %token.name, "anomaly feedback recorded");
    Ok(Json(anomaly_json(&find_anomaly(&api, token, &id).await?)?))
}

async fn budgets(State(api): State<Api>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let token = api.caller(&headers, Scope::Read)?;
    let cases = api.config.allocation.value_cases();
    let budgets: Vec<Value> = api
        .config
        .budgets
        .iter()
        .filter(|b| token.sees(&cases, &b.dimension, &b.value))
        .map(|b| serde_json::to_value(b).map_err(internal))
        .collect::<Result<_, _>>()?;
    Ok(Json(json!({ "budgets": budgets })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxParams {
    status: Option<String>,
    limit: Option<i64>,
}

/// The outbox, newest first: what was sent where, what waits, what was given up on.
async fn outbox(
    State(api): State<Api>,
    headers: HeaderMap,
    params: Result<Query<OutboxParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = api.caller(&headers, Scope::Admin)?;
    if token.restrict.is_some() {
        return Err(forbidden(format!("token {:?} is restricted; the outbox is not", token.name)));
    }
    let Query(params) = params.map_err(|e| bad_request(format!("{e}; parameters are status and limit")))?;
    if let Some(status) = &params.status
        && !["pending", "delivered", "dead"].contains(&status.as_str())
    {
        return Err(bad_request(format!("status {status:?} is not one of pending, delivered, dead")));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad_request(format!("limit {limit} is not between 1 and 1000")));
    }
    let messages = api.store.outbox_messages(params.status.as_deref(), limit).await.map_err(internal)?;
    let messages = messages.iter().map(|m| m.to_json().map_err(internal)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "messages": messages })))
}

/// The routes as OpenAPI 3.1; a test calls every path it lists.
async fn openapi() -> Json<Value> {
    let bearer = json!([{ "bearer": [] }]);
    let query = |name: &str, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" }, "description": description });
    let path_param = |name: &str, description: &str| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": description });
    let answers = |ok: &str| {
        json!({
            "200": { "description": ok },
            "400": { "description": "Bad input; `error` says what is expected." },
            "401": { "description": "No token, or one not configured." },
            "403": { "description": "The token lacks the scope, or its restriction forbids the request." },
        })
    };
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "finopsd", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "security": bearer,
        "paths": {
            "/api/v1/costs": { "get": {
                "summary": "Costs totalled by dimensions over a range of charge days (scope read; not for restricted tokens).",
                "parameters": [
                    query("from", "First day: YYYY-MM-DD, or YYYY-MM for its first day. Default: the first day stored."),
                    query("to", "Last day: YYYY-MM-DD, or YYYY-MM for its last day. Default: the last day stored."),
                    query("group_by", &format!("Comma-separated: {}. Default month,provider.", CostDimension::NAMES)),
                ],
                "responses": answers("Rows of keys, currency and billed, effective and list cost as exact decimal numbers."),
            }},
            "/api/v1/services/{name}/costs": { "get": {
                "summary": "One service's allocated effective cost by day and month, its unit costs and budgets (scope read; a token restricted to another service is refused).",
                "parameters": [
                    path_param("name", "A value of the service allocation dimension."),
                    query("from", "First day: YYYY-MM-DD or YYYY-MM. Default: two months before the last day's month."),
                    query("to", "Last day: YYYY-MM-DD or YYYY-MM. Default: the last day stored."),
                ],
                "responses": answers("{\"daily\": [...], \"monthly\": [...], \"unit_costs\": [...], \"budgets\": [...]}"),
            }},
            "/api/v1/showback/{month}": { "get": {
                "summary": "The showback report of a billing month (scope read).",
                "parameters": [
                    path_param("month", "YYYY-MM"),
                    query("by", "An allocation dimension. Default: the first, or the token's restricted one."),
                    query("value", "One value's slice; a restricted token always gets its own."),
                    query("format", "json (default), csv, html or md."),
                ],
                "responses": answers("The report."),
            }},
            "/api/v1/anomalies": { "get": {
                "summary": "Anomalies, newest first (scope read; a restricted token sees its value's).",
                "parameters": [query("status", "open, ongoing, resolved or new_normal.")],
                "responses": answers("{\"anomalies\": [...]}"),
            }},
            "/api/v1/anomalies/{id}": { "get": {
                "summary": "One anomaly with its root causes (scope read).",
                "parameters": [path_param("id", "As the list shows it.")],
                "responses": answers("The anomaly."),
            }},
            "/api/v1/anomalies/{id}/feedback": { "post": {
                "summary": "Whether the anomaly was real (scope feedback); expected and planned days are learned as normal.",
                "parameters": [path_param("id", "As the list shows it.")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["feedback"],
                    "properties": {
                        "feedback": { "type": "string", "enum": FEEDBACK },
                        "note": { "type": "string" },
                    },
                }}}},
                "responses": answers("The anomaly with its feedback."),
            }},
            "/api/v1/outbox": { "get": {
                "summary": "Outbox messages, newest first: delivered, pending (with their last error) and dead (scope admin, unrestricted).",
                "parameters": [query("status", "pending, delivered or dead."), query("limit", "1 to 1000; default 100.")],
                "responses": answers("{\"messages\": [...]}"),
            }},
            "/api/v1/budgets": { "get": {
                "summary": "The configured budgets (scope read; a restricted token sees its value's).",
                "responses": answers("{\"budgets\": [...]}"),
            }},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(sha256: &str, scopes: Vec<Scope>, restrict: Option<(&str, &str)>) -> ApiToken {
        ApiToken {
            name: "ci".into(),
            sha256: sha256.into(),
            scopes,
            restrict: restrict.map(|(d, v)| Restriction { dimension: d.into(), value: v.into() }),
        }
    }

    #[test]
    fn tokens_are_checked_at_config_load() {
        let hash = "a".repeat(64);
        assert!(validate(&[token(&hash, vec![Scope::Read], Some(("team", "payments")))], &["team"]).is_ok());
        let short = validate(&[token("abc", vec![Scope::Read], None)], &["team"]).unwrap_err();
        assert!(short.contains("sha256 must be 64 hex digits"), "{short}");
        let none = validate(&[token(&hash, vec![], None)], &["team"]).unwrap_err();
        assert!(none.contains("scopes is empty"), "{none}");
        let unknown = validate(&[token(&hash, vec![Scope::Read], Some(("squad", "x")))], &["team"]).unwrap_err();
        assert!(unknown.contains("\"squad\" is not an allocation dimension; the config has: team"), "{unknown}");
        let twice = validate(&[token(&hash, vec![Scope::Read], None), token(&hash, vec![Scope::Admin], None)], &[]);
        assert!(twice.unwrap_err().contains("configured twice"));
    }

    #[test]
    fn each_scope_includes_the_ones_before_it() {
        let feedback = token("", vec![Scope::Feedback], None);
        assert!(feedback.allows(Scope::Read) && feedback.allows(Scope::Feedback) && !feedback.allows(Scope::Admin));
        assert!(token("", vec![Scope::Admin], None).allows(Scope::Feedback));
        assert!(!token("", vec![Scope::Read], None).allows(Scope::Feedback));
    }
}
