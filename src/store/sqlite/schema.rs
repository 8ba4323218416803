//! The SQLite inbox's schema, and the migration of every older version to it.
//!
//! `PRAGMA user_version` holds the version. A store is migrated in one transaction when it is
//! opened (under the foreign-key checks' suspension, as SQLite's table rebuild requires), so a
//! failed migration leaves the old schema as it was.

use rusqlite::{Connection, OptionalExtension};

use super::dedup;
use crate::store::StoreError;

/// The schema version this code writes (`PRAGMA user_version`). Version 3 added `tokens`;
/// version 4 moved the dedup keys' index out of `events` (see [`super::dedup`]).
pub(super) const SCHEMA_VERSION: i64 = 4;

/// The columns of `events` (without a unique key: see [`super::dedup`]).
const EVENTS: &str = "
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT    NOT NULL,
    dedup_key   BLOB    NOT NULL,
    kind        TEXT    NOT NULL,
    order_key   TEXT,
    plaintext   TEXT    NOT NULL,
    received_at INTEGER NOT NULL
";

/// Everything but `events` and the dedup tables.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    app         TEXT    NOT NULL,
    handler     TEXT    NOT NULL,
    lane        TEXT,
    status      TEXT    NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (event_id, handler)
);
-- Only unfinished deliveries are looked up by lane, due time or state, so finished ones stay
-- out of these indexes (queries repeat each index's condition so SQLite can use it).
CREATE INDEX IF NOT EXISTS deliveries_lane ON deliveries (app, handler, lane, event_id)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (app, handler, next_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (app, handler)
    WHERE status = 'dead';
CREATE TABLE IF NOT EXISTS tokens (
    key        TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
";

/// Bring an older schema up to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    // Rebuilding a table that others reference needs the foreign-key checks off, and that
    // switch is ignored inside a transaction.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<(), StoreError> {
        let had_runs: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'handler_runs'")?
            .exists([])?;
        let unique_keys: bool = conn
            .prepare(
                "SELECT 1 FROM sqlite_master
                 WHERE type = 'index' AND name LIKE 'sqlite_autoindex_events_%'",
            )?
            .exists([])?;
        conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS events ({EVENTS});"))?;
        conn.execute_batch(SCHEMA)?;
        if had_runs {
            // Version 1 kept one row per handler that had run, and the event's state on the
            // event. Every recorded run becomes a delivery; pending events with no run yet had
            // no record of their handlers and are reported for `events redeliver`.
            conn.execute_batch(
                "INSERT OR IGNORE INTO deliveries
                   (event_id, app, handler, lane, status, attempts, next_at, last_error, created_at)
                 SELECT r.event_id, e.app, r.handler, e.order_key,
                        CASE r.state WHEN 'done' THEN 'done' WHEN 'dead' THEN 'dead'
                                     ELSE 'pending' END,
                        r.attempts, e.received_at, r.last_error, e.received_at
                 FROM handler_runs r JOIN events e ON e.id = r.event_id;",
            )?;
            let orphans: i64 = conn.query_row(
                "SELECT COUNT(*) FROM events e WHERE e.status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
                [],
                |r| r.get(0),
            )?;
            if orphans > 0 {
                tracing::warn!(
                    events = orphans,
                    "events stored by an earlier version had not started; \
                     `events redeliver --handler H --since T` creates their deliveries"
                );
            }
            conn.execute_batch(
                "DROP TABLE handler_runs;
                 DROP INDEX IF EXISTS events_unfinished;
                 DROP INDEX IF EXISTS events_by_status;
                 ALTER TABLE events DROP COLUMN status;",
            )?;
        }
        if unique_keys {
            drop_unique_keys(conn)?;
        }
        conn.execute_batch(dedup::SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    })();
    let result = result.and_then(|()| Ok(conn.execute_batch("COMMIT")?));
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
}

/// Rebuild `events` without the unique index on its dedup keys (versions before 4), keeping
/// every id and the id sequence. The keys are indexed again by the first sweep.
fn drop_unique_keys(conn: &Connection) -> Result<(), StoreError> {
    tracing::info!("rebuilding the events table once for the new dedup index (store version 4)");
    let sequence: Option<i64> = conn
        .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    conn.execute_batch(&format!(
        "CREATE TABLE events_v4 ({EVENTS});
         INSERT INTO events_v4 (id, app, dedup_key, kind, order_key, plaintext, received_at)
           SELECT id, app, dedup_key, kind, order_key, plaintext, received_at FROM events;
         DROP TABLE events;
         ALTER TABLE events_v4 RENAME TO events;"
    ))?;
    if let Some(sequence) = sequence {
        conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'events'",
            [sequence],
        )?;
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', ?1
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')",
            [sequence],
        )?;
    }
    Ok(())
}

/// The schema of version 3: a unique index on `events`' dedup keys, no dedup tables.
#[cfg(test)]
pub(super) fn version_three() -> String {
    format!("CREATE TABLE events ({EVENTS}, UNIQUE (app, dedup_key));{SCHEMA}")
}
