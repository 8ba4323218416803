//! The store is the queue: every authentic callback is stored here with one **delivery** per
//! handler of its app before it is acknowledged, and the dispatcher leases runnable deliveries
//! from here (architecture §5). Nothing the dispatcher keeps in memory is missing from the store.
//!
//! [`Inbox`] is the contract. [`SqliteInbox`] (WAL, group commit) is the embedded default;
//! [`MemoryInbox`] serves tests, demos and `replay`. [`PostgresInbox`] lets several instances
//! share the work: the same operations with row locks (`FOR UPDATE SKIP LOCKED`), lane locks
//! at intake, and notifications that wake the other instances.
//!
//! A durable store also keeps the API access token ([`Inbox::token_store`]), so that a restart
//! or a CLI call reuses it and instances sharing a database share one token.
//!
//! # Words
//!
//! - An **event** is a stored callback: app, dedup key, kind, lane, plaintext, arrival time.
//!   Its id increases in arrival (commit) order.
//! - A **delivery** is (event, handler): `pending`, `done` or `dead`, with its attempts, the
//!   time it is next due, a lease (owner, until) while some instance runs it, and the last error.
//! - A **lane** is (app, handler, order key): the customer (`external_user_id`) or chat
//!   (`chat_id`). A delivery is **runnable** when it is pending, due, not leased (or its lease
//!   expired), and no earlier delivery of its lane is pending. Dead deliveries do not block.
//! - An event is `done` when all its deliveries are done (or it has none), `failed` when one is
//!   dead and none is pending, `pending` otherwise.

mod memory;
mod postgres;
mod reply;
mod sqlite;

pub use memory::MemoryInbox;
pub use postgres::{PostgresInbox, PostgresTokenStore};
pub use sqlite::{SqliteInbox, SqliteOptions, SqliteTokenStore};

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use crate::metrics::HandlerGauges;

/// Why the store could not answer. The server turns it into 503 so WeCom retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// An event's state, derived from its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Some delivery is pending.
    Pending,
    /// Every delivery is done (or there are none).
    Done,
    /// Some delivery is dead and none is pending (a dead letter).
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

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not finished: due now, due later (backoff), or running under a lease.
    Pending,
    /// The handler succeeded; it is never run again for this event.
    Done,
    /// Failed permanently or too often (a dead letter); re-run only by `events retry`.
    Dead,
}

impl DeliveryStatus {
    /// `pending`, `done` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Done => "done",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Parse `pending`, `done` or `dead` (anything else reads as pending: never lose work).
    pub fn parse(s: &str) -> DeliveryStatus {
        match s {
            "done" => DeliveryStatus::Done,
            "dead" => DeliveryStatus::Dead,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One delivery to create with a new event.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The handler's name.
    pub handler: Arc<str>,
    /// Lease it to this instance at once, when its lane is free: the caller has a free slot
    /// for it and starts it right after the commit.
    pub lease: bool,
}

/// An event to store, with its deliveries.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The app it arrived for.
    pub app: Arc<str>,
    /// [`dedup_key`] of the plaintext.
    pub dedup_key: [u8; 32],
    /// `event/change_type`, for listings and metrics.
    pub kind: String,
    /// The order key ([`crate::Event::order_key`]): the customer or chat.
    pub lane: Option<String>,
    /// The decrypted XML.
    pub plaintext: String,
    /// When it was received, Unix milliseconds.
    pub received_at: i64,
    /// One per handler of the app, in the app's handler order.
    pub deliveries: Vec<NewDelivery>,
    /// Until when the deliveries leased at intake are held (Unix ms).
    pub lease_until: i64,
}

/// A delivery this instance holds a lease on and should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's id.
    pub id: i64,
    /// Its event.
    pub event_id: i64,
    /// The handler.
    pub handler: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the event was received, Unix ms.
    pub received_at: i64,
}

/// What [`Inbox::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this new id; `leased` are the deliveries leased to this instance at once.
    New {
        /// The event id.
        id: i64,
        /// The deliveries to start now (those asked for whose lane was free).
        leased: Vec<Delivery>,
    },
    /// Already stored (a WeCom retry) under this id; nothing was written.
    Duplicate(i64),
}

/// A leased delivery with what it needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    /// The delivery.
    pub delivery: Delivery,
    /// Its event's decrypted XML.
    pub plaintext: String,
}

/// What one [`Inbox::lease`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseBatch {
    /// Runnable deliveries, now leased to this instance, oldest first.
    pub deliveries: Vec<Leased>,
    /// The earliest time (Unix ms) a pending delivery of this handler that is not due yet
    /// becomes due, so the caller knows when to look again.
    pub next_due: Option<i64>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded.
    Done,
    /// Failed; try again at `at` (Unix ms).
    Retry {
        /// When it is due again.
        at: i64,
        /// Why it failed.
        error: String,
    },
    /// Failed permanently, or ran out of attempts.
    Dead {
        /// Why.
        error: String,
    },
}

/// What [`Inbox::settle`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The outcome was recorded (false: this instance no longer held the lease, so another
    /// took the delivery over and its outcome counts).
    pub recorded: bool,
    /// A later delivery of the same lane is pending (it may be runnable now).
    pub lane_has_more: bool,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Id, increasing in arrival order.
    pub id: i64,
    /// The app it arrived for.
    pub app: String,
    /// `event/change_type`.
    pub kind: String,
    /// The order key.
    pub lane: Option<String>,
    /// The decrypted XML.
    pub plaintext: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// Derived from the deliveries.
    pub status: Status,
}

/// One delivery as `events show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The delivery's id.
    pub id: i64,
    /// The handler.
    pub handler: String,
    /// Its state.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is due (pending ones; `None` while it waits for an earlier delivery of its
    /// lane), Unix ms.
    pub next_attempt_at: Option<i64>,
    /// Until when an instance holds it (running), Unix ms.
    pub leased_until: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
}

/// Which events [`Inbox::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events in this state (with `handler`: whose delivery to that handler is pending,
    /// done or dead — `failed` meaning dead).
    pub status: Option<Status>,
    /// Only events with a delivery to this handler.
    pub handler: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Which dead deliveries [`Inbox::retry`] makes pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryFilter {
    /// Only this event's (all dead ones when `None`).
    pub event_id: Option<i64>,
    /// Only this handler's.
    pub handler: Option<String>,
}

/// Counts for metrics, `/healthz` and the start-up report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per (app, handler) that has any pending or dead delivery.
    pub handlers: Vec<HandlerGauges>,
    /// Events with a pending delivery.
    pub events_pending: u64,
}

/// The durable store of events and their deliveries.
///
/// Every method is one transaction: it happens whole or not at all.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync + 'static {
    // --- intake -------------------------------------------------------------------------

    /// Store an event and its deliveries durably (or recognise it as a duplicate) before the
    /// callback is answered. Deliveries asked to be leased are leased to this instance when
    /// no earlier delivery of their lane is pending.
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError>;

    // --- the dispatcher -----------------------------------------------------------------

    /// Lease up to `limit` runnable deliveries of (`app`, `handler`) to this instance until
    /// `until` (Unix ms), in the order they fell due (across lanes there is no other order to
    /// keep: only the head of a lane is runnable). Its cost must not grow with the number of
    /// deliveries waiting: a backlog is exactly when leases are frequent.
    async fn lease(
        &self,
        app: &str,
        handler: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<LeaseBatch, StoreError>;

    /// Extend this instance's leases on `ids` until `until`.
    async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError>;

    /// Give up this instance's leases on `ids` (a clean stop): they are runnable at once.
    async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError>;

    /// Record an attempt of a delivery this instance leased: `attempts` is the count including
    /// it. Clears the lease.
    async fn settle(&self, id: i64, attempts: u32, outcome: Outcome)
    -> Result<Settled, StoreError>;

    /// At start: take back leases that can only be orphans of an earlier run of this same
    /// instance (the SQLite backend, which one `serve` owns, releases them all; a shared
    /// backend lets them expire). Returns how many.
    async fn recover(&self) -> Result<u64, StoreError>;

    // --- operators ----------------------------------------------------------------------

    /// One event.
    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError>;

    /// Every delivery of an event, in handler order of creation.
    async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Events, newest first.
    async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError>;

    /// Make dead deliveries pending again with a fresh set of attempts, due now. Returns how
    /// many.
    async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError>;

    /// Create a pending delivery to `handler` for every event of `app` received at or after
    /// `since` (Unix ms) that has none. Returns how many.
    async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError>;

    /// Delete up to `batch` finished (`done`) events received before `before` (Unix ms), with
    /// their deliveries and dedup keys. Returns how many; call again until 0.
    async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError>;

    /// Delete failed events (dead letters) received before `before`. Returns how many.
    async fn purge_failed(&self, before: i64) -> Result<u64, StoreError>;

    /// Counts per handler and of unfinished events.
    async fn stats(&self, now: i64) -> Result<Stats, StoreError>;

    /// Whether the store answers, cheaply and without queueing behind intake.
    async fn ping(&self) -> Result<(), StoreError>;

    /// A signal raised when another instance adds work (a shared backend's notifications);
    /// `None` when only this process writes.
    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Where the API clients keep their access tokens: in the store itself for a durable
    /// backend (kept across restarts, and shared by the instances of a shared store); `None`
    /// keeps them in each client's memory.
    fn token_store(&self) -> Option<Arc<dyn crate::api::TokenStore>> {
        None
    }
}

/// The `next_at` of a delivery waiting behind an unfinished earlier delivery of its lane: it is
/// not due until that one finishes, which sets it to the time it finished. Keeping waiting
/// deliveries out of the due range means leasing only ever looks at the heads of lanes, however
/// long the lanes behind a failing handler grow.
pub(crate) const LANE_WAIT: i64 = i64::MAX;

/// The dedup key of a callback: the event's `CreateTime` (big-endian, 8 bytes), then 24 bytes
/// of sha256 over the app name and the decrypted plaintext.
///
/// WeCom's retries carry the same plaintext, so the same key. The time in front makes the keys
/// of new events sort after the older ones: the unique index grows at its end, and a commit
/// rewrites one or two of its pages instead of one at a random place per event. (Identical
/// content has an identical `CreateTime`, so the time takes nothing from uniqueness.)
pub fn dedup_key(app: &str, plaintext: &str, create_time: Option<i64>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(app.as_bytes());
    hasher.update([0u8]);
    hasher.update(plaintext.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&create_time.unwrap_or(0).max(0).to_be_bytes());
    key[8..].copy_from_slice(&digest[..24]);
    key
}

/// One row of a backend's per-handler count: app, handler, pending deliveries, the creation
/// time of the oldest pending one (Unix ms), dead deliveries.
pub(crate) type GaugeRow = (String, String, i64, Option<i64>, i64);

/// Fold per-handler count rows (a handler may come in several, e.g. one for pending and one
/// for dead deliveries) into one [`HandlerGauges`] per (app, handler), ages as of `now`.
pub(crate) fn gauges(rows: impl IntoIterator<Item = GaugeRow>, now: i64) -> Vec<HandlerGauges> {
    let mut handlers: Vec<HandlerGauges> = Vec::new();
    for (app, handler, pending, oldest, dead) in rows {
        let at = match handlers
            .iter()
            .position(|h| h.app == app && h.handler == handler)
        {
            Some(i) => i,
            None => {
                handlers.push(HandlerGauges {
                    app,
                    handler,
                    ..Default::default()
                });
                handlers.len() - 1
            }
        };
        let g = &mut handlers[at];
        g.pending += u64::try_from(pending).unwrap_or(0);
        g.dead += u64::try_from(dead).unwrap_or(0);
        if let Some(oldest) = oldest {
            g.oldest_pending_seconds =
                u64::try_from(now.saturating_sub(oldest) / 1000).unwrap_or(0);
        }
    }
    handlers
}

/// A random id for this process's leases.
pub(crate) fn lease_owner() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

#[cfg(test)]
pub(crate) mod contract;
