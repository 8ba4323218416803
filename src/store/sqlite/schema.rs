//! The SQLite inbox's schema, and the migration of every older version to it.
//!
//! `PRAGMA user_version` holds the version. A store is migrated in one transaction when it is
//! opened (under the foreign-key checks' suspension, as SQLite's table rebuild requires), so a
//! failed migration leaves the old schema as it was.

use rusqlite::Connection;

use super::dedup;
use crate::store::StoreError;

/// The schema version this code writes (`PRAGMA user_version`). Version 3 added `tokens`;
/// version 4 replaced the unique key on `events (app, dedup_key)` by the `dedup` table; version
/// 5 gave up `AUTOINCREMENT` on `events` and `deliveries` for [`ids`](super::ids), which
/// hands out ids that never repeat without a write to `sqlite_sequence` at every insert.
pub(super) const SCHEMA_VERSION: i64 = 5;

const EVENTS: &str = "
    id          INTEGER PRIMARY KEY,
    app         TEXT    NOT NULL,
    dedup_key   BLOB    NOT NULL,
    kind        TEXT    NOT NULL,
    order_key   TEXT,
    plaintext   TEXT    NOT NULL,
    received_at INTEGER NOT NULL
";

const EVENT_COLUMNS: &str = "id, app, dedup_key, kind, order_key, plaintext, received_at";

const DELIVERIES: &str = "
    id          INTEGER PRIMARY KEY,
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
";

const DELIVERY_COLUMNS: &str = "id, event_id, app, handler, lane, status, attempts, next_at, \
                                lease_owner, lease_until, last_error, created_at";

/// Everything besides the two main tables and what other modules own.
const SCHEMA: &str = "
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

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<(), StoreError> {
        let had_runs = exists(conn, "type = 'table' AND name = 'handler_runs'")?;
        let old_events = exists(
            conn,
            "type = 'table' AND name = 'events' AND sql LIKE '%AUTOINCREMENT%'",
        )? || exists(
            conn,
            "type = 'index' AND name LIKE 'sqlite_autoindex_events_%'",
        )?;
        let old_deliveries = exists(
            conn,
            "type = 'table' AND name = 'deliveries' AND sql LIKE '%AUTOINCREMENT%'",
        )?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS events ({EVENTS});
             CREATE TABLE IF NOT EXISTS deliveries ({DELIVERIES});"
        ))?;
        if had_runs {
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
        if old_events || old_deliveries {
            tracing::info!("rebuilding the events and deliveries tables once (store version 5)");
            // The largest ids ever given, purged rows' included, stay the floor of new ones.
            if exists(conn, "type = 'table' AND name = 'sqlite_sequence'")? {
                conn.execute_batch(&format!(
                    "{}
                     INSERT INTO id_floor (name, floor)
                       SELECT name, seq FROM sqlite_sequence
                       WHERE name IN ('events', 'deliveries') AND seq IS NOT NULL
                     ON CONFLICT (name) DO UPDATE SET floor = max(floor, excluded.floor);",
                    super::ids::SCHEMA
                ))?;
            }
        }
        if old_events {
            rebuild(conn, "events", EVENTS, EVENT_COLUMNS)?;
        }
        if old_deliveries {
            rebuild(conn, "deliveries", DELIVERIES, DELIVERY_COLUMNS)?;
        }
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(super::ids::SCHEMA)?;
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

/// Whether `sqlite_master` has a row matching `condition`.
fn exists(conn: &Connection, condition: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare(&format!("SELECT 1 FROM sqlite_master WHERE {condition}"))?
        .exists([])?)
}

/// Copy `table` into a new table of `columns` (its definition), under the same name. Its
/// indexes and triggers go with the old table; the caller creates them again.
fn rebuild(
    conn: &Connection,
    table: &str,
    definition: &str,
    columns: &str,
) -> Result<(), StoreError> {
    conn.execute_batch(&format!(
        "CREATE TABLE {table}_rebuilt ({definition});
         INSERT INTO {table}_rebuilt ({columns}) SELECT {columns} FROM {table};
         DROP TABLE {table};
         ALTER TABLE {table}_rebuilt RENAME TO {table};"
    ))?;
    Ok(())
}

/// The version 3 schema (for migration tests): these tables with `AUTOINCREMENT` ids and the
/// unique key on `events` that version 4 replaced.
#[cfg(test)]
pub(super) fn version_three() -> String {
    let autoincrement = |columns: &str| {
        columns.replacen(
            "INTEGER PRIMARY KEY,",
            "INTEGER PRIMARY KEY AUTOINCREMENT,",
            1,
        )
    };
    format!(
        "CREATE TABLE events ({}, UNIQUE (app, dedup_key));
         CREATE TABLE deliveries ({});
         {SCHEMA}",
        autoincrement(EVENTS),
        autoincrement(DELIVERIES)
    )
}
