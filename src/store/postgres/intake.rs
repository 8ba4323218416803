//! Intake on PostgreSQL: group commit with per-lane order across instances.
//!
//! Callbacks queue their append for one batcher task, which takes everything queued at that
//! moment and commits it in one transaction; each caller is answered once that commit is
//! durable (or failed: then nothing of the batch was written). Under load one commit covers
//! everything that arrived while the one before it committed; when idle a lone callback
//! commits alone.
//!
//! A batch transaction first takes the lock of every lane it touches
//! (`pg_advisory_xact_lock` on a hash of app and lane, in sorted order so that two instances
//! never wait for each other in a circle), then inserts. An event's id comes from a sequence
//! when it is inserted, not when it commits; holding its lane's lock from before the insert
//! until the commit makes ids within a lane grow in commit order, across instances, which is
//! what the lane check of a lease relies on.
//!
//! The fast path stores the whole batch with one set-based statement ([`super::insert`]) and
//! no savepoint, sent together with `BEGIN`, the lane locks and `COMMIT`: one round trip per
//! batch. (Waiting for the store before sending `COMMIT` made every batch's cycle longer by a
//! round trip — both sides going to sleep and waking once more — and cost ~15% of callbacks
//! per second on the 2-core machine.) If storing fails (say, one event holds text the database
//! refuses), the transaction is rolled back and the batch is run again with a savepoint per
//! append, so that the failing append fails alone. Retries of events stored before are looked
//! up after the commit.
//!
//! Events without a lane are inserted after those with one, sorted by dedup key: two batches
//! holding the same retries in different orders would otherwise wait for each other's dedup
//! key. (Events with a lane cannot: a retry has the same lane, whose lock orders them first.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::insert::{self, LOCK_LANES};
use super::{Db, TxConn, db_error, hash_key};
use crate::store::reply::{Caller, Outbox};
use crate::store::{Appended, NewEvent, StoreError};

/// The most appends committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long a callback waits for its append at most: an unreachable database answers 503
/// within this (WeCom retries), never a hang. An append still committed after its caller gave
/// up is recognised as a duplicate when WeCom retries.
pub(super) const DEADLINE: Duration = Duration::from_millis(1500);

/// How long one batch may hold its connection before it is abandoned (and the connection
/// closed, which rolls the transaction back).
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// One append waiting for its batch.
pub(super) struct Append {
    event: NewEvent,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
    caller: Caller,
}

/// Queue `event` for the batcher and wait for its commit, at most `deadline`.
pub(super) async fn append(
    queue: &mpsc::UnboundedSender<Append>,
    event: NewEvent,
    deadline: Duration,
) -> Result<Appended, StoreError> {
    let (reply, answer) = oneshot::channel();
    queue
        .send(Append {
            event,
            reply,
            caller: Caller::here(),
        })
        .map_err(|_| StoreError("the PostgreSQL intake stopped".into()))?;
    match tokio::time::timeout(deadline, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(StoreError("the PostgreSQL intake stopped".into())),
        Err(_) => Err(StoreError(format!(
            "PostgreSQL did not commit within {}",
            crate::config::format_duration(deadline)
        ))),
    }
}

/// Start the batcher on the database's runtime; it stops when the returned sender (and every
/// clone) is dropped.
pub(super) fn spawn(db: Db, owner: Arc<str>) -> mpsc::UnboundedSender<Append> {
    let (queue, appends) = mpsc::unbounded_channel();
    db.runtime.clone().spawn(batcher(db, owner, appends));
    queue
}

/// Commit batches one after another: each takes everything queued when the last one ended,
/// which under load is then larger. (Measured on the 2-core machine, a second batch in flight,
/// overlapping one commit's disk wait with the next batch, cost the database ~20% more CPU per
/// callback for no more callbacks per second: the smaller commits cost more than the overlap
/// saved. Sent down the same connection instead, pipelined behind the first, it still cost
/// ~10% more database CPU per callback, and callbacks per second came out even over six
/// interleaved pairs.)
async fn batcher(db: Db, owner: Arc<str>, mut queue: mpsc::UnboundedReceiver<Append>) {
    while let Some(mut batch) = next_batch(&mut queue, MAX_BATCH).await {
        // A caller that gave up was answered 503: storing its event now would only surprise.
        batch.retain(|append| !append.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        order(&mut batch);
        run(&db, &owner, batch).await;
    }
}

/// The next batch of a group commit: whatever is queued (at least one, at most `max`), once
/// something is. `None` when the queue is closed and empty.
pub(super) async fn next_batch<T>(
    queue: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
) -> Option<Vec<T>> {
    let first = queue.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Commit one batch and answer its callers.
async fn run(db: &Db, owner: &str, batch: Vec<Append>) {
    let events: Vec<&NewEvent> = batch.iter().map(|a| &a.event).collect();
    let outcomes = match db.intake_conn().await {
        Ok(conn) => commit(TxConn::new(conn), owner, &events).await,
        Err(e) => Err(e),
    };
    let mut outbox = Outbox::default();
    let mut answer = |append: Append, outcome: Result<Appended, StoreError>| {
        let reply = append.reply;
        outbox.answer(&append.caller, move || {
            let _ = reply.send(outcome);
        });
    };
    match outcomes {
        Ok(outcomes) => {
            for (append, outcome) in batch.into_iter().zip(outcomes) {
                answer(append, outcome);
            }
        }
        Err(e) => {
            for append in batch {
                answer(append, Err(e.clone()));
            }
        }
    }
    outbox.send();
}

/// Events with a lane first, in arrival order; then the others by dedup key.
fn order(batch: &mut [Append]) {
    batch.sort_by(|a, b| {
        let (a, b) = (&a.event, &b.event);
        match (&a.lane, &b.lane) {
            (Some(_), Some(_)) => std::cmp::Ordering::Equal,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => (&*a.app, a.dedup_key).cmp(&(&*b.app, b.dedup_key)),
        }
    });
}

/// The lock key of a lane.
pub(super) fn lane_key(app: &str, lane: &str) -> i64 {
    i64::from_be_bytes(hash_key(&["lane", app, lane]))
}

/// [`lane_key`] as an SQL expression over the text expressions `$app` and `$lane`, for a
/// statement that locks a lane it finds out about itself. A test holds the two to the same key.
macro_rules! lane_key_sql {
    ($app:literal, $lane:literal) => {
        concat!(
            "('x' || encode(substr(sha256('lane'::bytea || '\\x00'::bytea || convert_to(",
            $app,
            ", 'UTF8') || '\\x00'::bytea || convert_to(",
            $lane,
            ", 'UTF8') || '\\x00'::bytea), 1, 8), 'hex'))::bit(64)::bigint"
        )
    };
}
pub(super) use lane_key_sql;

/// Every lane lock the batch needs, sorted, each once. An event without deliveries needs none:
/// lane order is the order of deliveries.
fn lane_keys(events: &[&NewEvent]) -> Vec<i64> {
    let mut keys: Vec<i64> = events
        .iter()
        .filter(|e| !e.deliveries.is_empty())
        .filter_map(|e| e.lane.as_deref().map(|lane| lane_key(&e.app, lane)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Why the fast path stopped.
enum Failed {
    /// One append failed (its transaction is over, nothing of it committed): run the batch
    /// again with a savepoint per append.
    Append,
    /// The transaction as a whole failed.
    Batch(StoreError),
}

/// Commit the batch on `conn`: one outcome per event, in order, or one error for all. The
/// connection goes back to the pool when its transaction ended cleanly, and is closed
/// otherwise.
pub(super) async fn commit(
    conn: TxConn,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let too_long = || StoreError("the intake transaction took too long".into());
    let stored = match tokio::time::timeout(BATCH_TIMEOUT, fast_path(&conn, owner, events)).await {
        Ok(Ok(stored)) => stored.into_iter().map(Ok).collect(),
        Ok(Err(Failed::Append)) => {
            tokio::time::timeout(BATCH_TIMEOUT, slow_path(&conn, owner, events))
                .await
                .map_err(|_| too_long())??
        }
        Ok(Err(Failed::Batch(e))) => return Err(e),
        Err(_) => return Err(too_long()),
    };
    let outcomes = insert::resolve(conn.conn()?, events, stored).await?;
    drop(conn.finish());
    Ok(outcomes)
}

/// The whole batch in one transaction without savepoints, sent in one go — `BEGIN`, the lane
/// locks, the store, `COMMIT` — so that a batch costs one round trip. A failed `BEGIN` or lock
/// makes the store fail too ("transaction aborted"), and a failed store makes `COMMIT` roll
/// back: nothing is committed unless every step succeeded. `Failed::Append` when storing
/// failed (the caller takes the slow path).
async fn fast_path(
    conn: &TxConn,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<insert::Stored>, Failed> {
    let client = conn.conn().map_err(Failed::Batch)?;
    let batch = |e: StoreError| Failed::Batch(e);
    // Prepared first: every statement below is sent at its first poll, in this order (a
    // statement still being prepared would let `COMMIT` overtake it).
    let lock = client
        .prepare_cached(LOCK_LANES)
        .await
        .map_err(|e| batch(db_error(e)))?;
    let store = insert::Statements::prepare(client).await.map_err(batch)?;
    let keys = lane_keys(events);
    let begin = client.batch_execute("BEGIN");
    let locks = async {
        if keys.is_empty() {
            Ok(Vec::new())
        } else {
            client.query(&lock, &[&keys]).await
        }
    };
    let (begun, locked, stored, committed) = futures::join!(
        begin,
        locks,
        insert::store(client, &store, owner, events),
        client.batch_execute("COMMIT")
    );
    begun.map_err(|e| batch(db_error(e)))?;
    locked.map_err(|e| batch(db_error(e)))?;
    let stored = stored.map_err(|_| Failed::Append)?;
    committed.map_err(|e| batch(db_error(e)))?;
    Ok(stored)
}

/// The batch again, one append at a time, each inside a savepoint: a failing append fails
/// alone. An error of the transaction itself fails them all.
async fn slow_path(
    conn: &TxConn,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Result<insert::Stored, StoreError>>, StoreError> {
    let client = conn.conn()?;
    let store = insert::Statements::prepare(client).await?;
    client.batch_execute("BEGIN").await.map_err(db_error)?;
    let keys = lane_keys(events);
    if !keys.is_empty() {
        client.query(LOCK_LANES, &[&keys]).await.map_err(db_error)?;
    }
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        client
            .batch_execute("SAVEPOINT append")
            .await
            .map_err(db_error)?;
        match insert::store(client, &store, owner, std::slice::from_ref(event)).await {
            Ok(mut stored) => {
                client
                    .batch_execute("RELEASE append")
                    .await
                    .map_err(db_error)?;
                outcomes.push(
                    stored
                        .pop()
                        .ok_or_else(|| StoreError("an append had no outcome".into())),
                );
            }
            Err(e) => {
                client
                    .batch_execute("ROLLBACK TO append; RELEASE append")
                    .await
                    .map_err(db_error)?;
                outcomes.push(Err(e));
            }
        }
    }
    client.batch_execute("COMMIT").await.map_err(db_error)?;
    Ok(outcomes)
}
