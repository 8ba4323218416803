//! The embedded [`Inbox`]: one SQLite file in WAL mode.
//!
//! Writes run on one thread that owns the write connection and commits whatever is queued at
//! that moment in one transaction, answering each caller once it is durable ([`writer`]).
//! Reads (`get`, `list`, `stats`, `ping`) use their own connection, so they never queue behind
//! intake.
//!
//! A retry is recognised by its dedup key: the keys of the newest events are held by the writer
//! in memory and swept into an index table in sorted batches ([`dedup`]), since a unique index
//! written with every event cost more than all the rest of a commit. Ids are never given twice,
//! without `AUTOINCREMENT`'s write at every insert ([`ids`]). The schema and its migrations are
//! in [`schema`].
//!
//! One `serve` owns a SQLite store at a time: it holds an exclusive lock on `<path>.lock`, which
//! lets it take back, at start, the leases a crashed predecessor left behind, and it copies the
//! WAL into the database file in the background ([`checkpoints`]).
//!
//! The API access tokens live in the same file ([`SqliteTokenStore`], table `tokens`), so a
//! restart or an `api` command reuses the token instead of asking `gettoken` again.

mod checkpoints;
mod dedup;
mod ids;
mod schema;
mod tokens;
mod writer;

pub use tokens::SqliteTokenStore;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};

use checkpoints::{CheckpointRequest, Checkpoints};
use dedup::RecentKeys;
use ids::Ids;
use writer::{Jobs, Memory, Needs, Statements, queue};

use super::{
    Appended, Delivery, DeliveryRecord, DeliveryStatus, EventFilter, Inbox, LANE_WAIT, LeaseBatch,
    Leased, NewEvent, Outcome, RetryFilter, Settled, Stats, Status, StoreError, StoredEvent,
};

/// How to open a [`SqliteInbox`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `synchronous = FULL` (fsync every commit that stores events: an acknowledged event
    /// survives power loss; a commit of the dispatcher's bookkeeping alone — a lease, an outcome —
    /// is not waited for: a power loss may only run a delivery again) rather than `NORMAL`
    /// (survives SIGKILL; a power loss may lose the last commits).
    pub full_sync: bool,
    /// How long a write waits for another process's write lock before the whole batch fails.
    /// Keep it well under WeCom's 5 s for `serve`.
    pub busy_timeout: Duration,
    /// Take the exclusive `<path>.lock` that marks the one `serve` owning this store.
    pub owner: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            full_sync: true,
            busy_timeout: Duration::from_secs(5),
            owner: false,
        }
    }
}

/// The SQLite-backed inbox.
pub struct SqliteInbox {
    jobs: Jobs,
    reader: Arc<Mutex<Connection>>,
    owner: Arc<str>,
    /// Held for the life of the inbox when it owns the store.
    _lock: Option<File>,
    /// The background checkpoints of the store's owner.
    _checkpoints: Option<Checkpoints>,
    /// What the background checkpoints ask the writer (for tests to ask it too).
    #[cfg(test)]
    checkpoint: CheckpointRequest,
}

impl SqliteInbox {
    /// Open (creating if needed) the database at `path` with default options.
    ///
    /// # Errors
    /// When the directory cannot be created or the file cannot be opened as a database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &SqliteOptions::default())
    }

    /// Open with `options`, migrating an older schema.
    ///
    /// # Errors
    /// When the directory cannot be created, the file cannot be opened as a database, or
    /// (`options.owner`) another `serve` already owns it.
    pub fn open_with(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock = if options.owner {
            Some(take_owner_lock(path)?)
        } else {
            None
        };
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(options.busy_timeout)?;
        plan_once(&conn)?;
        // The writer's own checkpoint (copying the WAL back into the database) every ~40 MB
        // rather than every 4 MB: pages rewritten by many commits (the last pages of `events`)
        // are then copied once, and acknowledgements stall on a checkpoint far less often. For
        // the owner it is only the net: its background checkpoints ([`checkpoints`]) copy the
        // WAL and hand the writer the last frames long before. The WAL file is cut back to
        // 64 MB afterwards.
        conn.pragma_update(None, "wal_autocheckpoint", 10000)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        schema::migrate(&conn)?;
        // After the migration, which turns the checks off while it rebuilds tables: a purged
        // event's deliveries go with it (`ON DELETE CASCADE`).
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let memory = Memory {
            recent: RecentKeys::start(&conn)?,
            ids: Ids::default(),
        };
        let reader = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        reader.busy_timeout(options.busy_timeout)?;
        plan_once(&reader)?;
        reader.pragma_update(None, "query_only", "ON")?;
        let checkpoint = CheckpointRequest::default();
        let jobs = writer::start(conn, memory, options.full_sync, checkpoint.clone())?;
        let checkpoints = if options.owner {
            Some(Checkpoints::start(
                path,
                options.busy_timeout,
                checkpoint.clone(),
            )?)
        } else {
            None
        };
        Ok(SqliteInbox {
            _checkpoints: checkpoints,
            #[cfg(test)]
            checkpoint,
            jobs,
            reader: Arc::new(Mutex::new(reader)),
            owner: super::lease_owner().into(),
            _lock: lock,
        })
    }

    /// Run `f` on the writer thread inside the next batch's transaction.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.as_owner(Needs::WRITE, f).await
    }

    /// Run the dispatcher's bookkeeping `f` (a lease, a renewal, a release, a settle) on the
    /// writer thread: like [`SqliteInbox::write`], but a batch of nothing else commits without
    /// waiting for the disk (see [`Needs::durable`]).
    async fn keep_books<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.as_owner(Needs::BOOKKEEPING, f).await
    }

    /// Queue `f` for the writer thread, handing it this inbox's lease owner.
    async fn as_owner<T: Send + 'static>(
        &self,
        needs: Needs,
        f: impl FnOnce(&Connection, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let owner = self.owner.clone();
        queue(&self.jobs, needs, move |conn, _, _| f(conn, &owner)).await
    }

    /// Run `f` on the read connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        read_on(&self.reader, f).await
    }
}

/// Run `f` on the read connection, off the async threads.
async fn read_on<T: Send + 'static>(
    reader: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || {
        let conn = reader
            .lock()
            .map_err(|_| StoreError("inbox reader lock poisoned".into()))?;
        f(&conn)
    })
    .await
    .map_err(|e| StoreError(format!("inbox reader failed: {e}")))?
}

fn take_owner_lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError(format!("cannot open {}: {e}", lock_path.display())))?;
    file.try_lock().map_err(|_| {
        StoreError(format!(
            "another serve already uses {} (it holds {}); one serve per SQLite store — use \
             store.backend = \"postgres\" for several instances",
            path.display(),
            lock_path.display()
        ))
    })?;
    Ok(file)
}

/// The SQL for an event's derived status, over alias `e`.
const EVENT_STATUS: &str = "CASE
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'dead')
        THEN 'failed'
    ELSE 'done' END";

fn row_to_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let status: String = row.get(6)?;
    Ok(StoredEvent {
        id: row.get(0)?,
        app: row.get(1)?,
        kind: row.get(2)?,
        lane: row.get(3)?,
        plaintext: row.get(4)?,
        received_at: row.get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
    })
}

/// Whether an earlier delivery (of an event before `event_id`) of the lane is unfinished.
fn lane_busy(
    conn: &Connection,
    (app, handler, lane): (&str, &str, &str),
    event_id: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM deliveries
             WHERE status = 'pending' AND app = ?1 AND handler = ?2 AND lane = ?3
               AND event_id < ?4 LIMIT 1",
        )?
        .exists(params![app, handler, lane, event_id])?)
}

/// An event's row. The new rowid is read after it rather than `RETURNING` it, which costs
/// SQLite a temporary table per statement on this hottest of paths.
const INSERT_EVENT: &str = "INSERT INTO events
      (id, app, dedup_key, kind, order_key, plaintext, received_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// A delivery's row.
const INSERT_DELIVERY: &str = "INSERT INTO deliveries
      (id, event_id, app, handler, lane, next_at, lease_owner, lease_until, created_at)
    VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

fn append(
    conn: &Connection,
    memory: &mut Memory,
    statements: &mut Statements<'_>,
    owner: &str,
    event: &NewEvent,
) -> Result<Appended, StoreError> {
    if let Some(id) = memory.recent.find(conn, &event.app, &event.dedup_key)? {
        return Ok(Appended::Duplicate(id));
    }
    statements.get(INSERT_EVENT)?.execute(params![
        memory.ids.next_event(conn)?,
        &*event.app,
        &event.dedup_key[..],
        event.kind,
        event.lane,
        event.plaintext,
        event.received_at
    ])?;
    let id = conn.last_insert_rowid();
    match insert_deliveries(conn, &mut memory.ids, statements, owner, event, id) {
        Ok(leased) => {
            memory.recent.remember(&event.app, &event.dedup_key, id);
            Ok(Appended::New { id, leased })
        }
        Err(e) => {
            // Appends run without a savepoint of their own (it cost more than the insert):
            // undo by hand, and if even that fails, end the transaction so nothing half-done
            // can commit.
            let undone = conn
                .prepare_cached("DELETE FROM events WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([id]));
            if undone.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            // The undone row may have been the one above the floor.
            memory.ids.forget();
            Err(e)
        }
    }
}

/// Insert one delivery per handler of the event just inserted as `id`; the ones leased to
/// this instance are returned.
fn insert_deliveries(
    conn: &Connection,
    ids: &mut Ids,
    statements: &mut Statements<'_>,
    owner: &str,
    event: &NewEvent,
    id: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut leased = Vec::new();
    if event.deliveries.is_empty() {
        return Ok(leased);
    }
    for delivery in &event.deliveries {
        let waits = match &event.lane {
            Some(lane) => lane_busy(conn, (&event.app, &delivery.handler, lane), id)?,
            None => false,
        };
        let lease = delivery.lease && !waits;
        let next_id = ids.next_delivery(conn)?;
        statements.get(INSERT_DELIVERY)?.execute(params![
            id,
            &*event.app,
            &*delivery.handler,
            event.lane,
            if waits { LANE_WAIT } else { event.received_at },
            lease.then_some(owner),
            lease.then_some(event.lease_until),
            event.received_at,
            next_id,
        ])?;
        if lease {
            leased.push(Delivery {
                id: conn.last_insert_rowid(),
                event_id: id,
                handler: delivery.handler.to_string(),
                attempts: 0,
                received_at: event.received_at,
            });
        }
    }
    Ok(leased)
}

/// Delete events with `delete` (a `DELETE FROM events … RETURNING id`): how many it deleted.
/// The largest ids first go to `id_floor`, so that no id is given again; the writer's dedup
/// keys in memory are told the largest id deleted (the keys of deleted events must not be
/// swept into `dedup`).
fn delete_events(
    conn: &Connection,
    memory: &mut Memory,
    delete: &str,
    params: impl rusqlite::Params,
) -> Result<u64, StoreError> {
    ids::record_floors(conn)?;
    memory.ids.forget();
    let mut delete = conn.prepare_cached(delete)?;
    let mut deleted = delete.query(params)?;
    let (mut n, mut largest) = (0, None);
    while let Some(row) = deleted.next()? {
        n += 1;
        largest = largest.max(Some(row.get::<_, i64>(0)?));
    }
    if let Some(largest) = largest {
        memory.recent.events_deleted(largest);
    }
    Ok(n)
}

/// Plan each cached statement once. Otherwise SQLite plans a statement again — parses and
/// compiles it anew — whenever a parameter whose value its plan looked at is bound again: a
/// lease binds its `LIMIT` (the handler's free slots) at every call, and while a backlog ran,
/// a tenth of the process's CPU went to compiling [`RUNNABLE`] over and over. The queries here
/// spell out their indexes' conditions and need no bound value to find a plan.
fn plan_once(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// A handler's runnable deliveries (`?1` app, `?2` handler, `?3` now, at most `?4`), in the
/// order they fell due: see [`lease`].
const RUNNABLE: &str = "
SELECT d.id, d.event_id, d.handler, d.attempts, e.received_at, e.plaintext
FROM deliveries d JOIN events e ON e.id = d.event_id
WHERE d.status = 'pending' AND d.app = ?1 AND d.handler = ?2 AND d.next_at <= ?3
  AND (d.lease_until IS NULL OR d.lease_until < ?3)
  AND (d.lane IS NULL OR NOT EXISTS (
        SELECT 1 FROM deliveries p
        WHERE p.status = 'pending' AND p.app = d.app AND p.handler = d.handler
          AND p.lane = d.lane AND p.event_id < d.event_id))
ORDER BY d.next_at LIMIT ?4";

/// Lease up to `limit` runnable deliveries of a handler, and say when the next one falls due.
///
/// They are taken in the order they fell due, walking the due index: a lease passes over only
/// the running deliveries (still due, but leased) and stops at `limit`, so it costs the same
/// however many deliveries wait. (In event-id order it read and sorted every due delivery: with
/// a backlog of thousands, the writer spent its time leasing and intake slowed to a crawl.)
/// Lane order needs no help here: only the head of a lane is due.
fn lease(
    conn: &Connection,
    owner: &str,
    (app, handler, limit, now, until): (&str, &str, usize, i64, i64),
) -> Result<LeaseBatch, StoreError> {
    let mut deliveries = Vec::new();
    if limit > 0 {
        let mut runnable = conn.prepare_cached(RUNNABLE)?;
        let rows = runnable.query_map(params![app, handler, now, limit as i64], |r| {
            Ok(Leased {
                delivery: Delivery {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    handler: r.get(2)?,
                    attempts: r.get(3)?,
                    received_at: r.get(4)?,
                },
                plaintext: r.get(5)?,
            })
        })?;
        deliveries = rows.collect::<Result<Vec<_>, _>>()?;
        let mut take = conn.prepare_cached(
            "UPDATE deliveries SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1",
        )?;
        for leased in &deliveries {
            take.execute(params![leased.delivery.id, owner, until])?;
        }
    }
    let next_due: Option<i64> = conn
        .prepare_cached(
            "SELECT min(next_at) FROM deliveries
             WHERE status = 'pending' AND app = ?1 AND handler = ?2 AND next_at > ?3
               AND next_at < ?4",
        )?
        .query_row(params![app, handler, now, LANE_WAIT], |r| r.get(0))?;
    Ok(LeaseBatch {
        deliveries,
        next_due,
    })
}

fn settle(
    conn: &Connection,
    owner: &str,
    id: i64,
    attempts: u32,
    outcome: &Outcome,
) -> Result<Settled, StoreError> {
    let (status, next_at, error) = match outcome {
        Outcome::Done => ("done", None, None),
        Outcome::Retry { at, error } => ("pending", Some(*at), Some(error.as_str())),
        Outcome::Dead { error } => ("dead", None, Some(error.as_str())),
    };
    let updated: Option<(String, String, Option<String>, i64)> = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?3, attempts = ?4, next_at = coalesce(?5, next_at),
                    last_error = ?6, lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2
             RETURNING app, handler, lane, event_id",
        )?
        .query_row(params![id, owner, status, attempts, next_at, error], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((app, handler, lane, event_id)) = updated else {
        return Ok(Settled {
            recorded: false,
            lane_has_more: false,
        });
    };
    // The lane's next delivery is due now that this one is finished.
    let next: Option<(i64, i64)> = match lane {
        Some(lane) if status != "pending" => conn
            .prepare_cached(
                "SELECT id, next_at FROM deliveries
                 WHERE status = 'pending' AND app = ?1 AND handler = ?2 AND lane = ?3
                   AND event_id > ?4 ORDER BY event_id LIMIT 1",
            )?
            .query_row(params![app, handler, lane, event_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?,
        _ => None,
    };
    if let Some((next_id, LANE_WAIT)) = next {
        conn.prepare_cached("UPDATE deliveries SET next_at = ?2 WHERE id = ?1")?
            .execute(params![next_id, crate::clock::now_ms()])?;
    }
    let lane_has_more = next.is_some();
    Ok(Settled {
        recorded: true,
        lane_has_more,
    })
}

fn list(conn: &Connection, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
    let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
    let status = filter.status.map(Status::as_str);
    let rows = match &filter.handler {
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT * FROM (
                   SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                          {EVENT_STATUS} AS status
                   FROM events e ORDER BY e.id DESC)
                 WHERE ?1 IS NULL OR status = ?1 LIMIT ?2"
            ))?;
            stmt.query_map(params![status, limit], row_to_event)?
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(handler) => {
            // The handler's delivery decides: pending, done, or dead (listed as failed).
            let mut stmt = conn.prepare_cached(
                "SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                        CASE d.status WHEN 'dead' THEN 'failed' ELSE d.status END AS status
                 FROM events e JOIN deliveries d ON d.event_id = e.id AND d.handler = ?3
                 WHERE ?1 IS NULL OR (CASE d.status WHEN 'dead' THEN 'failed'
                                                    ELSE d.status END) = ?1
                 ORDER BY e.id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![status, limit, handler], row_to_event)?
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(rows)
}

#[async_trait::async_trait]
impl Inbox for SqliteInbox {
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
        let owner = self.owner.clone();
        queue(
            &self.jobs,
            Needs::APPEND,
            move |conn, memory, statements| append(conn, memory, statements, &owner, &event),
        )
        .await
    }

    async fn lease(
        &self,
        app: &str,
        handler: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<LeaseBatch, StoreError> {
        let (app, handler) = (app.to_owned(), handler.to_owned());
        self.keep_books(move |conn, owner| lease(conn, owner, (&app, &handler, limit, now, until)))
            .await
    }

    async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError> {
        self.keep_books(move |conn, owner| {
            let mut stmt = conn.prepare_cached(
                "UPDATE deliveries SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2",
            )?;
            for id in ids {
                stmt.execute(params![id, owner, until])?;
            }
            Ok(())
        })
        .await
    }

    async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        self.keep_books(move |conn, owner| {
            let mut stmt = conn.prepare_cached(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
                 WHERE id = ?1 AND lease_owner = ?2",
            )?;
            for id in ids {
                stmt.execute(params![id, owner])?;
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
        self.keep_books(move |conn, owner| settle(conn, owner, id, attempts, &outcome))
            .await
    }

    async fn recover(&self) -> Result<u64, StoreError> {
        if self._lock.is_none() {
            return Ok(0);
        }
        let now = crate::clock::now_ms();
        self.write(move |conn, _| {
            let n = conn
                .prepare_cached(
                    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
                     WHERE status = 'pending' AND lease_owner IS NOT NULL",
                )?
                .execute([])?;
            // A delivery left waiting with nothing before it in its lane runs now.
            conn.prepare_cached(
                "UPDATE deliveries SET next_at = ?1
                 WHERE status = 'pending' AND next_at = ?2
                   AND NOT EXISTS (SELECT 1 FROM deliveries p
                                   WHERE p.status = 'pending' AND p.app = deliveries.app
                                     AND p.handler = deliveries.handler
                                     AND p.lane = deliveries.lane
                                     AND p.event_id < deliveries.event_id)",
            )?
            .execute(params![now, LANE_WAIT])?;
            Ok(n as u64)
        })
        .await
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                            {EVENT_STATUS}
                     FROM events e WHERE e.id = ?1"
                ))?
                .query_row([id], row_to_event)
                .optional()?)
        })
        .await
    }

    async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, handler, status, attempts, next_at, lease_until, last_error
                 FROM deliveries WHERE event_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([event_id], |r| {
                let status = DeliveryStatus::parse(&r.get::<_, String>(2)?);
                let pending = status == DeliveryStatus::Pending;
                Ok(DeliveryRecord {
                    id: r.get(0)?,
                    handler: r.get(1)?,
                    status,
                    attempts: r.get(3)?,
                    next_attempt_at: pending
                        .then(|| r.get::<_, i64>(4))
                        .transpose()?
                        .filter(|at| *at != LANE_WAIT),
                    leased_until: if pending { r.get(5)? } else { None },
                    last_error: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |conn| list(conn, &filter)).await
    }

    async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError> {
        let now = crate::clock::now_ms();
        self.write(move |conn, _| {
            let n = conn
                .prepare_cached(
                    "UPDATE deliveries
                     SET status = 'pending', attempts = 0, next_at = ?3,
                         lease_owner = NULL, lease_until = NULL
                     WHERE status = 'dead' AND (?1 IS NULL OR event_id = ?1)
                       AND (?2 IS NULL OR handler = ?2)",
                )?
                .execute(params![filter.event_id, filter.handler, now])?;
            Ok(n as u64)
        })
        .await
    }

    async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError> {
        let (app, handler) = (app.to_owned(), handler.to_owned());
        let now = crate::clock::now_ms();
        queue(&self.jobs, Needs::WRITE, move |conn, memory, _| {
            let events: Vec<(i64, Option<String>)> = conn
                .prepare_cached(
                    "SELECT e.id, e.order_key FROM events e
                     WHERE e.app = ?1 AND e.received_at >= ?3
                       AND NOT EXISTS (SELECT 1 FROM deliveries d
                                       WHERE d.event_id = e.id AND d.handler = ?2)
                     ORDER BY e.id",
                )?
                .query_map(params![app, handler, since], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO deliveries (id, event_id, app, handler, lane, next_at, created_at)
                 VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (event_id, lane) in &events {
                let waits = match lane {
                    Some(lane) => lane_busy(conn, (&app, &handler, lane), *event_id)?,
                    None => false,
                };
                let next_at = if waits { LANE_WAIT } else { now };
                let id = memory.ids.next_delivery(conn)?;
                insert.execute(params![event_id, app, handler, lane, next_at, now, id])?;
            }
            Ok(events.len() as u64)
        })
        .await
    }

    async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        queue(&self.jobs, Needs::WRITE, move |conn, memory, _| {
            // Ids grow with arrival, so everything received before `before` lies below the
            // first id received at or after it: the scan stays within the old rows.
            delete_events(
                conn,
                memory,
                "DELETE FROM events WHERE id IN (
                   SELECT e.id FROM events e
                   WHERE e.id < coalesce(
                           (SELECT id FROM events WHERE received_at >= ?1 ORDER BY id LIMIT 1),
                           (SELECT max(id) + 1 FROM events))
                     AND e.received_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.event_id = e.id AND d.status != 'done')
                   ORDER BY e.id LIMIT ?2)
                 RETURNING id",
                params![before, batch as i64],
            )
        })
        .await
    }

    async fn purge_failed(&self, before: i64) -> Result<u64, StoreError> {
        queue(&self.jobs, Needs::WRITE, move |conn, memory, _| {
            delete_events(
                conn,
                memory,
                "DELETE FROM events WHERE id IN (
                   SELECT e.id FROM events e
                   WHERE e.received_at < ?1
                     AND EXISTS (SELECT 1 FROM deliveries d
                                 WHERE d.event_id = e.id AND d.status = 'dead')
                     AND NOT EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.event_id = e.id AND d.status = 'pending'))
                 RETURNING id",
                [before],
            )
        })
        .await
    }

    async fn stats(&self, now: i64) -> Result<Stats, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT app, handler, count(*), min(created_at), 0 FROM deliveries
                 WHERE status = 'pending' GROUP BY app, handler
                 UNION ALL
                 SELECT app, handler, 0, NULL, count(*) FROM deliveries
                 WHERE status = 'dead' GROUP BY app, handler",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let handlers = super::gauges(rows.collect::<Result<Vec<_>, _>>()?, now);
            let events_pending: i64 = conn
                .prepare_cached(
                    "SELECT count(DISTINCT event_id) FROM deliveries WHERE status = 'pending'",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(Stats {
                handlers,
                events_pending: events_pending as u64,
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM events LIMIT 1")?
                .exists([])?;
            Ok(())
        })
        .await
    }

    fn token_store(&self) -> Option<Arc<dyn crate::api::TokenStore>> {
        Some(Arc::new(SqliteTokenStore::new(
            self.jobs.clone(),
            self.reader.clone(),
        )))
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

    /// With `synchronous = full`, whatever stores events commits at `FULL`, and a batch of the
    /// dispatcher's bookkeeping alone at `NORMAL`; at `normal`, everything does.
    #[tokio::test]
    async fn only_bookkeeping_alone_commits_without_waiting_for_the_disk() {
        const NORMAL: i64 = 1;
        const FULL: i64 = 2;
        let level = |conn: &Connection, _: &str| -> Result<i64, StoreError> {
            Ok(conn.pragma_query_value(None, "synchronous", |r| r.get(0))?)
        };
        for full_sync in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let options = SqliteOptions {
                full_sync,
                ..SqliteOptions::default()
            };
            let inbox = SqliteInbox::open_with(&dir.path().join("inbox.db"), &options).unwrap();
            let durable = if full_sync { FULL } else { NORMAL };
            assert_eq!(inbox.keep_books(level).await.unwrap(), NORMAL);
            assert_eq!(inbox.write(level).await.unwrap(), durable);
            assert_eq!(inbox.keep_books(level).await.unwrap(), NORMAL);
            let event = super::super::contract::event("a", "<x/>", None, &["h"], false);
            inbox.append(event).await.unwrap();
            assert_eq!(inbox.write(level).await.unwrap(), durable);
        }
    }

    /// When another process (an `events purge`) removes the newest event, this store's writer
    /// still never gives its id again.
    #[tokio::test]
    async fn ids_stay_above_what_another_process_purged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let serve = SqliteInbox::open(&path).unwrap();
        let mut newest = 0;
        for text in ["<a/>", "<b/>"] {
            let event = super::super::contract::event("a", text, None, &[], false);
            if let Appended::New { id, .. } = serve.append(event).await.unwrap() {
                newest = id;
            }
        }
        let cli = SqliteInbox::open(&path).unwrap();
        assert_eq!(
            cli.purge(crate::clock::now_ms() + 1000, 100).await.unwrap(),
            2
        );
        drop(cli);
        let event = super::super::contract::event("a", "<c/>", None, &[], false);
        let Appended::New { id, .. } = serve.append(event).await.unwrap() else {
            panic!("a new event");
        };
        assert!(id > newest, "id {id} after purged {newest}");
    }

    /// A lease walks the due index in its order and stops at its limit: no sort of every due
    /// delivery (which made leasing, on the writer thread, grow with the backlog). Planned on
    /// the store's own connection, as its leases are.
    #[tokio::test]
    async fn a_lease_walks_the_due_index_without_sorting_the_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("inbox.db")).unwrap();
        let steps: Vec<String> = inbox
            .write(|conn, _| {
                let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {RUNNABLE}"))?;
                let steps = plan
                    .query_map(params!["a", "h", 0, 10], |r| r.get(3))?
                    .collect::<Result<_, _>>()?;
                Ok(steps)
            })
            .await
            .unwrap();
        assert!(
            steps.iter().any(|s| s.contains("deliveries_due")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
    }

    /// Leases with other limits run the lease statement as it was compiled: SQLite compiles it
    /// again at every new `LIMIT` unless told to plan once ([`plan_once`]).
    #[tokio::test]
    async fn a_lease_is_compiled_once_whatever_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("inbox.db")).unwrap();
        for n in 0..6 {
            let event =
                super::super::contract::event("a", &format!("<e{n}/>"), None, &["h"], false);
            inbox.append(event).await.unwrap();
        }
        let now = crate::clock::now_ms() + 1000;
        for limit in [1, 2, 3] {
            let batch = inbox
                .lease("a", "h", limit, now, now + 60_000)
                .await
                .unwrap();
            assert_eq!(batch.deliveries.len(), limit);
        }
        let compiled_again = inbox
            .write(|conn, _| {
                Ok(conn
                    .prepare_cached(RUNNABLE)?
                    .get_status(rusqlite::StatementStatus::RePrepare))
            })
            .await
            .unwrap();
        assert_eq!(compiled_again, 0, "the lease statement was compiled again");
    }

    #[tokio::test]
    async fn survives_reopen_and_one_owner_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let owner = SqliteOptions {
            owner: true,
            ..Default::default()
        };
        let id = {
            let inbox = SqliteInbox::open_with(&path, &owner).unwrap();
            let err = SqliteInbox::open_with(&path, &owner).err().unwrap();
            assert!(err.to_string().contains("another serve"), "{err}");
            let event = super::super::contract::event("a", "<x/>", None, &["h"], true);
            match inbox.append(event).await.unwrap() {
                Appended::New { id, leased } => {
                    assert_eq!(leased.len(), 1);
                    id
                }
                other => panic!("{other:?}"),
            }
        };
        let inbox = SqliteInbox::open_with(&path, &owner).unwrap();
        assert_eq!(
            inbox.get(id).await.unwrap().unwrap().status,
            Status::Pending
        );
        // The lease of the dead run is taken back at start.
        assert_eq!(inbox.recover().await.unwrap(), 1);
        let now = crate::clock::now_ms();
        let batch = inbox.lease("a", "h", 10, now, now + 30_000).await.unwrap();
        assert_eq!(batch.deliveries.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_append_leaves_nothing_and_spoils_no_other_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("inbox.db")).unwrap();
        for _ in 0..20 {
            // The same handler twice breaks `UNIQUE (event_id, handler)` after the event row
            // was inserted; queued together, both appends share one transaction.
            let bad =
                crate::store::contract::event("a", "<xml>bad</xml>", None, &["h", "h"], false);
            let good = crate::store::contract::event("a", "<xml>good</xml>", None, &["h"], false);
            let (bad, good) = tokio::join!(inbox.append(bad), inbox.append(good));
            assert!(bad.is_err());
            assert!(matches!(
                good.unwrap(),
                Appended::New { .. } | Appended::Duplicate(_)
            ));
        }
        let events = inbox
            .list(EventFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "only the good event is stored");
        let retried = crate::store::contract::event("a", "<xml>bad</xml>", None, &["h"], false);
        assert!(matches!(
            inbox.append(retried).await.unwrap(),
            Appended::New { .. }
        ));
    }

    #[tokio::test]
    async fn a_reopened_store_enforces_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        drop(SqliteInbox::open(&path).unwrap());
        // Opened again at the current version: no migration runs this time (and a system
        // SQLite, unlike the bundled one, starts with the checks off).
        let inbox = SqliteInbox::open(&path).unwrap();
        let checks: i64 = inbox
            .write(|conn, _| Ok(conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(checks, 1, "foreign keys are enforced");
    }

    #[tokio::test]
    async fn migrates_a_version_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL,
                   dedup_key BLOB NOT NULL, kind TEXT NOT NULL, order_key TEXT,
                   plaintext TEXT NOT NULL, received_at INTEGER NOT NULL,
                   status TEXT NOT NULL DEFAULT 'pending', UNIQUE (app, dedup_key));
                 CREATE INDEX events_unfinished ON events (status, id) WHERE status != 'done';
                 CREATE TABLE handler_runs (event_id INTEGER NOT NULL, handler TEXT NOT NULL,
                   state TEXT NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
                   PRIMARY KEY (event_id, handler));
                 INSERT INTO events (app, dedup_key, kind, plaintext, received_at, status)
                   VALUES ('a', x'01', 'k', '<x/>', 1, 'failed');
                 INSERT INTO handler_runs VALUES (1, 'h', 'dead', 3, 'boom');",
            )
            .unwrap();
        }
        let inbox = SqliteInbox::open(&path).unwrap();
        assert_eq!(inbox.get(1).await.unwrap().unwrap().status, Status::Failed);
        let d = inbox.deliveries(1).await.unwrap();
        assert_eq!(d[0].status, DeliveryStatus::Dead);
        assert_eq!(d[0].last_error.as_deref(), Some("boom"));
    }
}
