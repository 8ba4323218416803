//! The PostgreSQL schema and its migrations, applied by every instance at start.
//!
//! `schema_version` holds the number of migrations applied. Each start runs the missing ones in
//! one transaction that first takes an advisory lock, so instances starting together migrate
//! one after the other: the first does the work, the others find it done. A database migrated
//! by a newer build (a higher version) is left alone.

use std::time::Duration;

use deadpool_postgres::Object;

use super::{LOCK_CLASS, db_error};
use crate::store::StoreError;

/// How long a start waits for each lock it needs: another instance's migration, or a table
/// that an instance of an older version is writing to. The migration's own work is not timed.
pub(super) const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(60);

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

/// [`migrate`], waiting at most `lock_wait` for each lock.
pub(super) async fn migrate_waiting(
    conn: &mut Object,
    lock_wait: Duration,
) -> Result<(), StoreError> {
    let tx = conn.transaction().await.map_err(db_error)?;
    // Lock waits are timed, the work is not (the client still bounds the whole start by
    // `MIGRATION_LIMIT`). No "already exists, skipping" notices in the log at every start.
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = 0;
         SET LOCAL client_min_messages = warning",
        lock_wait.as_millis()
    ))
    .await
    .map_err(db_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &MIGRATION_LOCK],
    )
    .await
    .map_err(db_error)?;
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
