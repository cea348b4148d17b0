//! The email channel: a multipart message (plain text and HTML; a report's CSV attached)
//! sent through an SMTP relay over STARTTLS.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use maud::{DOCTYPE, html};
use sha2::{Digest, Sha256};

use super::channels::SendError;
use super::config::EmailTarget;
use super::message::Message;

pub async fn send(
    target: &EmailTarget,
    channel: &str,
    message: &Message,
    key: &str,
    timeout: Duration,
) -> Result<(), SendError> {
    let refused =
        |what: &str, err: &dyn std::fmt::Display| SendError::Refused(format!("channel `{channel}`: {what}: {err}"));
    let mut mail = lettre::Message::builder()
        .from(target.from.parse().map_err(|e| refused("bad from address", &e))?)
        .subject(message.title.clone())
        // The same message always has the same Message-ID, so a resend after a crash is
        // recognisably the same mail.
        .message_id(Some(message_id(channel, key)));
    for to in &target.to {
        mail = mail.to(to.parse().map_err(|e| refused("bad to address", &e))?);
    }
    let alternative = MultiPart::alternative().singlepart(SinglePart::plain(plain_text(message))).singlepart(
        SinglePart::html(match &message.report {
            Some(report) => report.html.clone(),
            None => html_body(message),
        }),
    );
    let body = match &message.report {
        Some(report) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(format!("{}.csv", report.name))
                .body(report.csv.clone(), ContentType::parse("text/csv; charset=utf-8").expect("a valid type")),
        ),
        None => alternative,
    };
    let mail = mail.multipart(body).map_err(|e| refused("cannot build the mail", &e))?;

    let mut tls = TlsParameters::builder(target.host.clone());
    if let Some(ca) = &target.ca_file {
        let pem = std::fs::read(ca).map_err(|e| refused(&format!("cannot read ca_file {}", ca.display()), &e))?;
        tls = tls.add_root_certificate(
            Certificate::from_pem(&pem).map_err(|e| refused("ca_file is not a PEM certificate", &e))?,
        );
    }
    let tls = tls.build().map_err(|e| refused("TLS settings", &e))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.as_str())
        .port(target.port)
        .tls(Tls::Required(tls))
        .timeout(Some(timeout));
    if let Some(username) = &target.username {
        let password = match &target.password {
            Some(secret) => secret.resolve().map_err(|e| SendError::Refused(e.to_string()))?,
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(username.clone(), password));
    }
    match transport.build().send(mail).await {
        Ok(_) => Ok(()),
        // 5xx: the relay will never take it (a bad recipient, a refused login).
        Err(err) if err.is_permanent() => {
            Err(SendError::Refused(format!("channel `{channel}`: the relay refused: {err}")))
        }
        Err(err) => Err(SendError::Retry { after: None, error: format!("channel `{channel}`: {err}") }),
    }
}

fn message_id(channel: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{channel}\n{key}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@finopsd>")
}

/// The message as plain text: title, summary, facts, causes, feedback.
fn plain_text(message: &Message) -> String {
    let mut text = format!("{}\n\n{}\n\n", message.title, message.summary);
    for fact in &message.facts {
        text.push_str(&format!("{}: {}\n", fact.label, fact.value));
    }
    if !message.causes.is_empty() {
        text.push_str("\nTop causes:\n");
        for cause in &message.causes {
            text.push_str(&format!("- {cause}\n"));
        }
    }
    if let Some(feedback) = &message.feedback {
        text.push_str(&format!("\n{feedback}\n"));
    }
    text
}

/// The same as HTML, for mail clients that show it.
fn html_body(message: &Message) -> String {
    html! {
        (DOCTYPE)
        html {
            body style="font-family: system-ui, sans-serif; color: #1d2330;" {
                h2 { (message.title) }
                p { (message.summary) }
                table style="border-collapse: collapse;" {
                    @for fact in &message.facts {
                        tr {
                            th style="text-align: left; padding: 2px 12px 2px 0; color: #5b6475;" { (fact.label) }
                            td { (fact.value) }
                        }
                    }
                }
                @if !message.causes.is_empty() {
                    h3 { "Top causes" }
                    ul { @for cause in &message.causes { li { (cause) } } }
                }
                @if let Some(feedback) = &message.feedback { p style="color: #5b6475;" { (feedback) } }
            }
        }
    }
    .into_string()
}
