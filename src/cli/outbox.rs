//! `finopsd notify` and `finopsd outbox`: queue the store's alerts for the configured
//! channels, deliver what is due, and look after what could not be delivered.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};

use finopsd::config::Config;
use finopsd::notify::{deliver_outbox, queue_alerts, queue_showback};
use finopsd::store::OutboxMessage;

use super::UsageError;
use super::open_store;
use super::output::{Field, OutputFormat, Tabular};

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    action: OutboxAction,
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// The messages kept, newest first: pending (with their next attempt), delivered, dead.
    List {
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Make a dead (or waiting) message due now with a fresh set of attempts, then deliver.
    Retry {
        /// The message id, as `outbox list` shows it.
        id: i64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StatusArg {
    Pending,
    Delivered,
    Dead,
}

impl StatusArg {
    fn as_str(self) -> &'static str {
        match self {
            StatusArg::Pending => "pending",
            StatusArg::Delivered => "delivered",
            StatusArg::Dead => "dead",
        }
    }
}

/// Queues new alerts and a due monthly showback for every channel and delivers whatever is
/// due; prints what happened.
pub async fn notify(config: &Config) -> anyhow::Result<()> {
    if config.notify.channels.is_empty() {
        eprintln!("no channels configured: add [[notify.channels]] to the config (see config/finopsd.toml)");
        return Ok(());
    }
    let store = open_store(config).await?;
    let result = async {
        let alerts = queue_alerts(&store, &config.notify, &config.budgets, Utc::now()).await?;
        let reports = queue_showback(&store, &config.notify, &config.budgets, Utc::now()).await?;
        let delivered = deliver_outbox(&store, &config.notify, Utc::now()).await?;
        anyhow::Ok((alerts + reports, delivered))
    }
    .await;
    store.close().await;
    let (queued, delivered) = result?;
    println!(
        "{} new messages queued; {} delivered, {} waiting to retry, {} dead-lettered",
        queued, delivered.delivered, delivered.retrying, delivered.dead
    );
    Ok(())
}

pub async fn run(config: &Config, args: OutboxArgs) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = match args.action {
        OutboxAction::List { status, limit, format } => store
            .outbox_messages(status.map(StatusArg::as_str), limit)
            .await
            .map(|messages| print!("{}", outbox_table(&messages).render(format)))
            .map_err(anyhow::Error::from),
        OutboxAction::Retry { id } => retry(config, &store, id).await,
    };
    store.close().await;
    result
}

async fn retry(config: &Config, store: &finopsd::store::Store, id: i64) -> anyhow::Result<()> {
    if !store.retry_message(id).await? {
        return Err(UsageError(format!("no undelivered outbox message {id}; `finopsd outbox list` shows them")).into());
    }
    let delivered = deliver_outbox(store, &config.notify, Utc::now()).await?;
    println!(
        "message {id} is due again; {} delivered, {} waiting to retry, {} dead-lettered",
        delivered.delivered, delivered.retrying, delivered.dead
    );
    Ok(())
}

fn outbox_table(messages: &[OutboxMessage]) -> Tabular {
    let columns = ["id", "channel", "kind", "title", "status", "attempts", "next_attempt", "last_error", "created"];
    let mut table = Tabular::new(columns.map(String::from).to_vec());
    for m in messages {
        let title = serde_json::from_str::<serde_json::Value>(&m.message)
            .ok()
            .and_then(|v| v["title"].as_str().map(String::from))
            .unwrap_or_default();
        table.rows.push(vec![
            Field::Count(m.id),
            Field::Text(m.channel.clone()),
            Field::Text(m.kind.clone()),
            Field::Text(title),
            Field::Text(m.status.clone()),
            Field::Count(m.attempts),
            Field::Text(if m.status == "pending" { display_time(m.next_attempt_at) } else { String::new() }),
            Field::Text(m.last_error.clone().unwrap_or_default()),
            Field::Text(display_time(m.created_at)),
        ]);
    }
    table
}

/// A time to the second, for people.
fn display_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}
