//! Event and delivery ids that are never given twice, without `AUTOINCREMENT`.
//!
//! An event's id is what forwards send as `webhook-id` (a receiver's idempotency key) and what
//! operators name in `events show`, so a purged event's id must never come back. SQLite's
//! `AUTOINCREMENT` ensures that by keeping the largest id ever used in `sqlite_sequence`, which
//! it reads and rewrites at every insert: a page more written with every commit, and the most
//! costly part of storing a callback after the event row itself. Without it, a new row gets
//! the table's largest id + 1, which repeats an id only when a purge removed the newest rows.
//!
//! So a purge first records each table's largest id in `id_floor` ([`record_floors`]), and the
//! writer gives the next row an id above that floor when the table's own largest id is below
//! it ([`Ids`]); otherwise SQLite numbers the row itself. The writer looks again after every
//! purge, and whenever another process has written to the store.

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// The table this module owns (part of the schema).
pub(super) const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS id_floor (name TEXT PRIMARY KEY, floor INTEGER NOT NULL);";

/// Record the largest id of `events` and of `deliveries` as their floor: called before rows
/// are deleted, in the same transaction.
///
/// # Errors
/// The store could not be written.
pub(super) fn record_floors(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO id_floor (name, floor)
           SELECT name, floor FROM (
               SELECT 'events' AS name, (SELECT max(id) FROM events) AS floor
               UNION ALL SELECT 'deliveries', (SELECT max(id) FROM deliveries))
           WHERE floor IS NOT NULL
         ON CONFLICT (name) DO UPDATE SET floor = max(floor, excluded.floor)",
    )?
    .execute([])?;
    Ok(())
}

/// Where a table's next id stands, as far as the writer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Not known: look before the next insert.
    Unknown,
    /// The table's largest id is at or above its floor: SQLite numbers the next row.
    Numbered,
    /// The next row's id must be this (a purge left the table below its floor).
    Explicit(i64),
}

/// The writer's view of where ids stand in `events` and `deliveries`.
#[derive(Debug)]
pub(super) struct Ids {
    events: Next,
    deliveries: Next,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            events: Next::Unknown,
            deliveries: Next::Unknown,
        }
    }
}

impl Ids {
    /// Look again before the next insert: after a purge, a rollback, an undone insert, or a
    /// write by another process.
    pub(super) fn forget(&mut self) {
        *self = Ids::default();
    }

    /// The id for the next event: `None` lets SQLite number it.
    ///
    /// # Errors
    /// The store could not be read.
    pub(super) fn next_event(&mut self, conn: &Connection) -> Result<Option<i64>, StoreError> {
        next(conn, &mut self.events, "events")
    }

    /// The id for the next delivery: `None` lets SQLite number it.
    ///
    /// # Errors
    /// The store could not be read.
    pub(super) fn next_delivery(&mut self, conn: &Connection) -> Result<Option<i64>, StoreError> {
        next(conn, &mut self.deliveries, "deliveries")
    }
}

/// The id for the next row of `table` (`events` or `deliveries`), knowing `next`.
fn next(conn: &Connection, next: &mut Next, table: &str) -> Result<Option<i64>, StoreError> {
    if *next == Next::Unknown {
        let (largest, floor): (Option<i64>, Option<i64>) = conn
            .prepare_cached(&format!(
                "SELECT (SELECT max(id) FROM {table}),
                        (SELECT floor FROM id_floor WHERE name = ?1)"
            ))?
            .query_row([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((None, None));
        *next = match floor {
            Some(floor) if floor > largest.unwrap_or(0) => Next::Explicit(floor + 1),
            _ => Next::Numbered,
        };
    }
    Ok(match *next {
        Next::Explicit(id) => {
            // Once this row is in, the table's largest id is above the floor.
            *next = Next::Numbered;
            Some(id)
        }
        _ => None,
    })
}
