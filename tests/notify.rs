//! Delivery through the outbox to real HTTP receivers on loopback: each channel's payload
//! against its service's documented shape, a receiver that fails and recovers, dead letters,
//! digests, and a process killed between sending and recording the delivery.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;

use finopsd::focus::Money;
use finopsd::notify::config::{
    ChannelConfig, Digest, NotifyConfig, PagerDutyTarget, RetryConfig, Secret, UrlTarget, WebhookTarget,
};
use finopsd::notify::message::{MessageEvent, anomaly_message};
use finopsd::notify::{deliver_outbox, queue_alerts, queue_message};
use finopsd::store::{BudgetAlert, StoredAnomaly};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Answers to give, in order (status, Retry-After); 200 once they run out.
    answers: VecDeque<(u16, Option<&'static str>)>,
    /// Hold the first request this long before answering.
    first_delay: Option<Duration>,
}

/// An HTTP server on loopback that records every POST and answers as told.
#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (answer, delay) = {
        let mut state = state.lock().unwrap();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        state.received.push(Received { path: uri.path().to_string(), headers, body });
        let delay = if state.received.len() == 1 { state.first_delay } else { None };
        (state.answers.pop_front().unwrap_or((200, None)), delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (StatusCode::from_u16(answer.0).unwrap(), "ok").into_response();
    if let Some(after) = answer.1 {
        response.headers_mut().insert("Retry-After", after.parse().unwrap());
    }
    response
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new().fallback(axum::routing::post(record)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn answer(&self, answers: &[(u16, Option<&'static str>)]) {
        self.state.lock().unwrap().answers.extend(answers.iter().copied());
    }
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn units(text: &str) -> Money {
    Money::parse_decimal(text).unwrap()
}

fn anomaly(id: &str, team: &str, severity: &str, status: &str) -> StoredAnomaly {
    StoredAnomaly {
        id: id.into(),
        monitor: "teams".into(),
        series: format!(r#"{{"team":"{team}"}}"#),
        currency: "USD".into(),
        start: day("2025-05-20"),
        end: day("2025-05-21"),
        status: status.into(),
        expected: units("856.85"),
        actual: units("2943.15"),
        impact: units("2086.30"),
        impact_pct: 243.5,
        severity: Some(severity.into()),
        root_causes: r#"[{"sub_account":"ML Development (nw-ml-dev)","service":"Vertex AI","region":"europe-west1",
            "charge_category":"Usage","tags":"","expected":10.0,"actual":919.83,"impact":909.83,"share_pct":43.6}]"#
            .into(),
        feedback: None,
        feedback_note: None,
        current: true,
    }
}

fn env_secret(name: &str, value: &str) -> Secret {
    // SAFETY: set before any delivery reads it; each test uses its own variable names.
    unsafe { std::env::set_var(name, value) };
    Secret::Env(name.into())
}

fn channel(name: &str) -> ChannelConfig {
    ChannelConfig { directory: None, ..ChannelConfig::directory(name, "unused".into()) }
}

fn fast_retries() -> RetryConfig {
    RetryConfig { max_attempts: 3, first_delay_secs: 1, max_delay_secs: 1, lease_secs: 60, timeout_secs: 5 }
}

/// Delivers what is due now, repeatedly, for `seconds`, as the daemon's delivery job would.
async fn deliver_for(store: &finopsd::store::Store, config: &NotifyConfig, seconds: u64) {
    let end = std::time::Instant::now() + Duration::from_secs(seconds);
    while std::time::Instant::now() < end {
        deliver_outbox(store, config, Utc::now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn every_channel_gets_the_same_facts_in_its_documented_shape() {
    for ts in common::stores().await {
        let receiver = Receiver::start().await;
        let url = |path: &str| format!("{}/{path}", receiver.url);
        let config = NotifyConfig {
            channels: vec![
                ChannelConfig {
                    slack: Some(UrlTarget { url: env_secret("T1_SLACK", &url("slack")) }),
                    ..channel("slack")
                },
                ChannelConfig {
                    teams: Some(UrlTarget { url: env_secret("T1_TEAMS", &url("teams")) }),
                    ..channel("teams")
                },
                ChannelConfig {
                    pagerduty: Some(PagerDutyTarget {
                        routing_key: env_secret("T1_PD", "R0123456789abcdef0123456789abcd"),
                        url: url("pagerduty"),
                    }),
                    ..channel("pagerduty")
                },
                ChannelConfig {
                    webhook: Some(WebhookTarget {
                        url: env_secret("T1_HOOK", &url("hook")),
                        signing_secret: Some(env_secret("T1_HOOK_SECRET", "s3cret")),
                    }),
                    ..channel("hook")
                },
            ],
            retry: fast_retries(),
            showback: None,
        };
        ts.store.replace_anomalies("teams", &[anomaly("a1", "ml", "medium", "ongoing")]).await.unwrap();
        let queued = queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
        assert_eq!(queued, 4, "{}: one message per channel", ts.engine);
        let summary = deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap();
        assert_eq!(summary.delivered, 4, "{}", ts.engine);
        let received = receiver.received();
        let body = |path: &str| received.iter().find(|r| r.path == format!("/{path}")).unwrap().clone();

        // Slack Block Kit: fallback text, a plain_text header ≤ 150, mrkdwn sections ≤ 3000,
        // at most 10 fields of ≤ 2000, a context block.
        let slack = body("slack").body;
        assert!(slack["text"].as_str().unwrap().contains("team ml spend up 2,086.30 USD (+244%) since 2025-05-20"));
        let blocks = slack["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        for block in blocks {
            match block["type"].as_str().unwrap() {
                "header" => {}
                "section" => {
                    if let Some(text) = block.get("text") {
                        assert_eq!(text["type"], "mrkdwn");
                        assert!(text["text"].as_str().unwrap().len() <= 3000);
                    }
                    if let Some(fields) = block.get("fields") {
                        let fields = fields.as_array().unwrap();
                        assert!(fields.len() <= 10);
                        assert!(
                            fields.iter().all(|f| f["type"] == "mrkdwn" && f["text"].as_str().unwrap().len() <= 2000)
                        );
                    }
                }
                "context" => assert!(block["elements"].as_array().unwrap().len() <= 10),
                other => panic!("unexpected Slack block {other}"),
            }
        }
        let slack_text = slack.to_string();
        for fact in [
            "*Impact*\\n+2,086.30 USD (+243.5%)",
            "*Expected*\\n856.85 USD",
            "Vertex AI / europe-west1",
            "anomalies feedback a1",
        ] {
            assert!(slack_text.contains(fact), "{fact} missing from Slack: {slack_text}");
        }

        // Teams workflow webhook: a message with one Adaptive Card 1.4 attachment.
        let teams = body("teams").body;
        assert_eq!(teams["type"], "message");
        let attachment = &teams["attachments"][0];
        assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &attachment["content"];
        assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
        for element in card["body"].as_array().unwrap() {
            match element["type"].as_str().unwrap() {
                "TextBlock" => assert!(element["text"].is_string()),
                "FactSet" => assert!(
                    element["facts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|f| f["title"].is_string() && f["value"].is_string())
                ),
                other => panic!("unexpected card element {other}"),
            }
        }
        let teams_text = teams.to_string();
        assert!(teams_text.contains(r#"{"title":"Impact","value":"+2,086.30 USD (+243.5%)"}"#), "{teams_text}");

        // PagerDuty Events API v2: trigger with a dedup key on the anomaly, a known severity.
        let pd = body("pagerduty").body;
        assert_eq!(pd["routing_key"], "R0123456789abcdef0123456789abcd");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["dedup_key"], "finopsd:anomaly:a1");
        assert!(pd["payload"]["summary"].as_str().unwrap().len() <= 1024);
        assert_eq!(pd["payload"]["source"], "finopsd");
        assert_eq!(pd["payload"]["severity"], "error");
        assert_eq!(pd["payload"]["custom_details"]["facts"]["Impact"], "+2,086.30 USD (+243.5%)");

        // The webhook: signed over "<timestamp>.<body>", with the idempotency key.
        let hook = body("hook");
        assert_eq!(hook.headers["Idempotency-Key"], "anomaly:a1:medium");
        assert_eq!(hook.body["idempotency_key"], "anomaly:a1:medium");
        assert_eq!(hook.body["facts"][1]["value"], "+2,086.30 USD (+243.5%)");
        let timestamp = hook.headers["X-Finopsd-Timestamp"].to_str().unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(format!("{timestamp}.{}", hook.body).as_bytes());
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hook.headers["X-Finopsd-Signature"].to_str().unwrap(), format!("sha256={expected}"));

        // Nothing is sent twice; a higher severity is an escalation; a resolution reaches
        // PagerDuty alone.
        queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
        assert_eq!(deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap().delivered, 0, "{}", ts.engine);
        ts.store.replace_anomalies("teams", &[anomaly("a1", "ml", "high", "resolved")]).await.unwrap();
        assert_eq!(queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap(), 5, "4 escalations, 1 resolve");
        deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap();
        let received = receiver.received();
        let slack_titles: Vec<String> = received
            .iter()
            .filter(|r| r.path == "/slack")
            .map(|r| r.body["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(slack_titles.len(), 2);
        assert!(slack_titles[1].starts_with("Now high: team ml spend up"), "{slack_titles:?}");
        let pd_actions: Vec<&str> = received
            .iter()
            .filter(|r| r.path == "/pagerduty")
            .map(|r| r.body["event_action"].as_str().unwrap())
            .collect();
        assert_eq!(pd_actions, ["trigger", "trigger", "resolve"]);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_every_message_once_and_a_dead_one_can_be_retried() {
    for ts in common::stores().await {
        let receiver = Receiver::start().await;
        let config = NotifyConfig {
            channels: vec![ChannelConfig {
                webhook: Some(WebhookTarget {
                    url: env_secret("T2_HOOK", &format!("{}/hook", receiver.url)),
                    signing_secret: None,
                }),
                ..channel("hook")
            }],
            retry: fast_retries(),
            showback: None,
        };
        // Down (503), then rate-limited for 2 s, then up.
        receiver.answer(&[(503, None), (429, Some("2"))]);
        let anomalies = [anomaly("b1", "ml", "low", "ongoing"), anomaly("b2", "search", "low", "ongoing")];
        ts.store.replace_anomalies("teams", &anomalies).await.unwrap();
        queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
        let first = deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap();
        assert_eq!((first.delivered, first.retrying), (0, 2), "{}", ts.engine);
        deliver_for(&ts.store, &config, 4).await;
        let keys: Vec<String> =
            receiver.received().iter().map(|r| r.headers["Idempotency-Key"].to_str().unwrap().to_string()).collect();
        assert_eq!(keys.len(), 4, "{}: two failures, then each once: {keys:?}", ts.engine);
        let mut delivered: Vec<&String> = keys[2..].iter().collect();
        delivered.sort();
        assert_eq!(delivered, ["anomaly:b1:low", "anomaly:b2:low"]);
        let messages = ts.store.outbox_messages(None, 10).await.unwrap();
        assert!(messages.iter().all(|m| m.status == "delivered"), "{messages:?}");
        let retried = messages.iter().find(|m| m.idempotency_key == "anomaly:b1:low").unwrap();
        assert!(retried.last_error.as_deref().unwrap().contains("HTTP"), "{retried:?}");
        assert!(!retried.last_error.as_deref().unwrap().contains(&receiver.url), "errors never carry the URL");

        // A receiver that keeps failing: after three attempts the message is dead, visible,
        // and `retry` brings it back.
        ts.store.replace_anomalies("teams", &[anomaly("b3", "data", "low", "ongoing")]).await.unwrap();
        queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
        receiver.answer(&[(500, None), (500, None), (500, None)]);
        deliver_for(&ts.store, &config, 4).await;
        let dead = ts.store.outbox_messages(Some("dead"), 10).await.unwrap();
        assert_eq!(dead.len(), 1, "{}", ts.engine);
        assert_eq!((dead[0].attempts, dead[0].idempotency_key.as_str()), (3, "anomaly:b3:low"));
        assert!(dead[0].last_error.as_deref().unwrap().starts_with("3 attempts failed"), "{:?}", dead[0].last_error);
        assert!(ts.store.retry_message(dead[0].id).await.unwrap());
        assert_eq!(deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap().delivered, 1);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_refusal_dead_letters_at_once_and_a_daily_digest_sends_one_message() {
    let ts = common::sqlite_store().await;
    let receiver = Receiver::start().await;
    let hook = |name: &str, path: &str, digest: Digest| ChannelConfig {
        webhook: Some(WebhookTarget {
            url: env_secret(&format!("T3_{name}"), &format!("{}/{path}", receiver.url)),
            signing_secret: None,
        }),
        digest,
        ..channel(name)
    };
    let config = NotifyConfig {
        channels: vec![hook("gone", "gone", Digest::Immediate), hook("daily", "daily", Digest::Daily)],
        retry: fast_retries(),
        showback: None,
    };
    receiver.answer(&[(404, None)]);
    let anomalies = [anomaly("c1", "ml", "low", "ongoing"), anomaly("c2", "search", "medium", "ongoing")];
    ts.store.replace_anomalies("teams", &anomalies).await.unwrap();
    let queued_at = Utc::now();
    queue_alerts(&ts.store, &config, &[], queued_at).await.unwrap();
    deliver_outbox(&ts.store, &config, queued_at).await.unwrap();
    // The first send to `gone` was refused (404): dead at once, no retries.
    let dead = ts.store.outbox_messages(Some("dead"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.as_deref().unwrap().contains("HTTP 404"));
    assert!(receiver.received().iter().all(|r| r.path != "/daily"), "the digest waits for its hour");

    // At the digest hour both anomalies go as one message.
    deliver_outbox(&ts.store, &config, queued_at + chrono::Duration::days(1)).await.unwrap();
    let digests: Vec<Received> = receiver.received().into_iter().filter(|r| r.path == "/daily").collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].body["title"], "finopsd digest: 2 alerts");
    assert_eq!(digests[0].body["facts"].as_array().unwrap().len(), 2);
    ts.cleanup().await;
}

#[tokio::test]
async fn budget_alerts_route_to_the_values_channel_only() {
    let ts = common::sqlite_store().await;
    let root = tempfile::tempdir().unwrap();
    let sink = |name: &str, team: &str| {
        let mut channel = ChannelConfig::directory(name, root.path().join(name));
        channel.values.insert("team".into(), vec![team.into()]);
        channel
    };
    let config = NotifyConfig {
        channels: vec![sink("payments", "payments"), sink("search", "search")],
        ..NotifyConfig::default()
    };
    let budgets: Vec<finopsd::analyse::budgets::BudgetConfig> = toml::from_str::<toml::Table>(
        r#"[[budgets]]
           name = "payments"
           dimension = "team"
           value = "payments"
           amounts = { USD = 1000 }"#,
    )
    .unwrap()["budgets"]
        .clone()
        .try_into()
        .unwrap();
    let alert = BudgetAlert {
        budget: "payments".into(),
        period_start: day("2025-06-01"),
        currency: "USD".into(),
        kind: "forecast".into(),
        threshold_pct: 100.0,
        as_of: day("2025-06-20"),
        amount: units("1000"),
        actual: units("800"),
        forecast: units("1200"),
    };
    ts.store.record_budget_alert(&alert).await.unwrap();
    queue_alerts(&ts.store, &config, &budgets, Utc::now()).await.unwrap();
    deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap();
    let file = root.path().join("payments/budget_payments_2025-06-01_USD_forecast_100.json");
    let message: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(message["title"], "Budget payments (USD): forecast at 120% of 1,000.00 USD (threshold forecast ≥ 100%)");
    assert!(
        message["summary"]
            .as_str()
            .unwrap()
            .contains("spent 800.00 USD of its 1,000.00 USD budget by 2025-06-20 (80%)")
    );
    assert!(!root.path().join("search").exists(), "the search team's channel gets nothing");

    // Queued directly too: the same message is not kept twice for a channel.
    let again = anomaly_message(&anomaly("d1", "payments", "low", "ongoing"), MessageEvent::Trigger);
    assert_eq!(queue_message(&ts.store, &config.channels, &again, "anomaly:d1:low", Utc::now()).await.unwrap(), 1);
    assert_eq!(queue_message(&ts.store, &config.channels, &again, "anomaly:d1:low", Utc::now()).await.unwrap(), 0);
    ts.cleanup().await;
}

/// `finopsd notify` killed after the receiver got the request but before the delivery was
/// recorded: the next run sends the same message with the same idempotency key, so a
/// receiver that honours keys has it once.
// Multi-threaded: the receiver keeps answering while the test waits on the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_send_and_acknowledge_resends_with_the_same_key() {
    let ts = common::sqlite_store().await;
    let receiver = Receiver::start().await;
    receiver.state.lock().unwrap().first_delay = Some(Duration::from_secs(30));
    ts.store.replace_anomalies("teams", &[anomaly("k1", "ml", "low", "ongoing")]).await.unwrap();
    let config = ts.path("finopsd.toml");
    std::fs::write(
        &config,
        "[[notify.channels]]\nname = \"hook\"\nwebhook = { url = { env = \"KILL_HOOK\" } }\n\
         [notify.retry]\nlease_secs = 1\n",
    )
    .unwrap();
    let notify = || {
        let mut command = common::finopsd(&ts.url);
        command.env("KILL_HOOK", format!("{}/hook", receiver.url)).arg("--config").arg(&config).arg("notify");
        command
    };
    let mut child = notify().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    for _ in 0..100 {
        if !receiver.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.received().len(), 1, "the first send reached the receiver");
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = ts.store.outbox_messages(Some("pending"), 10).await.unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 0), "the kill left it pending, unrecorded");

    tokio::time::sleep(Duration::from_millis(1200)).await; // the dead process's lease ends
    let out = notify().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys: Vec<String> =
        receiver.received().iter().map(|r| r.headers["Idempotency-Key"].to_str().unwrap().to_string()).collect();
    assert_eq!(keys, ["anomaly:k1:low", "anomaly:k1:low"], "sent again under the same key");
    let delivered = ts.store.outbox_messages(Some("delivered"), 10).await.unwrap();
    assert_eq!((delivered.len(), delivered[0].attempts), (1, 1));
    ts.cleanup().await;
}

/// A real SMTP server (PyPI `aiosmtpd`) on loopback that requires STARTTLS with a
/// self-signed certificate and prints every message it receives.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    output: Arc<Mutex<String>>,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// `None` outside CI when aiosmtpd is not installed (in CI that is a failure).
    fn start() -> Option<SmtpServer> {
        let installed = std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).output();
        if !installed.is_ok_and(|out| out.status.success()) {
            assert!(std::env::var_os("CI").is_none(), "aiosmtpd is not installed in CI; .ci/run must pip install it");
            eprintln!("SKIPPED the email test: `python3 -m pip install aiosmtpd` to run it");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
            // A leaf, not a CA: rustls refuses a CA certificate as the server's own.
            .args([
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ])
            .args(["-addext", "extendedKeyUsage=serverAuth", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = std::process::Command::new("python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "--tlscert"])
            .arg(&cert)
            .arg("--tlskey")
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(SmtpServer { child, port, output, cert, _dir: dir });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok();
        panic!("aiosmtpd did not start on port {port}");
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_with_html_and_the_report_attached() {
    let Some(smtp) = SmtpServer::start() else { return };
    let ts = common::sqlite_store().await;
    let email = |ca_file: Option<std::path::PathBuf>| finopsd::notify::config::EmailTarget {
        host: "127.0.0.1".into(),
        port: smtp.port,
        from: "finopsd <finops@example.com>".into(),
        to: vec!["finance@example.com".into()],
        username: None,
        password: None,
        ca_file,
    };
    let config = NotifyConfig {
        channels: vec![ChannelConfig { email: Some(email(Some(smtp.cert.clone()))), ..channel("finance") }],
        retry: fast_retries(),
        showback: None,
    };
    let mut report = anomaly_message(&anomaly("e1", "payments", "low", "ongoing"), MessageEvent::Trigger);
    report.kind = finopsd::notify::message::MessageKind::Showback;
    report.title = "Showback by team — 2025-06".into();
    report.value = None; // a whole report, for channels of no value in particular
    report.report = Some(finopsd::notify::message::ReportFiles {
        name: "showback-team-2025-06".into(),
        html: "<!DOCTYPE html><html><body><h1>Showback by team</h1></body></html>".into(),
        csv: "month,dimension,value\n2025-06,team,payments\n".into(),
    });
    queue_message(&ts.store, &config.channels, &report, "showback:2025-06:team", Utc::now()).await.unwrap();
    ts.store.replace_anomalies("teams", &[anomaly("e2", "ml", "medium", "ongoing")]).await.unwrap();
    queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
    let summary = deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap();
    assert_eq!(summary.delivered, 2, "{:?}", ts.store.outbox_messages(None, 5).await.unwrap());
    let mut output = String::new();
    for _ in 0..50 {
        output = smtp.output();
        if output.matches("END MESSAGE").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(output.matches("END MESSAGE").count(), 2, "{output}");
    for expected in [
        "Subject: Showback by team",
        "From: finopsd <finops@example.com>",
        "To: finance@example.com",
        "Content-Type: multipart/mixed",
        "Content-Type: multipart/alternative",
        "Content-Type: text/html",
        "Content-Disposition: attachment; filename=\"showback-team-2025-06.csv\"",
        "2025-06,team,payments",
        "Subject: team ml spend up 2,086.30 USD",
        "Impact: +2,086.30 USD (+243.5%)",
        "@finopsd>",
    ] {
        assert!(output.contains(expected), "{expected} missing from the mail: {output}");
    }

    // A relay whose certificate is not trusted is never sent to in the clear: it waits.
    let untrusted = NotifyConfig {
        channels: vec![ChannelConfig { email: Some(email(None)), ..channel("untrusted") }],
        retry: fast_retries(),
        showback: None,
    };
    ts.store.replace_anomalies("teams", &[anomaly("e3", "data", "low", "ongoing")]).await.unwrap();
    queue_alerts(&ts.store, &untrusted, &[], Utc::now()).await.unwrap();
    let summary = deliver_outbox(&ts.store, &untrusted, Utc::now()).await.unwrap();
    assert_eq!((summary.delivered, summary.retrying), (0, 1));
    let waiting = ts.store.outbox_messages(Some("pending"), 5).await.unwrap();
    assert!(waiting[0].last_error.as_deref().unwrap().contains("certificate"), "{:?}", waiting[0].last_error);
    ts.cleanup().await;
}

/// A Slack webhook URL is a secret: when the receiver cannot be reached, neither the error
/// kept in the outbox nor `config check` shows it.
#[tokio::test]
async fn an_unreachable_channel_never_shows_its_secret_url() {
    let ts = common::sqlite_store().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/services/T000/B000/XXXXSECRETXXXX");
    let config = NotifyConfig {
        channels: vec![ChannelConfig {
            slack: Some(UrlTarget { url: env_secret("T6_SLACK", &url) }),
            ..channel("slack")
        }],
        retry: fast_retries(),
        showback: None,
    };
    ts.store.replace_anomalies("teams", &[anomaly("s1", "ml", "low", "ongoing")]).await.unwrap();
    queue_alerts(&ts.store, &config, &[], Utc::now()).await.unwrap();
    assert_eq!(deliver_outbox(&ts.store, &config, Utc::now()).await.unwrap().retrying, 1);
    let error = ts.store.outbox_messages(None, 1).await.unwrap()[0].last_error.clone().unwrap();
    assert!(error.contains("cannot reach channel `slack`"), "{error}");
    assert!(!error.contains("SECRET") && !error.contains(&closed.to_string()), "{error}");

    let file = ts.path("finopsd.toml");
    std::fs::write(&file, "[[notify.channels]]\nname = \"slack\"\nslack = { url = { env = \"T6_SLACK\" } }\n").unwrap();
    let out = common::finopsd(&ts.url)
        .env("T6_SLACK", &url)
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("T6_SLACK") && !shown.contains("SECRET"), "{shown}");
    ts.cleanup().await;
}
