//! Each channel's shape of a message, and sending it. Payloads follow each service's
//! documented schema: Slack Block Kit, a Teams workflow webhook's Adaptive Card, PagerDuty
//! Events API v2, and finopsd's own signed webhook JSON; email is in `email.rs`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::config::{ChannelConfig, Target};
use super::message::{Message, MessageEvent, MessageKind};

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth trying again: the receiver is down, overloaded or asked us to wait.
    Retry { after: Option<Duration>, error: String },
    /// It will never accept this (a 4xx other than 408 and 429, a bad secret reference).
    Refused(String),
}

/// The header carrying the webhook signature: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Finopsd-Signature";
/// The Unix time the signature covers; receivers reject old ones to stop replays.
pub const TIMESTAMP_HEADER: &str = "X-Finopsd-Timestamp";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Sends `message` to `channel`; `key` is the message's stable idempotency key.
pub async fn send(
    http: &reqwest::Client,
    timeout: Duration,
    channel: &ChannelConfig,
    message: &Message,
    key: &str,
) -> Result<(), SendError> {
    let refused = |err: super::NotifyError| SendError::Refused(err.to_string());
    match channel.target().map_err(SendError::Refused)? {
        Target::Slack(target) => {
            post(http, channel, &target.url.resolve().map_err(refused)?, &slack(message), &[]).await
        }
        Target::Teams(target) => {
            post(http, channel, &target.url.resolve().map_err(refused)?, &teams(message), &[]).await
        }
        Target::PagerDuty(target) => {
            let routing_key = target.routing_key.resolve().map_err(refused)?;
            post(http, channel, &target.url, &pagerduty(message, &routing_key), &[]).await
        }
        Target::Webhook(target) => {
            let url = target.url.resolve().map_err(refused)?;
            let body = webhook(message, key);
            let mut headers = vec![(IDEMPOTENCY_HEADER, key.to_string())];
            if let Some(secret) = &target.signing_secret {
                let secret = secret.resolve().map_err(refused)?;
                let timestamp = Utc::now().timestamp().to_string();
                headers.push((SIGNATURE_HEADER, sign(&secret, &timestamp, &body.to_string())));
                headers.push((TIMESTAMP_HEADER, timestamp));
            }
            post(http, channel, &url, &body, &headers).await
        }
        Target::Email(target) => super::email::send(target, &channel.name, message, key, timeout).await,
        Target::Directory(target) => write_files(&target.path, message, key).map_err(|err| SendError::Retry {
            after: None,
            error: format!("cannot write into {}: {err}", target.path.display()),
        }),
    }
}

async fn post(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    url: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> Result<(), SendError> {
    // The body is signed as these exact bytes.
    let mut request = http.post(url).header("Content-Type", "application/json").body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    // Never the URL in an error: for Slack and Teams the URL is the secret.
    let response = request.send().await.map_err(|err| {
        let err = err.without_url();
        let mut error = format!("cannot reach channel `{}`: {err}", channel.name);
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            error.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        SendError::Retry { after: None, error }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(retry_after);
    let text: String = response.text().await.unwrap_or_default().chars().take(200).collect();
    let error = format!("channel `{}` answered HTTP {}: {}", channel.name, status.as_u16(), text.trim());
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Err(SendError::Retry { after: retry_after, error })
    } else {
        Err(SendError::Refused(error))
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some((at.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// At most `limit` characters, cut with an ellipsis: services refuse longer fields.
fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit { text.to_string() } else { text.chars().take(limit - 1).chain(['…']).collect() }
}

/// Slack incoming webhook, Block Kit: a header, the summary, the facts as fields (at most 10),
/// the causes, and the feedback line as context. `text` is the notification fallback.
pub fn slack(message: &Message) -> Value {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&message.title, 150), "emoji": true } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&message.summary, 3000) } }),
    ];
    if !message.facts.is_empty() {
        let fields: Vec<Value> = message
            .facts
            .iter()
            .take(10)
            .map(|f| json!({ "type": "mrkdwn", "text": clip(&format!("*{}*\n{}", f.label, f.value), 2000) }))
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if !message.causes.is_empty() {
        let causes: String = message.causes.iter().map(|c| format!("\n• {c}")).collect();
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&format!("*Top causes*{causes}"), 3000) } }));
    }
    if let Some(feedback) = &message.feedback {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": clip(feedback, 3000) }] }));
    }
    json!({ "text": clip(&message.title, 3000), "blocks": blocks })
}

/// Microsoft Teams workflow webhook ("Post to a channel when a webhook request is
/// received"): a message whose attachment is an Adaptive Card 1.4.
pub fn teams(message: &Message) -> Value {
    let mut body = vec![
        json!({ "type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": true }),
        json!({ "type": "TextBlock", "text": message.summary, "wrap": true }),
    ];
    if !message.facts.is_empty() {
        let facts: Vec<Value> = message.facts.iter().map(|f| json!({ "title": f.label, "value": f.value })).collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    if !message.causes.is_empty() {
        let causes: String = message.causes.iter().map(|c| format!("\n- {c}")).collect();
        body.push(json!({ "type": "TextBlock", "text": format!("**Top causes**{causes}"), "wrap": true }));
    }
    if let Some(feedback) = &message.feedback {
        body.push(json!({ "type": "TextBlock", "text": feedback, "wrap": true, "isSubtle": true, "size": "Small" }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// PagerDuty Events API v2: trigger (or resolve) an alert deduplicated on the subject, so
/// a re-sent trigger or an escalation updates the same incident.
pub fn pagerduty(message: &Message, routing_key: &str) -> Value {
    let dedup_key = format!("finopsd:{}:{}", message.kind.as_str(), message.subject);
    if message.event == MessageEvent::Resolve {
        return json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key });
    }
    let severity = match (message.kind, message.severity.as_deref()) {
        (MessageKind::Anomaly, Some("high")) => "critical",
        (MessageKind::Anomaly, Some("medium")) => "error",
        (MessageKind::Budget, _) | (MessageKind::Anomaly, _) => "warning",
        (MessageKind::Showback, _) => "info",
    };
    let details: serde_json::Map<String, Value> =
        message.facts.iter().map(|f| (f.label.clone(), Value::String(f.value.clone()))).collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": clip(&message.title, 1024),
            "source": "finopsd",
            "severity": severity,
            "component": message.value,
            "group": message.dimension,
            "class": message.kind.as_str(),
            "custom_details": {
                "summary": message.summary,
                "facts": details,
                "top_causes": message.causes,
                "feedback": message.feedback,
            },
        },
    })
}

/// finopsd's webhook: the message as JSON with its idempotency key (the report's renderings
/// stay out; they are for email and the directory sink).
pub fn webhook(message: &Message, key: &str) -> Value {
    let mut body = serde_json::to_value(message).expect("a message serialises");
    body["idempotency_key"] = Value::String(key.to_string());
    body["schema"] = Value::String("finopsd.message.v1".into());
    if let Some(object) = body.as_object_mut() {
        object.remove("report");
    }
    body
}

/// The directory sink: `<key>.json` (and a report's `.html` and `.csv`), written whole and
/// renamed into place, so a reader never sees half a file and a resend overwrites itself.
fn write_files(folder: &Path, message: &Message, key: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let stem: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    let write = |name: String, text: &str| {
        let temporary = folder.join(format!(".{name}.partial"));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, folder.join(name))
    };
    if let Some(report) = &message.report {
        write(format!("{}.html", report.name), &report.html)?;
        write(format!("{}.csv", report.name), &report.csv)?;
    }
    let json = serde_json::to_string_pretty(&webhook(message, key)).expect("a message serialises");
    write(format!("{stem}.json"), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign("key", "1700000000", "{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn long_text_is_clipped_for_the_service() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
