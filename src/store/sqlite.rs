//! The default [`Inbox`]: one SQLite file in WAL mode with `synchronous = FULL`.
//!
//! All statements run on one writer thread that owns the connection. It takes every operation
//! queued at that moment and runs them in a single transaction (group commit), answering each
//! caller only after that transaction is durable. Under load one fsync then covers many
//! callbacks, so durability does not cap throughput; when idle a lone callback commits alone.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::config::Synchronous;

use super::{
    Appended, Depth, HandlerRun, Inbox, NewEvent, RunState, Status, StoreError, StoredEvent,
};

/// The most operations committed in one transaction.
const MAX_BATCH: usize = 512;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT    NOT NULL,
    dedup_key   BLOB    NOT NULL,
    kind        TEXT    NOT NULL,
    order_key   TEXT,
    plaintext   TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending',
    UNIQUE (app, dedup_key)
);
-- Only unfinished events are looked up by status, so finished ones stay out of the index
-- (queries repeat the index's condition `status != 'done'` so SQLite can use it).
DROP INDEX IF EXISTS events_by_status;
CREATE INDEX IF NOT EXISTS events_unfinished ON events (status, id) WHERE status != 'done';
CREATE TABLE IF NOT EXISTS handler_runs (
    event_id   INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    handler    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (event_id, handler)
);
";

/// Delivers a job's result once its transaction has committed (or failed to).
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// One operation for the writer thread.
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// The SQLite-backed inbox.
pub struct SqliteInbox {
    jobs: mpsc::Sender<Job>,
}

impl SqliteInbox {
    /// Open (creating if needed) the database at `path` with `synchronous = FULL` and start
    /// its writer thread.
    ///
    /// # Errors
    /// When the directory cannot be created or the file cannot be opened as a database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Synchronous::Full)
    }

    /// Open with the given durability setting (see [`Synchronous`]).
    ///
    /// # Errors
    /// When the directory cannot be created or the file cannot be opened as a database.
    pub fn open_with(path: &Path, synchronous: Synchronous) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checkpoint (copy the WAL back into the database) every ~40 MB rather than every 4 MB:
        // index pages rewritten by many commits are then copied once, and acknowledgements
        // stall on a checkpoint far less often. The WAL file is cut back to 64 MB afterwards.
        conn.pragma_update(None, "wal_autocheckpoint", 10000)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let level = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", level)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-inbox".into())
            .spawn(move || writer(conn, queue))
            .map_err(|e| StoreError(format!("cannot start the inbox thread: {e}")))?;
        Ok(SqliteInbox { jobs })
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.and(result));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError("inbox thread stopped".into()))?;
        rx.await
            .map_err(|_| StoreError("inbox thread stopped".into()))?
    }
}

/// The writer thread: batch whatever is queued into one transaction, then answer.
fn writer(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let begun = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from);
        if let Err(e) = begun {
            for job in batch {
                job(&conn)(Err(e.clone()));
            }
            continue;
        }
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn row_to_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let status: String = row.get(7)?;
    Ok(StoredEvent {
        id: row.get(0)?,
        app: row.get(1)?,
        kind: row.get(2)?,
        order_key: row.get(3)?,
        plaintext: row.get(4)?,
        received_at: row.get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
    })
}

fn record_run(conn: &Connection, id: i64, run: &HandlerRun) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO handler_runs (event_id, handler, state, attempts, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (event_id, handler) DO UPDATE SET
           state = excluded.state, attempts = excluded.attempts,
           last_error = excluded.last_error",
    )?
    .execute(params![
        id,
        run.handler,
        run.state.as_str(),
        run.attempts,
        run.last_error
    ])?;
    Ok(())
}

fn finish_event(conn: &Connection, id: i64, status: Status) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE events SET status = ?2 WHERE id = ?1")?
        .execute(params![id, status.as_str()])?;
    Ok(())
}

const EVENT_COLUMNS: &str = "id, app, kind, order_key, plaintext, received_at, dedup_key, status";

#[async_trait::async_trait]
impl Inbox for SqliteInbox {
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
        self.call(move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO events
                       (app, dedup_key, kind, order_key, plaintext, received_at, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    event.app,
                    &event.dedup_key[..],
                    event.kind,
                    event.order_key,
                    event.plaintext,
                    event.received_at,
                    if event.finished { "done" } else { "pending" }
                ])?;
            if inserted == 1 {
                return Ok(Appended::New(conn.last_insert_rowid()));
            }
            let id: i64 = conn
                .prepare_cached("SELECT id FROM events WHERE app = ?1 AND dedup_key = ?2")?
                .query_row(params![event.app, &event.dedup_key[..]], |r| r.get(0))?;
            Ok(Appended::Duplicate(id))
        })
        .await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events
                 WHERE status != 'done' AND status = 'pending' ORDER BY id LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit as i64], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?
                .query_row([id], row_to_event)
                .optional()?)
        })
        .await
    }

    async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&match status {
                Some(Status::Pending | Status::Failed) => format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE status != 'done' AND status = ?1 ORDER BY id DESC LIMIT ?2"
                ),
                _ => format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2"
                ),
            })?;
            let rows = stmt.query_map(
                params![status.map(Status::as_str), limit as i64],
                row_to_event,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn runs(&self, id: i64) -> Result<Vec<HandlerRun>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT handler, state, attempts, last_error FROM handler_runs
                 WHERE event_id = ?1 ORDER BY handler",
            )?;
            let rows = stmt.query_map([id], |row| {
                let state: String = row.get(1)?;
                Ok(HandlerRun {
                    handler: row.get(0)?,
                    state: RunState::parse(&state),
                    attempts: row.get(2)?,
                    last_error: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn record(&self, id: i64, run: HandlerRun) -> Result<(), StoreError> {
        self.call(move |conn| record_run(conn, id, &run)).await
    }

    async fn settle(
        &self,
        id: i64,
        run: HandlerRun,
        status: Option<Status>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            record_run(conn, id, &run)?;
            if let Some(status) = status {
                finish_event(conn, id, status)?;
            }
            Ok(())
        })
        .await
    }

    async fn finish(&self, id: i64, status: Status) -> Result<(), StoreError> {
        self.call(move |conn| finish_event(conn, id, status)).await
    }

    async fn retry(&self, id: i64) -> Result<bool, StoreError> {
        self.call(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE events SET status = 'pending' WHERE id = ?1 AND status = 'failed'",
                )?
                .execute([id])?;
            if changed == 0 {
                return Ok(false);
            }
            conn.prepare_cached(
                "UPDATE handler_runs SET state = 'retry', attempts = 0
                 WHERE event_id = ?1 AND state = 'dead'",
            )?
            .execute([id])?;
            Ok(true)
        })
        .await
    }

    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.call(move |conn| {
            let n = conn
                .prepare_cached(
                    "DELETE FROM events
                     WHERE id < coalesce(
                             (SELECT id FROM events WHERE received_at >= ?1 ORDER BY id LIMIT 1),
                             (SELECT max(id) + 1 FROM events))
                       AND status != 'pending'",
                )?
                .execute([before_ms])?;
            Ok(n as u64)
        })
        .await
    }

    async fn depth(&self) -> Result<Depth, StoreError> {
        self.call(|conn| {
            let count = |status: &str| -> Result<u64, StoreError> {
                let n: i64 = conn
                    .prepare_cached(
                        "SELECT COUNT(*) FROM events WHERE status != 'done' AND status = ?1",
                    )?
                    .query_row([status], |r| r.get(0))?;
                Ok(n as u64)
            };
            Ok(Depth {
                pending: count("pending")?,
                failed: count("failed")?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meets_the_inbox_contract() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("sub/inbox.db")).unwrap();
        super::super::contract::check(&inbox).await;
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let id = {
            let inbox = SqliteInbox::open(&path).unwrap();
            let event = NewEvent {
                app: "a".into(),
                dedup_key: super::super::dedup_key("a", "<x/>"),
                kind: "k".into(),
                order_key: None,
                plaintext: "<x/>".into(),
                received_at: 1,
                finished: false,
            };
            match inbox.append(event).await.unwrap() {
                Appended::New(id) => id,
                other => panic!("{other:?}"),
            }
        };
        let inbox = SqliteInbox::open(&path).unwrap();
        assert_eq!(inbox.pending(10).await.unwrap()[0].id, id);
    }
}
