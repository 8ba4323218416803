//! The writer thread: every write to the SQLite store, in group commits.
//!
//! One thread owns the write connection. It takes every job queued at that moment (having
//! first let the workers queue more, when only a few were: [`FEW`]) and runs them in one
//! transaction (group commit), each inside its own savepoint (an append instead undoes
//! its own failure), and answers each caller only once that transaction is durable. Under load
//! one fsync covers many callbacks; when idle a lone callback commits alone. (A batch of the
//! dispatcher's bookkeeping alone — leases, outcomes — is not waited for: [`Needs::durable`].)
//! If the transaction cannot begin (another process holds the write lock past `busy_timeout`)
//! or cannot commit, every job of the batch fails and nothing of it is written — no job ever
//! runs outside the transaction. Between batches the thread sweeps the dedup keys it holds in
//! memory ([`dedup`]) and finishes a checkpoint the background thread asks for
//! ([`checkpoints`]); what it keeps between transactions is its [`Memory`], what the jobs of
//! one transaction share is its prepared [`Statements`].

use std::sync::mpsc::{self, RecvTimeoutError};

use rusqlite::{CachedStatement, Connection};
use tokio::sync::oneshot;

use super::checkpoints::{self, CheckpointRequest};
use super::dedup::{self, RecentKeys};
use super::ids::Ids;
use crate::store::StoreError;
use crate::store::reply::{Caller, Outbox};

/// Where jobs are queued for the writer thread.
pub(super) type Jobs = mpsc::Sender<Box<dyn Job>>;

/// Start the writer thread on `conn` (migrated, in WAL mode), committing at `synchronous =
/// FULL` when `full_sync` (see [`Needs::durable`]), else `NORMAL`, and finishing a checkpoint
/// between two batches whenever `checkpoint` asks.
///
/// # Errors
/// The thread cannot start, or the connection refuses its `synchronous` setting.
pub(super) fn start(
    conn: Connection,
    memory: Memory,
    full_sync: bool,
    checkpoint: CheckpointRequest,
) -> Result<Jobs, StoreError> {
    let level = if full_sync { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", level)?;
    let sync = SyncLevel {
        full: full_sync,
        at_full: full_sync,
    };
    let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
    std::thread::Builder::new()
        .name("sqlite-inbox".into())
        .spawn(move || writer(conn, memory, queue, sync, &checkpoint))
        .map_err(|e| StoreError(format!("cannot start the inbox thread: {e}")))?;
    Ok(jobs)
}

/// The most operations committed in one transaction.
const MAX_BATCH: usize = 512;

/// Woken with fewer jobs than this queued, the first of them durable (an append or another
/// write its caller waits for; not the dispatcher's bookkeeping), the writer yields its CPU once
/// before it begins the transaction. Under load the job that woke it is the first of several
/// that the workers are about to queue; yielding lets them (30–40% more callbacks per commit,
/// ~7% less CPU per callback: docs/performance-history.md, stop 31). Idle, nothing else is
/// runnable and the yield returns at once, so a lone callback waits for nothing.
const FEW: usize = 4;

/// What the writer thread keeps in memory between transactions.
pub(super) struct Memory {
    /// The dedup keys of the newest events.
    pub(super) recent: RecentKeys,
    /// Where the ids of new rows stand.
    pub(super) ids: Ids,
}

impl Memory {
    /// A transaction began: catch up with what other processes wrote since the last one.
    fn begin(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.recent.begin(conn)? {
            self.ids.forget();
        }
        Ok(())
    }

    /// The transaction rolled back: forget what it taught.
    fn rollback(&mut self) {
        self.recent.rollback();
        self.ids.forget();
    }
}

/// Queue `f` for the writer thread, to run inside the next batch's transaction.
pub(super) async fn submit<T: Send + 'static>(
    jobs: &mpsc::Sender<Box<dyn Job>>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    queue(jobs, Needs::WRITE, move |conn, _, _| f(conn)).await
}

/// What a job queued for the writer thread needs of its transaction.
#[derive(Clone, Copy)]
pub(super) struct Needs {
    /// When it fails, it has left nothing written, so it needs no savepoint.
    undoes_itself: bool,
    /// Its commit must be on disk before it is answered (with `synchronous = FULL`). Only the
    /// dispatcher's bookkeeping does without: a batch of nothing else commits at `NORMAL`, which
    /// survives a crash of the process but not a power loss. What such a loss forgets, a
    /// delivery's lease or outcome, only makes it run again (handlers run at least once), and
    /// the next durable commit syncs the WAL with everything written before it. Waiting for
    /// the disk cost a third of the writer's CPU while handlers worked through a backlog.
    durable: bool,
}

impl Needs {
    /// An append: it undoes its own failure, and its event must be on disk.
    pub(super) const APPEND: Needs = Needs {
        undoes_itself: true,
        durable: true,
    };
    /// Any other write, durable.
    pub(super) const WRITE: Needs = Needs {
        undoes_itself: false,
        durable: true,
    };
    /// The dispatcher's bookkeeping.
    pub(super) const BOOKKEEPING: Needs = Needs {
        undoes_itself: false,
        durable: false,
    };
}

/// Queue `f` for the writer thread.
pub(super) async fn queue<T: Send + 'static>(
    jobs: &mpsc::Sender<Box<dyn Job>>,
    needs: Needs,
    f: impl FnOnce(&Connection, &mut Memory, &mut Statements<'_>) -> Result<T, StoreError>
    + Send
    + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = oneshot::channel();
    let job = Call {
        work: Some(f),
        needs,
        result: None,
        reply: tx,
        caller: Caller::here(),
    };
    jobs.send(Box::new(job))
        .map_err(|_| StoreError("inbox thread stopped".into()))?;
    rx.await
        .map_err(|_| StoreError("inbox thread stopped".into()))?
}

/// One operation queued for the writer thread.
pub(super) trait Job: Send {
    /// The caller stopped waiting (its request timed out): skip it.
    fn abandoned(&self) -> bool;
    /// Do the work inside the open transaction.
    fn run(
        &mut self,
        conn: &Connection,
        memory: &mut Memory,
        statements: &mut Statements<'_>,
    ) -> bool;
    /// What it needs of its transaction.
    fn needs(&self) -> Needs;
    /// Answer the caller (through `outbox`) once the transaction committed (or failed).
    fn answer(self: Box<Self>, committed: Result<(), StoreError>, outbox: &mut Outbox);
}

struct Call<T, F> {
    work: Option<F>,
    needs: Needs,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    caller: Caller,
}

impl<
    T: Send + 'static,
    F: FnOnce(&Connection, &mut Memory, &mut Statements<'_>) -> Result<T, StoreError> + Send,
> Job for Call<T, F>
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn needs(&self) -> Needs {
        self.needs
    }

    fn run(
        &mut self,
        conn: &Connection,
        memory: &mut Memory,
        statements: &mut Statements<'_>,
    ) -> bool {
        let result = self.work.take().map(|work| work(conn, memory, statements));
        let ok = matches!(result, Some(Ok(_)));
        self.result = result;
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>, outbox: &mut Outbox) {
        let result = match committed {
            Err(e) => Err(e),
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError("the transaction ended before this ran".into()))),
        };
        let reply = self.reply;
        outbox.answer(&self.caller, move || {
            let _ = reply.send(result);
        });
    }
}

/// The writer thread: batch whatever is queued into one transaction, then answer; between
/// batches, sweep the dedup keys held in memory when there are enough (or it is idle).
fn writer(
    conn: Connection,
    mut memory: Memory,
    queue: mpsc::Receiver<Box<dyn Job>>,
    mut sync: SyncLevel,
    checkpoint: &CheckpointRequest,
) {
    loop {
        let first = match queue.recv_timeout(dedup::SWEEP_IDLE) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                between_batches(&conn, &mut memory, &mut sync, checkpoint, true);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        drain(&queue, &mut batch);
        if batch.len() < FEW && batch[0].needs().durable {
            std::thread::yield_now();
            drain(&queue, &mut batch);
        }
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            continue;
        }
        let durable = batch.iter().any(|job| job.needs().durable);
        let committed = sync
            .set(&conn, durable)
            .and_then(|()| commit_batch(&conn, &mut memory, &mut batch));
        let mut outbox = Outbox::default();
        for job in batch {
            job.answer(committed.clone(), &mut outbox);
        }
        outbox.send();
        between_batches(&conn, &mut memory, &mut sync, checkpoint, false);
    }
}

/// Move the jobs queued now into `batch`, up to [`MAX_BATCH`].
fn drain(queue: &mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// The writer's work between two batches (or after [`dedup::SWEEP_IDLE`] without one, when
/// `idle`): sweep the dedup keys held in memory when there are enough — or any, when idle —
/// and finish a checkpoint the background thread asked for.
fn between_batches(
    conn: &Connection,
    memory: &mut Memory,
    sync: &mut SyncLevel,
    checkpoint: &CheckpointRequest,
    idle: bool,
) {
    if memory.recent.sweep_due() || (idle && memory.recent.holds_any()) {
        sweep(conn, memory, sync);
    }
    if checkpoint.take() {
        checkpoints::finish(conn);
    }
}

/// The writer connection's `synchronous` setting, switched between batches: `FULL` (when the
/// store is configured so) for every batch that needs it, `NORMAL` for the dispatcher's
/// bookkeeping alone (see [`Needs::durable`]).
struct SyncLevel {
    /// The store is configured with `synchronous = full`.
    full: bool,
    /// The connection is at `FULL` now.
    at_full: bool,
}

impl SyncLevel {
    /// Set the level for a batch that is `durable` or not. Failing to go to `FULL` fails the
    /// batch; failing to leave it only costs a sync.
    fn set(&mut self, conn: &Connection, durable: bool) -> Result<(), StoreError> {
        let full = self.full && durable;
        if full == self.at_full {
            return Ok(());
        }
        let level = if full { "FULL" } else { "NORMAL" };
        match conn.pragma_update(None, "synchronous", level) {
            Ok(()) => {
                self.at_full = full;
                Ok(())
            }
            Err(e) if full => Err(e.into()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot leave synchronous = FULL for bookkeeping");
                Ok(())
            }
        }
    }
}

/// Run `batch` in one transaction, each job in its own savepoint — unless it undoes its own
/// failure (appends), or is alone (if it fails, its whole transaction is rolled back). `Ok` when
/// the transaction committed, or when a lone job's failure was rolled back (it reports its own
/// error).
fn commit_batch(
    conn: &Connection,
    memory: &mut Memory,
    batch: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    run_cached(conn, "BEGIN IMMEDIATE")?;
    if let Err(e) = memory.begin(conn) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    let alone = batch.len() == 1;
    let mut lone_failed = false;
    let mut statements = Statements::new(conn);
    for job in batch.iter_mut() {
        // A failed statement (disk full, I/O error) may have ended the transaction; what is
        // left of the batch must not run in autocommit mode.
        if conn.is_autocommit() {
            break;
        }
        if alone || job.needs().undoes_itself {
            lone_failed = !job.run(conn, memory, &mut statements) && alone;
            continue;
        }
        if run_cached(conn, "SAVEPOINT job").is_err() {
            break;
        }
        if job.run(conn, memory, &mut statements) {
            let _ = run_cached(conn, "RELEASE job");
        } else if !conn.is_autocommit() {
            let _ = run_cached(conn, "ROLLBACK TO job");
            let _ = run_cached(conn, "RELEASE job");
        }
    }
    drop(statements);
    if conn.is_autocommit() {
        memory.rollback();
        return Err(StoreError("the transaction was rolled back".into()));
    }
    if lone_failed {
        let _ = conn.execute_batch("ROLLBACK");
        memory.rollback();
        return Ok(());
    }
    let committed = run_cached(conn, "COMMIT");
    if committed.is_ok() {
        memory.recent.commit();
    } else {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        memory.rollback();
    }
    committed
}

/// Sweep the dedup keys held in memory (durably); on failure they stay held (and are tried
/// again).
fn sweep(conn: &Connection, memory: &mut Memory, sync: &mut SyncLevel) {
    // The sweep's transaction may be where the writer learns that another process wrote.
    memory.ids.forget();
    if let Err(e) = sync
        .set(conn, true)
        .and_then(|()| memory.recent.sweep(conn))
    {
        tracing::warn!(error = %e, "cannot index recent dedup keys yet; they stay in memory");
    }
}

/// The statements of one transaction, taken from the connection's statement cache at their
/// first use in it and kept until it ends: a group commit of many appends takes each once,
/// not once per event (taking one from rusqlite's cache and putting it back hashes its SQL
/// text twice and clears its bindings — ~1,400 instructions per callback in the writer).
pub(super) struct Statements<'c> {
    conn: &'c Connection,
    held: Vec<(&'static str, CachedStatement<'c>)>,
}

impl<'c> Statements<'c> {
    fn new(conn: &'c Connection) -> Self {
        Statements {
            conn,
            held: Vec::new(),
        }
    }

    /// The statement of `sql`, prepared once per connection.
    ///
    /// # Errors
    /// It cannot be prepared.
    pub(super) fn get(
        &mut self,
        sql: &'static str,
    ) -> Result<&mut CachedStatement<'c>, StoreError> {
        let at = match self
            .held
            .iter()
            .position(|(held, _)| std::ptr::eq(*held, sql))
        {
            Some(at) => at,
            None => {
                self.held.push((sql, self.conn.prepare_cached(sql)?));
                self.held.len() - 1
            }
        };
        Ok(&mut self.held[at].1)
    }
}

/// Run a statement without parameters, prepared once per connection.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
