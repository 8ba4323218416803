//! The shared [`Inbox`]: PostgreSQL, for several instances behind one load balancer.
//!
//! Every instance accepts callbacks and runs deliveries; what they share lives here:
//!
//! - **Intake** ([`intake`], [`insert`]): appends are group-committed by a batcher task —
//!   whatever is queued goes into one transaction, stored with a few set-based statements. Per-lane arrival order across instances comes from lane locks
//!   (`pg_advisory_xact_lock` on a hash of app and lane, taken before inserting), so event ids of
//!   one lane grow in commit order; the dedup key is a unique index, so a retry reaching another
//!   instance at the same moment is one event.
//! - **Deliveries** are leased with `FOR UPDATE SKIP LOCKED`, renewed while they run, settled
//!   only by the instance that holds the lease. A dead instance's leases simply expire and any
//!   instance takes the work over; [`Inbox::recover`] has nothing to do here.
//! - **Wake-ups** ([`listen`]): work another instance should see (deliveries stored unleased, a
//!   lane with more to run, `retry`, `redeliver`, released leases) is announced with `NOTIFY`;
//!   one connection per instance `LISTEN`s and raises [`Inbox::work_signal`].
//! - **The access token** ([`tokens`]): one `gettoken` for all instances, refreshed under an
//!   advisory lock, a rejected token dropped only while it is still the stored one.
//!
//! The schema is created and migrated at start ([`schema`]), under an advisory lock so that
//! instances starting together do not race. Every wait is bounded — the pool's wait, connect and
//! recycle timeouts, `statement_timeout` on each connection, and a deadline around each
//! operation — so that an unreachable database makes callbacks answer 503 promptly instead of
//! hanging; the pool reconnects by itself when the database returns. Neither the URL's password
//! nor any SQL parameter appears in an error.

mod insert;
mod intake;
mod listen;
mod schema;
mod tokens;

pub use tokens::PostgresTokenStore;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};
use tokio_postgres::NoTls;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    Appended, DeliveryRecord, DeliveryStatus, EventFilter, HandlerGauges, Inbox, LeaseBatch,
    Leased, NewEvent, Outcome, RetryFilter, Settled, Stats, Status, StoreError, StoredEvent,
};
use crate::config::StoreConfig;

/// The channel instances announce work on; the payload is the sender's lease owner, so an
/// instance ignores its own announcements.
const CHANNEL: &str = "wecom_callback_work";

/// The first key of this crate's two-part advisory locks (`pg_advisory_xact_lock(int, int)`),
/// which live apart from the one-part lane locks: `'wc'` followed by the lock's kind.
const LOCK_CLASS: i32 = 0x7763_0000;

/// How long `ping` may take: `/healthz` must answer quickly whatever the database does.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Where and how to reach the database: the pool, the runtime its connections live on, and
/// the deadline of one operation. Cheap to clone.
#[derive(Clone)]
struct Db {
    pool: Pool,
    /// Connections are made and driven on this runtime, whichever runtime the caller is on
    /// (HTTP workers have their own, which stop with the listener).
    runtime: tokio::runtime::Handle,
    /// The most one operation may take: a pool wait, a connect and a statement.
    op_timeout: Duration,
    /// `host:port/dbname`, for errors (never the user or password).
    target: Arc<str>,
}

impl Db {
    /// Run `work` on the pool's runtime, giving up after `limit`.
    async fn run_for<T, Fut>(
        &self,
        what: &'static str,
        limit: Duration,
        work: impl FnOnce(Db) -> Fut,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let task = self
            .runtime
            .spawn(tokio::time::timeout(limit, work(self.clone())));
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError(format!(
                "{what}: PostgreSQL at {} did not answer within {}",
                self.target,
                crate::config::format_duration(limit)
            ))),
            Err(e) => Err(StoreError(format!("{what}: {e}"))),
        }
    }

    /// Run `work` on the pool's runtime within the operation deadline.
    async fn run<T, Fut>(
        &self,
        what: &'static str,
        work: impl FnOnce(Db) -> Fut,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_for(what, self.op_timeout, work).await
    }

    /// A connection from the pool.
    async fn conn(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError(format!(
                "cannot reach PostgreSQL at {}: {}",
                self.target,
                causes(&e)
            ))
        })
    }
}

/// A pooled connection inside a transaction. It goes back to the pool only through
/// [`TxConn::finish`], once the transaction has ended; dropped any other way (an error, a
/// deadline, a cancelled task) the connection is closed, which ends the transaction on the
/// server, so no later user of the pool finds itself inside it.
struct TxConn(Option<Object>);

impl TxConn {
    fn new(conn: Object) -> Self {
        TxConn(Some(conn))
    }

    /// The connection.
    fn conn(&self) -> Result<&Object, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError("the connection was already returned".into()))
    }

    /// The transaction ended cleanly: the connection can serve others (dropping the returned
    /// connection gives it back to the pool).
    fn finish(mut self) -> Option<Object> {
        self.0.take()
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// A database error as one line: its message and causes (no parameters, no URL).
fn db_error(e: tokio_postgres::Error) -> StoreError {
    StoreError(match e.as_db_error() {
        Some(db) => format!("postgres: {}", db.message()),
        None => format!("postgres: {}", causes(&e)),
    })
}

/// `e` and its sources joined by `: `.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The first eight bytes of sha256 over `parts` (each followed by a zero byte): a lock key
/// that every instance and every build computes the same.
fn hash_key(parts: &[&str]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

/// `host:port/dbname` of a connection config: enough to say which database, nothing secret.
fn describe(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", pg.get_dbname().unwrap_or(""))
}

/// The connection settings from `[store]`: its URL, `connect_timeout`, TCP keepalives.
fn pg_config(url: &str, config: &StoreConfig) -> Result<tokio_postgres::Config, StoreError> {
    // The parser's message may quote parts of the URL, so it is not passed on.
    let mut pg: tokio_postgres::Config = url.parse().map_err(|_| {
        StoreError("store.url is not a valid PostgreSQL URL (postgres://user@host/db)".into())
    })?;
    pg.connect_timeout(config.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    if pg.get_application_name().is_none() {
        pg.application_name("wecom-callback");
    }
    Ok(pg)
}

/// The pool: `pool_size` connections, every wait bounded by `connect_timeout`, each new
/// connection with `statement_timeout` set.
fn pool(pg: tokio_postgres::Config, config: &StoreConfig) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // A closed connection is noticed without a round trip; one that dies in use fails
            // that use, and the next checkout replaces it.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let statement_ms = config.statement_timeout.as_millis().max(1);
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .post_create(Hook::async_fn(move |client, _| {
            Box::pin(async move {
                // Generic plans: the statements here are simple lookups by key whose plans do
                // not depend on the values, and planning each execution anew would cost more
                // than running it. (A plan is made again whenever the tables are analyzed.)
                client
                    .batch_execute(&format!(
                        "SET statement_timeout = {statement_ms}; \
                         SET plan_cache_mode = force_generic_plan"
                    ))
                    .await
                    .map_err(HookError::Backend)
            })
        }))
        .build()
        .map_err(|e| StoreError(format!("cannot build the PostgreSQL pool: {e}")))
}

/// The PostgreSQL-backed inbox, one per instance (its lease owner is its own).
pub struct PostgresInbox {
    db: Db,
    owner: Arc<str>,
    /// Appends waiting for the batcher.
    appends: mpsc::UnboundedSender<intake::Append>,
    /// How long a callback waits for its append before the store is called unavailable.
    append_deadline: Duration,
    /// For the `LISTEN` connection, started by the first [`Inbox::work_signal`].
    pg: tokio_postgres::Config,
    signal: OnceLock<Arc<Notify>>,
    /// Cancelled when the inbox is dropped: stops the `LISTEN` connection.
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl PostgresInbox {
    /// Connect to the database of `[store]` (`url`, `pool_size`, `connect_timeout`,
    /// `statement_timeout`), create or migrate its schema, and start the intake batcher on the
    /// current Tokio runtime. Several instances may connect at once.
    ///
    /// # Errors
    /// When `url` is missing or malformed, the database cannot be reached, or the schema
    /// cannot be migrated.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = config
            .url
            .as_ref()
            .ok_or_else(|| StoreError("store.url is required for PostgreSQL".into()))?;
        let pg = pg_config(url.expose(), config)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError("PostgreSQL needs a Tokio runtime".into()))?;
        let db = Db {
            pool: pool(pg.clone(), config)?,
            runtime,
            op_timeout: config.connect_timeout * 2 + config.statement_timeout,
            target: describe(&pg).into(),
        };
        db.run_for(
            "migrate",
            config.connect_timeout * 2 + schema::MIGRATION_TIMEOUT,
            |db| async move {
                let mut conn = db.conn().await?;
                schema::migrate(&mut conn).await
            },
        )
        .await?;
        let owner: Arc<str> = super::lease_owner().into();
        let appends = intake::spawn(db.clone(), owner.clone());
        let stop = CancellationToken::new();
        Ok(PostgresInbox {
            append_deadline: intake::DEADLINE
                .min(config.connect_timeout + config.statement_timeout),
            db,
            owner,
            appends,
            pg,
            signal: OnceLock::new(),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        })
    }

    /// A [`TokenStore`](crate::api::TokenStore) on this database, shared by every instance.
    pub fn tokens(&self) -> PostgresTokenStore {
        PostgresTokenStore::new(self.db.clone())
    }
}

/// Announce work to the other instances (delivered when the surrounding transaction commits,
/// at once outside one).
async fn announce(conn: &tokio_postgres::Client, owner: &str) -> Result<(), StoreError> {
    conn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &owner])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The SQL for an event's derived status, over alias `e`.
const EVENT_STATUS: &str = "CASE
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'dead')
        THEN 'failed'
    ELSE 'done' END";

fn row_to_event(row: &tokio_postgres::Row) -> Result<StoredEvent, StoreError> {
    let status: String = row.try_get(6).map_err(db_error)?;
    Ok(StoredEvent {
        id: row.try_get(0).map_err(db_error)?,
        app: row.try_get(1).map_err(db_error)?,
        kind: row.try_get(2).map_err(db_error)?,
        lane: row.try_get(3).map_err(db_error)?,
        plaintext: row.try_get(4).map_err(db_error)?,
        received_at: row.try_get(5).map_err(db_error)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
    })
}

/// A stored attempt count (never negative) as the trait's `u32`.
fn attempts(row: &tokio_postgres::Row, index: usize) -> Result<u32, StoreError> {
    let n: i32 = row.try_get(index).map_err(db_error)?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Lease runnable deliveries: pending, due, not leased (or the lease expired), and first of
/// their lane (the lane's first pending delivery by event id — a question only the lane index
/// answers without a sort, so that even a plan made on an empty table uses it).
const LEASE: &str = "
WITH runnable AS (
    SELECT d.id FROM deliveries d
    WHERE d.status = 'pending' AND d.app = $1 AND d.handler = $2 AND d.next_at <= $3
      AND (d.lease_until IS NULL OR d.lease_until < $3)
      AND (d.lane IS NULL OR d.event_id = (
            SELECT p.event_id FROM deliveries p
            WHERE p.status = 'pending' AND p.app = d.app AND p.handler = d.handler
              AND p.lane = d.lane
            ORDER BY p.event_id LIMIT 1))
    ORDER BY d.event_id
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
), taken AS (
    UPDATE deliveries d SET lease_owner = $5, lease_until = $6
    FROM runnable r WHERE d.id = r.id
    RETURNING d.id, d.event_id, d.handler, d.attempts
)
SELECT t.id, t.event_id, t.handler, t.attempts, e.received_at, e.plaintext
FROM taken t JOIN events e ON e.id = t.event_id
ORDER BY t.event_id";

const SETTLE: &str = "
WITH settled AS (
    UPDATE deliveries
    SET status = $3, attempts = $4, next_at = coalesce($5, next_at), last_error = $6,
        lease_owner = NULL, lease_until = NULL
    WHERE id = $1 AND lease_owner = $2
    RETURNING app, handler, lane, event_id, status
)
SELECT s.status <> 'pending' AND s.lane IS NOT NULL AND EXISTS (
    SELECT 1 FROM deliveries p
    WHERE p.status = 'pending' AND p.app = s.app AND p.handler = s.handler
      AND p.lane = s.lane AND p.event_id > s.event_id)
FROM settled s";

#[async_trait::async_trait]
impl Inbox for PostgresInbox {
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
        intake::append(&self.appends, event, self.append_deadline).await
    }

    async fn lease(
        &self,
        app: &str,
        handler: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<LeaseBatch, StoreError> {
        let (app, handler, owner) = (app.to_owned(), handler.to_owned(), self.owner.clone());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .run("lease", move |db| async move {
                let conn = db.conn().await?;
                let mut deliveries = Vec::new();
                if limit > 0 {
                    let lease = conn.prepare_cached(LEASE).await.map_err(db_error)?;
                    let rows = conn
                        .query(&lease, &[&app, &handler, &now, &limit, &&*owner, &until])
                        .await
                        .map_err(db_error)?;
                    for row in &rows {
                        deliveries.push(Leased {
                            delivery: super::Delivery {
                                id: row.try_get(0).map_err(db_error)?,
                                event_id: row.try_get(1).map_err(db_error)?,
                                handler: row.try_get(2).map_err(db_error)?,
                                attempts: attempts(row, 3)?,
                                received_at: row.try_get(4).map_err(db_error)?,
                            },
                            plaintext: row.try_get(5).map_err(db_error)?,
                        });
                    }
                }
                let next_due: Option<i64> = conn
                    .query_one(
                        "SELECT min(next_at) FROM deliveries
                         WHERE status = 'pending' AND app = $1 AND handler = $2 AND next_at > $3",
                        &[&app, &handler, &now],
                    )
                    .await
                    .map_err(db_error)?
                    .try_get(0)
                    .map_err(db_error)?;
                Ok(LeaseBatch {
                    deliveries,
                    next_due,
                })
            })
            .await
    }

    async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError> {
        let owner = self.owner.clone();
        self.db
            .run("renew", move |db| async move {
                db.conn()
                    .await?
                    .execute(
                        "UPDATE deliveries SET lease_until = $3
                         WHERE id = ANY($1) AND lease_owner = $2",
                        &[&ids, &&*owner, &until],
                    )
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
            .await
    }

    async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        let owner = self.owner.clone();
        self.db
            .run("release", move |db| async move {
                let conn = db.conn().await?;
                let released = conn
                    .execute(
                        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
                         WHERE id = ANY($1) AND lease_owner = $2",
                        &[&ids, &&*owner],
                    )
                    .await
                    .map_err(db_error)?;
                if released > 0 {
                    announce(&conn, &owner).await?;
                }
                Ok(())
            })
            .await
    }

    async fn settle(
        &self,
        id: i64,
        attempts: u32,
        outcome: Outcome,
    ) -> Result<Settled, StoreError> {
        let owner = self.owner.clone();
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        self.db
            .run("settle", move |db| async move {
                let (status, next_at, error) = match &outcome {
                    Outcome::Done => ("done", None, None),
                    Outcome::Retry { at, error } => ("pending", Some(*at), Some(error.as_str())),
                    Outcome::Dead { error } => ("dead", None, Some(error.as_str())),
                };
                let conn = db.conn().await?;
                let settle = conn.prepare_cached(SETTLE).await.map_err(db_error)?;
                let row = conn
                    .query_opt(
                        &settle,
                        &[&id, &&*owner, &status, &attempts, &next_at, &error],
                    )
                    .await
                    .map_err(db_error)?;
                let Some(row) = row else {
                    return Ok(Settled {
                        recorded: false,
                        lane_has_more: false,
                    });
                };
                let lane_has_more: Option<bool> = row.try_get(0).map_err(db_error)?;
                let lane_has_more = lane_has_more.unwrap_or(false);
                if lane_has_more {
                    announce(&conn, &owner).await?;
                }
                Ok(Settled {
                    recorded: true,
                    lane_has_more,
                })
            })
            .await
    }

    async fn recover(&self) -> Result<u64, StoreError> {
        // Leases are shared: those of an instance that died expire, and anyone takes them.
        Ok(0)
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        self.db
            .run("get", move |db| async move {
                let row = db
                    .conn()
                    .await?
                    .query_opt(
                        &format!(
                            "SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                                    {EVENT_STATUS}
                             FROM events e WHERE e.id = $1"
                        ),
                        &[&id],
                    )
                    .await
                    .map_err(db_error)?;
                row.as_ref().map(row_to_event).transpose()
            })
            .await
    }

    async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.db
            .run("deliveries", move |db| async move {
                let rows = db
                    .conn()
                    .await?
                    .query(
                        "SELECT id, handler, status, attempts, next_at, lease_until, last_error
                         FROM deliveries WHERE event_id = $1 ORDER BY id",
                        &[&event_id],
                    )
                    .await
                    .map_err(db_error)?;
                rows.iter()
                    .map(|r| {
                        let status = DeliveryStatus::parse(r.try_get(2).map_err(db_error)?);
                        let pending = status == DeliveryStatus::Pending;
                        Ok(DeliveryRecord {
                            id: r.try_get(0).map_err(db_error)?,
                            handler: r.try_get(1).map_err(db_error)?,
                            status,
                            attempts: attempts(r, 3)?,
                            next_attempt_at: if pending {
                                Some(r.try_get(4).map_err(db_error)?)
                            } else {
                                None
                            },
                            leased_until: if pending {
                                r.try_get(5).map_err(db_error)?
                            } else {
                                None
                            },
                            last_error: r.try_get(6).map_err(db_error)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.db
            .run("list", move |db| async move {
                let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
                let status = filter.status.map(Status::as_str);
                let conn = db.conn().await?;
                let rows = match &filter.handler {
                    None => conn
                        .query(
                            &format!(
                                "SELECT * FROM (
                                   SELECT e.id, e.app, e.kind, e.order_key, e.plaintext,
                                          e.received_at, {EVENT_STATUS} AS status
                                   FROM events e) s
                                 WHERE $1::text IS NULL OR s.status = $1
                                 ORDER BY s.id DESC LIMIT $2"
                            ),
                            &[&status, &limit],
                        )
                        .await
                        .map_err(db_error)?,
                    // The handler's delivery decides: pending, done, or dead (listed as failed).
                    Some(handler) => conn
                        .query(
                            "SELECT * FROM (
                               SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                                      CASE d.status WHEN 'dead' THEN 'failed'
                                                    ELSE d.status END AS status
                               FROM events e JOIN deliveries d
                                 ON d.event_id = e.id AND d.handler = $3) s
                             WHERE $1::text IS NULL OR s.status = $1
                             ORDER BY s.id DESC LIMIT $2",
                            &[&status, &limit, handler],
                        )
                        .await
                        .map_err(db_error)?,
                };
                rows.iter().map(row_to_event).collect()
            })
            .await
    }

    async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError> {
        let owner = self.owner.clone();
        let now = crate::clock::now_ms();
        self.db
            .run("retry", move |db| async move {
                let conn = db.conn().await?;
                let n = conn
                    .execute(
                        "UPDATE deliveries
                         SET status = 'pending', attempts = 0, next_at = $3,
                             lease_owner = NULL, lease_until = NULL
                         WHERE status = 'dead' AND ($1::bigint IS NULL OR event_id = $1)
                           AND ($2::text IS NULL OR handler = $2)",
                        &[&filter.event_id, &filter.handler, &now],
                    )
                    .await
                    .map_err(db_error)?;
                if n > 0 {
                    announce(&conn, &owner).await?;
                }
                Ok(n)
            })
            .await
    }

    async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError> {
        let (app, handler, owner) = (app.to_owned(), handler.to_owned(), self.owner.clone());
        let now = crate::clock::now_ms();
        self.db
            .run("redeliver", move |db| async move {
                let conn = db.conn().await?;
                let n = conn
                    .execute(
                        "INSERT INTO deliveries (event_id, app, handler, lane, next_at, created_at)
                         SELECT e.id, e.app, $2, e.order_key, $4, $4 FROM events e
                         WHERE e.app = $1 AND e.received_at >= $3
                           AND NOT EXISTS (SELECT 1 FROM deliveries d
                                           WHERE d.event_id = e.id AND d.handler = $2)
                         ORDER BY e.id
                         ON CONFLICT (event_id, handler) DO NOTHING",
                        &[&app, &handler, &since, &now],
                    )
                    .await
                    .map_err(db_error)?;
                if n > 0 {
                    announce(&conn, &owner).await?;
                }
                Ok(n)
            })
            .await
    }

    async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        self.db
            .run("purge", move |db| async move {
                // SKIP LOCKED: instances purging at the same time take different rows.
                db.conn()
                    .await?
                    .execute(
                        "DELETE FROM events WHERE id IN (
                           SELECT e.id FROM events e
                           WHERE e.received_at < $1
                             AND NOT EXISTS (SELECT 1 FROM deliveries d
                                             WHERE d.event_id = e.id AND d.status <> 'done')
                           ORDER BY e.id LIMIT $2
                           FOR UPDATE SKIP LOCKED)",
                        &[&before, &batch],
                    )
                    .await
                    .map_err(db_error)
            })
            .await
    }

    async fn purge_failed(&self, before: i64) -> Result<u64, StoreError> {
        self.db
            .run("purge failed", move |db| async move {
                db.conn()
                    .await?
                    .execute(
                        "DELETE FROM events e
                         WHERE e.received_at < $1
                           AND EXISTS (SELECT 1 FROM deliveries d
                                       WHERE d.event_id = e.id AND d.status = 'dead')
                           AND NOT EXISTS (SELECT 1 FROM deliveries d
                                           WHERE d.event_id = e.id AND d.status = 'pending')",
                        &[&before],
                    )
                    .await
                    .map_err(db_error)
            })
            .await
    }

    async fn stats(&self, now: i64) -> Result<Stats, StoreError> {
        self.db
            .run("stats", move |db| async move {
                let conn = db.conn().await?;
                let rows = conn
                    .query(
                        "SELECT app, handler, count(*), min(created_at), 0::bigint
                         FROM deliveries WHERE status = 'pending' GROUP BY app, handler
                         UNION ALL
                         SELECT app, handler, 0::bigint, NULL::bigint, count(*)
                         FROM deliveries WHERE status = 'dead' GROUP BY app, handler",
                        &[],
                    )
                    .await
                    .map_err(db_error)?;
                let mut handlers: Vec<HandlerGauges> = Vec::new();
                for row in &rows {
                    let app: String = row.try_get(0).map_err(db_error)?;
                    let handler: String = row.try_get(1).map_err(db_error)?;
                    let pending: i64 = row.try_get(2).map_err(db_error)?;
                    let oldest: Option<i64> = row.try_get(3).map_err(db_error)?;
                    let dead: i64 = row.try_get(4).map_err(db_error)?;
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
                    let gauges = &mut handlers[at];
                    gauges.pending += u64::try_from(pending).unwrap_or(0);
                    gauges.dead += u64::try_from(dead).unwrap_or(0);
                    if let Some(oldest) = oldest {
                        gauges.oldest_pending_seconds =
                            u64::try_from(now.saturating_sub(oldest) / 1000).unwrap_or(0);
                    }
                }
                let events_pending: i64 = conn
                    .query_one(
                        "SELECT count(DISTINCT event_id) FROM deliveries WHERE status = 'pending'",
                        &[],
                    )
                    .await
                    .map_err(db_error)?
                    .try_get(0)
                    .map_err(db_error)?;
                Ok(Stats {
                    handlers,
                    events_pending: u64::try_from(events_pending).unwrap_or(0),
                })
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_for("ping", PING_TIMEOUT, |db| async move {
                db.conn()
                    .await?
                    .simple_query("SELECT 1")
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
            .await
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        let signal = self.signal.get_or_init(|| {
            let signal = Arc::new(Notify::new());
            self.db.runtime.spawn(listen::run(
                self.pg.clone(),
                self.owner.clone(),
                signal.clone(),
                self.stop.clone(),
            ));
            signal
        });
        Some(signal.clone())
    }

    fn token_store(&self) -> Option<Arc<dyn crate::api::TokenStore>> {
        Some(Arc::new(self.tokens()))
    }
}

#[cfg(test)]
pub(crate) mod testdb;

#[cfg(test)]
mod tests;
