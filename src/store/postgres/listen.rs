//! The `LISTEN` connection: wakes this instance's runners when another instance announces
//! work (`NOTIFY`), so they need not wait for their next poll.
//!
//! It is a connection of its own, outside the pool, kept open for the life of the inbox. When
//! it drops (the database restarts, the network breaks), it is made again with a growing pause;
//! after each (re)connection the runners are woken once, since announcements made while nobody
//! listened are lost. A periodic `SELECT 1` notices a connection that died silently. Missing a
//! wake-up costs at most the dispatcher's poll interval, never work.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::CHANNEL;

/// How often the connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(15);

/// How long making the connection (TCP, start-up, authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest pause between two connection attempts.
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Listen until `stop`, raising `signal` for every announcement not sent by `owner`.
pub(super) async fn run(
    pg: tokio_postgres::Config,
    owner: Arc<str>,
    signal: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        tokio::select! {
            listened = listen_once(&pg, &owner, &signal, &stop) => match listened {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, failures, "cannot listen for other instances' work; polling meanwhile");
                    }
                }
            },
            _ = stop.cancelled() => return,
        }
        let pause =
            Duration::from_millis(200 * 2u64.saturating_pow(failures.min(6))).min(MAX_PAUSE);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One connection's life: connect, `LISTEN`, relay notifications until it fails or `stop`.
async fn listen_once(
    pg: &tokio_postgres::Config,
    owner: &Arc<str>,
    signal: &Arc<Notify>,
    stop: &CancellationToken,
) -> Result<(), String> {
    let (client, mut connection) = tokio::time::timeout(CONNECT_TIMEOUT, pg.connect(NoTls))
        .await
        .map_err(|_| "no answer to the connection".to_owned())?
        .map_err(|e| super::causes(&e))?;
    let (owner, relay) = (owner.clone(), signal.clone());
    let mut driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.payload() != &*owner => relay.notify_one(),
                Ok(_) => {}
                Err(e) => return super::causes(&e),
            }
        }
        "the connection closed".to_owned()
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| super::causes(&e))?;
        signal.notify_one();
        loop {
            tokio::select! {
                ended = &mut driver => {
                    return Err(ended.unwrap_or_else(|e| e.to_string()));
                }
                _ = tokio::time::sleep(CHECK_EVERY) => {
                    match tokio::time::timeout(Duration::from_secs(5), client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(super::causes(&e)),
                        Err(_) => return Err("no answer to a check".to_owned()),
                    }
                }
                _ = stop.cancelled() => return Ok(()),
            }
        }
    }
    .await;
    driver.abort();
    result
}
