//! `events list / show / retry / redeliver / purge`: inspect the store of a configured service
//! and re-run its deliveries. A running `serve` picks changes up within a second.

use std::path::Path;
use std::time::Duration;

use super::{CliError, CliResult, runtime};
use crate::clock::{millis, now_ms};
use crate::config::{Backend, Config, parse_duration};
use crate::event::Event;
use crate::service::Service;
use crate::store::{EventFilter, Inbox, RetryFilter, Status};

/// What `events` should do.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EventsCommand {
    /// List events, newest first: id, status, app, kind, lane.
    List {
        /// Only events in this state (with --handler: that handler's delivery's state).
        #[arg(long, value_parser = ["pending", "failed", "done"])]
        status: Option<String>,
        /// Only events with a delivery to this handler.
        #[arg(long)]
        handler: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one event: its JSON and each handler's delivery (status, attempts, next attempt,
    /// last error).
    Show {
        /// The event id.
        id: i64,
    },
    /// Make dead deliveries pending again, with a fresh set of attempts.
    Retry {
        /// Event ids.
        ids: Vec<i64>,
        /// Every dead delivery.
        #[arg(long)]
        failed: bool,
        /// Only this handler's deliveries.
        #[arg(long)]
        handler: Option<String>,
    },
    /// Create deliveries to a handler for past events that have none (a handler added later).
    Redeliver {
        /// The handler (its name, as `check-config` lists it).
        #[arg(long)]
        handler: String,
        /// Events received since T: a duration ago (`2h`, `7d`) or Unix seconds.
        #[arg(long)]
        since: String,
        /// Only this app's events (default: every app that has the handler).
        #[arg(long)]
        app: Option<String>,
    },
    /// Delete finished events received before T (dead letters too with --failed).
    Purge {
        /// Events received before T: a duration ago (`7d`) or Unix seconds.
        #[arg(long)]
        before: String,
        /// Delete dead letters (failed events) instead of finished ones.
        #[arg(long)]
        failed: bool,
    },
}

/// Run an `events` subcommand.
pub(crate) fn run(config: &Path, command: EventsCommand) -> CliResult {
    let config = Config::load(config)?;
    if config.store.backend == Backend::Memory {
        return Err(CliError::new(
            "store.backend = \"memory\" keeps no events outside the running server",
        ));
    }
    // Opening would create an empty store, and a mistyped path would then list nothing.
    if config.store.backend == Backend::Sqlite && !config.store.path.exists() {
        return Err(CliError::new(format!(
            "no store at {}: serve creates it at its first start (check store.path; a relative \
             path is taken from the working directory)",
            config.store.path.display()
        )));
    }
    runtime()?.block_on(async move {
        let inbox = Service::open_store(&config, false).await?;
        let inbox = &*inbox;
        match command {
            EventsCommand::List {
                status,
                handler,
                limit,
            } => list(inbox, status.as_deref(), handler, limit).await,
            EventsCommand::Show { id } => show(inbox, id).await,
            EventsCommand::Retry {
                ids,
                failed,
                handler,
            } => retry(inbox, ids, failed, handler).await,
            EventsCommand::Redeliver {
                handler,
                since,
                app,
            } => redeliver(&config, inbox, &handler, &since, app.as_deref()).await,
            EventsCommand::Purge { before, failed } => purge(inbox, &before, failed).await,
        }
    })
}

/// A point in time given as a duration ago (`7d`) or Unix seconds, in Unix ms.
fn point_in_time(text: &str, flag: &str) -> Result<i64, CliError> {
    if let Ok(seconds) = text.parse::<i64>()
        && text.len() > 6
    {
        return Ok(seconds.saturating_mul(1000));
    }
    parse_duration(text)
        .map(|ago: Duration| now_ms() - millis(ago))
        .map_err(|_| {
            CliError::new(format!(
                "{flag} {text:?}: expected a duration ago like 2h or 7d, or Unix seconds"
            ))
        })
}

async fn list(
    inbox: &dyn Inbox,
    status: Option<&str>,
    handler: Option<String>,
    limit: usize,
) -> CliResult {
    let filter = EventFilter {
        status: status.and_then(Status::parse),
        handler,
        limit,
    };
    for e in inbox.list(filter).await? {
        out!(
            "{}\t{}\t{}\t{}\t{}",
            e.id,
            e.status.as_str(),
            e.app,
            e.kind,
            e.lane.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

async fn show(inbox: &dyn Inbox, id: i64) -> CliResult {
    let event = inbox
        .get(id)
        .await?
        .ok_or_else(|| CliError::new(format!("no event {id}")))?;
    let deliveries: Vec<serde_json::Value> = inbox
        .deliveries(id)
        .await?
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "handler": d.handler,
                "status": d.status.as_str(),
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "leased_until": d.leased_until,
                "last_error": d.last_error,
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
        "deliveries": deliveries,
    });
    out!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

async fn retry(
    inbox: &dyn Inbox,
    ids: Vec<i64>,
    failed: bool,
    handler: Option<String>,
) -> CliResult {
    if failed {
        let n = inbox
            .retry(RetryFilter {
                event_id: None,
                handler,
            })
            .await?;
        out!("{n} dead deliveries pending again");
        return Ok(());
    }
    if ids.is_empty() {
        return Err(CliError::new("name event ids, or --failed"));
    }
    let mut missing = Vec::new();
    for id in ids {
        let n = inbox
            .retry(RetryFilter {
                event_id: Some(id),
                handler: handler.clone(),
            })
            .await?;
        if n > 0 {
            out!(
                "{id}: {n} dead deliver{} pending again",
                if n == 1 { "y" } else { "ies" }
            );
        } else {
            missing.push(id.to_string());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "no dead delivery for: {}",
            missing.join(", ")
        )))
    }
}

async fn redeliver(
    config: &Config,
    inbox: &dyn Inbox,
    handler: &str,
    since: &str,
    app: Option<&str>,
) -> CliResult {
    let since = point_in_time(since, "--since")?;
    let apps = Service::new(config.clone()).handlers()?;
    let mut targets: Vec<&str> = apps
        .iter()
        .filter(|(name, a)| {
            app.is_none_or(|want| want == name.as_str())
                && a.handlers.iter().any(|h| h.handler.name() == handler)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    targets.sort_unstable();
    if targets.is_empty() {
        return Err(CliError::new(format!(
            "no app{} has a handler named {handler:?} (check-config lists them)",
            app.map(|a| format!(" named {a:?}")).unwrap_or_default()
        )));
    }
    for app in targets {
        let n = inbox.redeliver(app, handler, since).await?;
        out!("{app}: {n} deliveries to {handler} created");
    }
    Ok(())
}

async fn purge(inbox: &dyn Inbox, before: &str, failed: bool) -> CliResult {
    let before = point_in_time(before, "--before")?;
    let n = if failed {
        inbox.purge_failed(before).await?
    } else {
        let mut total = 0;
        loop {
            match inbox.purge(before, 1000).await? {
                0 => break total,
                n => total += n,
            }
        }
    };
    out!(
        "{n} {} events deleted",
        if failed { "failed" } else { "finished" }
    );
    Ok(())
}
