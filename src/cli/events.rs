//! `events list / show / retry`: inspect and re-run the inbox of a configured service.

use std::path::Path;

use super::{CliError, CliResult};
use crate::config::{Backend, Config};
use crate::event::Event;
use crate::service::Service;
use crate::store::{Inbox, Status};

/// What `events` should do.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EventsCommand {
    /// List events, newest first.
    List {
        /// Only events in this state.
        #[arg(long, value_parser = ["pending", "failed", "done"])]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one event: its JSON and every handler's outcome.
    Show {
        /// The event id.
        id: i64,
    },
    /// Make dead letters pending again (a running server picks them up within a second).
    Retry {
        /// Event ids.
        ids: Vec<i64>,
        /// Every failed event.
        #[arg(long)]
        failed: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))
}

/// Run an `events` subcommand.
pub(crate) fn run(config: &Path, command: EventsCommand) -> CliResult {
    let config = Config::load(config)?;
    if config.store.backend == Backend::Memory {
        return Err(CliError::new(
            "store.backend = \"memory\" keeps no events outside the running server",
        ));
    }
    runtime()?.block_on(async move {
        let inbox = Service::open_inbox(&config)?;
        match command {
            EventsCommand::List { status, limit } => list(&*inbox, status.as_deref(), limit).await,
            EventsCommand::Show { id } => show(&*inbox, id).await,
            EventsCommand::Retry { ids, failed } => retry(&*inbox, ids, failed).await,
        }
    })
}

async fn list(inbox: &dyn Inbox, status: Option<&str>, limit: usize) -> CliResult {
    let status = status.and_then(Status::parse);
    for e in inbox.list(status, limit).await? {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            e.id,
            e.status.as_str(),
            e.app,
            e.kind,
            e.order_key.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

async fn show(inbox: &dyn Inbox, id: i64) -> CliResult {
    let event = inbox
        .get(id)
        .await?
        .ok_or_else(|| CliError::new(format!("no event {id}")))?;
    let runs: Vec<serde_json::Value> = inbox
        .runs(id)
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "handler": r.handler,
                "state": r.state.as_str(),
                "attempts": r.attempts,
                "last_error": r.last_error,
            })
        })
        .collect();
    let parsed = Event::parse(&event.plaintext)
        .map(|e| e.to_json())
        .unwrap_or(serde_json::Value::Null);
    let shown = serde_json::json!({
        "id": event.id,
        "app": event.app,
        "status": event.status.as_str(),
        "kind": event.kind,
        "received_at": event.received_at,
        "event": parsed,
        "handlers": runs,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

async fn retry(inbox: &dyn Inbox, mut ids: Vec<i64>, failed: bool) -> CliResult {
    if failed {
        ids.extend(
            inbox
                .list(Some(Status::Failed), usize::MAX >> 1)
                .await?
                .iter()
                .map(|e| e.id),
        );
    }
    if ids.is_empty() {
        return Err(CliError::new("name event ids, or --failed"));
    }
    let mut missing = Vec::new();
    for id in ids {
        if inbox.retry(id).await? {
            println!("{id}: pending again");
        } else {
            missing.push(id.to_string());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "not failed or not found: {}",
            missing.join(", ")
        )))
    }
}
