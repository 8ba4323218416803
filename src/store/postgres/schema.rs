//! The PostgreSQL schema and its migrations, applied by every instance at start.
//!
//! `schema_version` holds the number of migrations applied. Each start runs the missing ones in
//! one transaction that first takes an advisory lock, so instances starting together migrate
//! one after the other: the first does the work, the others wait for it — as long as it works,
//! however long that is ([`take_migration_lock`]) — and find it done. A database migrated by a
//! newer build (a higher version) is left alone.

use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Transaction};

use super::{LOCK_CLASS, db_error, try_xact_lock};
use crate::store::StoreError;

/// How long a start waits for each table lock it needs (a table that an instance of an older
/// version is writing to), and for the migration lock held by a connection that does nothing
/// with it. Another instance's migration at work is waited for however long it takes (within
/// [`MIGRATION_LIMIT`]), and the migration's own work is not timed.
pub(super) const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(60);

/// How often a start waiting for another instance's migration tries the lock again.
const MIGRATION_LOCK_POLL: Duration = Duration::from_millis(100);

/// When a start waiting for another instance's migration first says so in the log (instances
/// started together usually wait a few milliseconds for one another's version check).
const MIGRATION_WAIT_LOGGED_AFTER: Duration = Duration::from_secs(1);

/// How often, after that, a start waiting for another instance's migration says so again.
const MIGRATION_WAIT_LOGGED_EVERY: Duration = Duration::from_secs(30);

/// How long a whole migration may take before the start gives up (a server that hangs rather
/// than works): a migration that builds an index reads the whole table, which on a store of
/// millions of events takes minutes, and a start that gave up would never get past it.
pub(super) const MIGRATION_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The second key of the migration lock.
pub(super) const MIGRATION_LOCK: i32 = 1;

/// The migrations in order; the schema version is how many of them ran.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: events, one delivery per handler, access tokens.
    "
CREATE TABLE events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app         TEXT    NOT NULL,
    dedup_key   BYTEA   NOT NULL,
    kind        TEXT    NOT NULL,
    order_key   TEXT,
    plaintext   TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    UNIQUE (app, dedup_key)
);
CREATE TABLE deliveries (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    app         TEXT    NOT NULL,
    handler     TEXT    NOT NULL,
    lane        TEXT,
    status      TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'done', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT  NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT  NOT NULL,
    UNIQUE (event_id, handler)
);
-- Only unfinished deliveries are looked up by lane, due time or state, so finished ones stay
-- out of these indexes.
CREATE INDEX deliveries_lane ON deliveries (app, handler, lane, event_id)
    WHERE status = 'pending';
CREATE INDEX deliveries_due ON deliveries (app, handler, next_at)
    WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (app, handler)
    WHERE status = 'dead';
CREATE TABLE tokens (
    key        TEXT   PRIMARY KEY,
    token      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
",
    // 2: retries recognised by a hash index on the dedup key alone (it hashes the app too):
    // keys fall at random places within their second, and a B-tree on (app, dedup_key) paid
    // a descent with two-column comparisons per insert; a hash bucket is found directly.
    "
ALTER TABLE events ADD CONSTRAINT events_dedup EXCLUDE USING hash (dedup_key WITH =);
ALTER TABLE events DROP CONSTRAINT events_app_dedup_key_key;
",
    // 3: the due index leaves out the deliveries waiting for their lane (`next_at` =
    // `LANE_WAIT`, i64::MAX): a query that does not say `next_at < LANE_WAIT` — finding a
    // lane's first pending delivery — cannot use it. Both partial indexes looked empty to a
    // planner whose statistics were taken when no delivery was pending (an analyze between
    // bursts), and it then found a lane's first delivery by walking every pending delivery of
    // the handler in the due index: intake with a handler fell from ~6,000 to ~1,700
    // callbacks/s, and a backlog made it worse.
    "
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (app, handler, next_at)
    WHERE status = 'pending' AND next_at < 9223372036854775807;
",
];

/// Bring the schema up to date, waiting for any other instance migrating at the same time.
///
/// # Errors
/// When the database refuses a statement (then nothing of the migration is applied).
pub(super) async fn migrate(conn: &mut Object) -> Result<(), StoreError> {
    migrate_waiting(conn, MIGRATION_LOCK_WAIT).await
}

/// [`migrate`], waiting at most `lock_wait` for each table lock and for a migration lock
/// whose holder does nothing (see [`take_migration_lock`]).
pub(super) async fn migrate_waiting(
    conn: &mut Object,
    lock_wait: Duration,
) -> Result<(), StoreError> {
    let tx = conn.transaction().await.map_err(db_error)?;
    // Table lock waits are timed, the work is not (the client still bounds the whole start by
    // `MIGRATION_LIMIT`). No "already exists, skipping" notices in the log at every start.
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = 0;
         SET LOCAL client_min_messages = warning",
        lock_wait.as_millis()
    ))
    .await
    .map_err(db_error)?;
    take_migration_lock(&tx, lock_wait).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(db_error)?;
    let version: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(db_error)?
        .try_get(0)
        .map_err(db_error)?;
    let applied = usize::try_from(version.unwrap_or(0)).unwrap_or(0);
    if applied >= MIGRATIONS.len() {
        return tx.commit().await.map_err(db_error);
    }
    tracing::info!(
        from = applied,
        to = MIGRATIONS.len(),
        "migrating the PostgreSQL schema (a migration that builds an index reads the whole \
         table: on a large store this takes a while)"
    );
    for migration in &MIGRATIONS[applied..] {
        tx.batch_execute(migration).await.map_err(db_error)?;
    }
    let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute("DELETE FROM schema_version", &[])
        .await
        .map_err(db_error)?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES ($1)",
        &[&latest],
    )
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(from = applied, to = latest, "PostgreSQL schema migrated");
    Ok(())
}

/// The connection holding the migration lock, as the database shows it.
pub(super) struct LockHolder {
    /// Its backend's process id.
    pid: i32,
    /// `pg_stat_activity.state`: `active` while it runs a statement; none when this role may
    /// not see another role's sessions.
    state: Option<String>,
    /// How long it has been in that state.
    in_state_for: Duration,
    /// Its `application_name`.
    application: String,
}

impl LockHolder {
    /// Whether the holder has sat without running a statement for longer than `limit`: a
    /// migration sends its statements back to back, so this one is not migrating (a client
    /// stopped or hung with its transaction open).
    fn stalled(&self, limit: Duration) -> bool {
        self.state.as_deref().is_some_and(|state| state != "active") && self.in_state_for > limit
    }
}

/// Take the migration lock (for this transaction). While another instance migrates — an index
/// build on a large store takes minutes — the wait goes on, logged after
/// [`MIGRATION_WAIT_LOGGED_AFTER`] and every [`MIGRATION_WAIT_LOGGED_EVERY`] with the holder's
/// backend, bounded only by the start's [`MIGRATION_LIMIT`]: instances started together (a
/// rolling deploy) wait for the first instead of failing after a fixed time. A holder that
/// sits idle in its transaction for more than `lock_wait` is not migrating, and the start gives
/// up naming it.
async fn take_migration_lock(tx: &Transaction<'_>, lock_wait: Duration) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut log_at = started + MIGRATION_WAIT_LOGGED_AFTER;
    loop {
        if try_xact_lock(tx, MIGRATION_LOCK).await? {
            return Ok(());
        }
        if let Some(holder) = migration_lock_holder(tx).await? {
            if holder.stalled(lock_wait) {
                return Err(StoreError(format!(
                    "the schema migration lock is held by PostgreSQL backend {} ({}), which \
                     has done nothing for {} s: end that session (pg_terminate_backend) or \
                     retry",
                    holder.pid,
                    crate::log::Escaped(&holder.application),
                    holder.in_state_for.as_secs()
                )));
            }
            if Instant::now() >= log_at {
                tracing::info!(
                    backend = holder.pid,
                    application = %crate::log::Escaped(&holder.application),
                    waited_s = started.elapsed().as_secs(),
                    "another instance is migrating the PostgreSQL schema: waiting for it"
                );
                log_at = Instant::now() + MIGRATION_WAIT_LOGGED_EVERY;
            }
        }
        tokio::time::sleep(MIGRATION_LOCK_POLL).await;
    }
}

/// Who holds this database's migration lock, if anyone still does (advisory locks are per
/// database: instances of another deployment on the same server hold their own).
pub(super) async fn migration_lock_holder(
    tx: &Transaction<'_>,
) -> Result<Option<LockHolder>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT a.pid, a.state,
                    COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - a.state_change), 0)::float8,
                    COALESCE(a.application_name, '')
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid AND l.objsubid = 2
             LIMIT 1",
            &[&LOCK_CLASS, &MIGRATION_LOCK],
        )
        .await
        .map_err(db_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let seconds: f64 = row.try_get(2).map_err(db_error)?;
    Ok(Some(LockHolder {
        pid: row.try_get(0).map_err(db_error)?,
        state: row.try_get(1).map_err(db_error)?,
        in_state_for: Duration::try_from_secs_f64(seconds).unwrap_or_default(),
        application: row.try_get(3).map_err(db_error)?,
    }))
}
