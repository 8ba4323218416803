//! `serve` and `replay`: run the service, or run plaintext events through its handlers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, CliResult, load_app, read_input, runtime};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::intake::{Accepted, Intake};
use crate::plugins::PluginFactory;
use crate::service::Service;
use crate::store::{DeliveryStatus, Inbox, MemoryInbox};

/// `serve [--config FILE]`.
pub(crate) fn serve(config: &Path, plugins: Vec<Arc<dyn PluginFactory>>) -> CliResult {
    let config = Config::load(config)?;
    crate::log::init(&config.log);
    runtime()?.block_on(async move {
        let running = Service::new(config).plugins(plugins).start().await?;
        running.run_until_signal().await;
        Ok(())
    })
}

/// `replay --config F [--app NAME] [--store] FILE…`.
pub(crate) fn replay(
    config: &Path,
    app: Option<&str>,
    into_store: bool,
    files: &[PathBuf],
    plugins: Vec<Arc<dyn PluginFactory>>,
) -> CliResult {
    let (mut config, index) = load_app(config, app, crate::config::Uses::Everything)?;
    crate::log::init(&config.log);
    let app_name: Arc<str> = Arc::from(config.apps[index].name.as_str());
    let mut events = Vec::new();
    for file in files {
        let origin = file.display().to_string();
        let text = String::from_utf8(read_input(Some(file))?)
            .map_err(|_| CliError::new(format!("{origin}: not utf-8")))?;
        let event = Event::parse(&text).map_err(|e| CliError::new(format!("{origin}: {e}")))?;
        events.push((origin, text, event));
    }
    // Here each delivery runs once: a failure is reported, not retried.
    if !into_store {
        config.dispatch.max_attempts = 1;
    }
    runtime()?.block_on(async move {
        let apps = Service::new(config.clone()).plugins(plugins).handlers()?;
        let longest = apps
            .values()
            .flat_map(|a| a.handlers.iter().map(|h| h.timeout))
            .max()
            .unwrap_or_default();
        let settings = Service::dispatch_settings(&config);
        let (inbox, dispatcher): (Arc<dyn Inbox>, _) = if into_store {
            let inbox = Service::open_store(&config, false).await?;
            (inbox.clone(), Dispatcher::idle(inbox, apps))
        } else {
            let inbox: Arc<dyn Inbox> = Arc::new(MemoryInbox::new());
            let dispatcher =
                Dispatcher::start(inbox.clone(), apps, settings, Default::default()).await;
            (inbox, dispatcher)
        };
        let intake = Intake::new(inbox.clone(), dispatcher.clone(), settings.lease);
        let mut stored = HashMap::new();
        for (origin, text, event) in events {
            let kind = event.kind();
            match intake.accept(&app_name, text, event, &kind).await? {
                Accepted::Stored(id) => {
                    stored.insert(id, (origin, kind));
                }
                Accepted::Duplicate(id) => out!("{origin}: {kind}: already stored as {id}"),
                Accepted::Probe => out!("{origin}: {kind}: a doctor probe, not stored"),
            }
        }
        if into_store {
            let mut ids: Vec<_> = stored.into_iter().collect();
            ids.sort();
            for (id, (origin, kind)) in ids {
                out!("{origin}: {kind}: stored as {id}; serve runs its deliveries");
            }
            return Ok(());
        }
        let failures = report_when_finished(&*inbox, stored, longest).await?;
        dispatcher.shutdown(Duration::from_secs(1)).await;
        if failures > 0 {
            return Err(CliError::new(format!("{failures} handler run(s) failed")));
        }
        Ok(())
    })
}

/// Wait (up to the longest handler timeout and a little more) until every delivery of the
/// replayed events has run, print each, and count the failures.
async fn report_when_finished(
    inbox: &dyn Inbox,
    stored: HashMap<i64, (String, String)>,
    longest: Duration,
) -> Result<usize, CliError> {
    let deadline = tokio::time::Instant::now() + longest + Duration::from_secs(5);
    let mut ids: Vec<i64> = stored.keys().copied().collect();
    ids.sort_unstable();
    loop {
        let mut unfinished = false;
        for id in &ids {
            let deliveries = inbox.deliveries(*id).await?;
            unfinished |= deliveries
                .iter()
                .any(|d| d.status == DeliveryStatus::Pending);
        }
        if !unfinished || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut failures = 0;
    for id in ids {
        let (origin, kind) = &stored[&id];
        let deliveries = inbox.deliveries(id).await?;
        if deliveries.is_empty() {
            out!("{origin}: {kind} (no handler takes it)");
        }
        for d in deliveries {
            let outcome = match (d.status, &d.last_error) {
                (DeliveryStatus::Done, _) => "ok".to_owned(),
                (DeliveryStatus::Pending, _) => "still running".to_owned(),
                (DeliveryStatus::Dead, Some(error)) => error.clone(),
                (DeliveryStatus::Dead, None) => "failed".to_owned(),
            };
            if d.status != DeliveryStatus::Done {
                failures += 1;
            }
            out!("{origin}: {kind} → {}: {outcome}", d.handler);
        }
    }
    Ok(failures)
}
