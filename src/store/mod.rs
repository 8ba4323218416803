//! The durable inbox: every authentic callback is appended here before it is acknowledged, and
//! each handler's outcome is recorded against it.
//!
//! [`Inbox`] is the contract; [`SqliteInbox`] (WAL, group commit) is the default backend and
//! [`MemoryInbox`] serves tests and demos. An event is deduplicated by a key over its decrypted
//! content per app ([`dedup_key`]), because WeCom may re-encrypt a retry with a new
//! nonce and timestamp; the key lives as long as the event row (`retention` after it finished).

mod memory;
mod sqlite;

pub use memory::MemoryInbox;
pub use sqlite::SqliteInbox;

use sha2::{Digest, Sha256};

/// Why the inbox could not answer. The server turns it into 503 so WeCom retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("inbox unavailable: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// An event's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Some handler has not succeeded yet and none is dead.
    Pending,
    /// Every handler succeeded.
    Done,
    /// Some handler failed permanently or ran out of attempts (a dead letter).
    Failed,
}

impl Status {
    /// `pending`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    /// Parse `pending`, `done` or `failed`.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The app it arrived for.
    pub app: String,
    /// [`dedup_key`] of the plaintext.
    pub dedup_key: [u8; 32],
    /// `event/change_type`, for listings and metrics.
    pub kind: String,
    /// The ordering lane ([`crate::Event::order_key`]).
    pub order_key: Option<String>,
    /// The decrypted XML.
    pub plaintext: String,
    /// When it was received, Unix milliseconds.
    pub received_at: i64,
    /// Stored as already done: its app has no handlers, so there is nothing left to do.
    pub finished: bool,
}

/// What [`Inbox::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this new id.
    New(i64),
    /// Already stored (a WeCom retry) under this id; nothing was written.
    Duplicate(i64),
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Inbox id, increasing in arrival order.
    pub id: i64,
    /// The app it arrived for.
    pub app: String,
    /// `event/change_type`.
    pub kind: String,
    /// The ordering lane.
    pub order_key: Option<String>,
    /// The decrypted XML.
    pub plaintext: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// Lifecycle state.
    pub status: Status,
}

/// One handler's record for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerRun {
    /// The handler's name.
    pub handler: String,
    /// `done`, `retry` (failed, will run again) or `dead`.
    pub state: RunState,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// A handler's state for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Succeeded; never run again for this event.
    Done,
    /// Failed; will be retried.
    Retry,
    /// Failed permanently or too often; the event is a dead letter.
    Dead,
}

impl RunState {
    /// `done`, `retry` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Retry => "retry",
            RunState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> RunState {
        match s {
            "done" => RunState::Done,
            "dead" => RunState::Dead,
            _ => RunState::Retry,
        }
    }
}

/// Counts for metrics and health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Events not finished yet.
    pub pending: u64,
    /// Dead letters.
    pub failed: u64,
}

/// The durable inbox.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Store an event durably (or recognise it as a duplicate) before the callback is answered.
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError>;

    /// Unfinished events in arrival order, up to `limit`.
    async fn pending(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// One event.
    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError>;

    /// Events, newest first, optionally only those with `status`.
    async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Every handler's record for an event.
    async fn runs(&self, id: i64) -> Result<Vec<HandlerRun>, StoreError>;

    /// Record one handler attempt's outcome.
    async fn record(&self, id: i64, run: HandlerRun) -> Result<(), StoreError>;

    /// Set the event's status (after its handlers ran).
    async fn finish(&self, id: i64, status: Status) -> Result<(), StoreError>;

    /// Record a handler outcome and, when given, the event's final status, in one durable step
    /// (one transaction for backends that have them).
    async fn settle(
        &self,
        id: i64,
        run: HandlerRun,
        status: Option<Status>,
    ) -> Result<(), StoreError> {
        self.record(id, run).await?;
        match status {
            Some(status) => self.finish(id, status).await,
            None => Ok(()),
        }
    }

    /// Make a dead letter pending again: its dead handlers get a fresh set of attempts.
    /// Returns whether the event existed and was failed.
    async fn retry(&self, id: i64) -> Result<bool, StoreError>;

    /// Delete finished events (and so their dedup keys) received before `before_ms`.
    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Pending and failed counts.
    async fn depth(&self) -> Result<Depth, StoreError>;
}

/// The dedup key of a callback: sha256 over the app name and the decrypted plaintext.
pub fn dedup_key(app: &str, plaintext: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(app.as_bytes());
    hasher.update([0u8]);
    hasher.update(plaintext.as_bytes());
    hasher.finalize().into()
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod contract {
    //! Behaviour every backend must have; each backend's tests call [`check`].

    use super::*;

    fn event(app: &str, text: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            app: app.into(),
            dedup_key: dedup_key(app, text),
            kind: "k".into(),
            order_key: key.map(str::to_owned),
            plaintext: text.into(),
            received_at: 1000,
            finished: false,
        }
    }

    pub(crate) async fn check(inbox: &dyn Inbox) {
        let a = inbox
            .append(event("app", "<a/>", Some("k1")))
            .await
            .unwrap();
        let Appended::New(id) = a else {
            panic!("{a:?}")
        };
        assert_eq!(
            inbox
                .append(event("app", "<a/>", Some("k1")))
                .await
                .unwrap(),
            Appended::Duplicate(id)
        );
        let Appended::New(other_app) = inbox.append(event("other", "<a/>", None)).await.unwrap()
        else {
            panic!("same content for another app is a new event")
        };
        assert!(other_app > id);
        assert_eq!(inbox.pending(10).await.unwrap().len(), 2);

        let run = |state, attempts| HandlerRun {
            handler: "h".into(),
            state,
            attempts,
            last_error: Some("boom".into()),
        };
        inbox.record(id, run(RunState::Retry, 1)).await.unwrap();
        inbox.record(id, run(RunState::Dead, 2)).await.unwrap();
        assert_eq!(inbox.runs(id).await.unwrap(), vec![run(RunState::Dead, 2)]);
        inbox.finish(id, Status::Failed).await.unwrap();
        assert_eq!(
            inbox.depth().await.unwrap(),
            Depth {
                pending: 1,
                failed: 1
            }
        );
        assert_eq!(
            inbox.list(Some(Status::Failed), 10).await.unwrap()[0].id,
            id
        );

        assert!(inbox.retry(id).await.unwrap());
        assert!(!inbox.retry(id).await.unwrap());
        assert_eq!(
            inbox.get(id).await.unwrap().unwrap().status,
            Status::Pending
        );
        assert_eq!(inbox.runs(id).await.unwrap()[0].attempts, 0);

        inbox.finish(id, Status::Done).await.unwrap();
        assert_eq!(inbox.purge(500).await.unwrap(), 0);
        assert_eq!(inbox.purge(2000).await.unwrap(), 1);
        assert!(inbox.get(id).await.unwrap().is_none());
        assert!(matches!(
            inbox
                .append(event("app", "<a/>", Some("k1")))
                .await
                .unwrap(),
            Appended::New(_)
        ));
    }
}
