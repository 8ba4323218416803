//! Recording attempts on PostgreSQL: group commit, as intake does.
//!
//! Every finished attempt queues its outcome for one batcher task per instance, which takes
//! everything queued at that moment and records it in one transaction, sent in one round trip:
//!
//! 1. [`SETTLE`] locks the batch's deliveries that this instance still holds, in id order
//!    (renewals and releases lock in the same order, so that they never wait for each other in a
//!    circle), records each outcome, and then takes the lane lock of every delivery that finished
//!    in a lane, in key order (as intake does, and every other settle batch). The lock makes an
//!    append adding to the lane wait, or have committed, by the time the next statement looks.
//! 2. [`NEXT_IN_LANE`], a statement of its own so that its snapshot is taken after those locks:
//!    for each delivery that finished in a lane, the lane's next pending delivery, made due if
//!    it was waiting for its turn.
//!
//! A transaction per attempt made the database's cost per delivery about twice what it is in
//! batches (on the 2-core machine, with a `forward` handler: 240–390 µs of its CPU per delivery
//! against 130–175 µs, and +55–70% callbacks per second taken in meanwhile), and bounded a
//! handler's rate on PostgreSQL.
//!
//! Like the dispatcher's other bookkeeping, the batch commits without waiting for the disk
//! ([`super::leases::BEGIN_UNSYNCED`]). When it fails, every attempt of it fails (nothing was
//! recorded) and the dispatcher records each again; a batch has no per-attempt failure to
//! isolate (the texts are made storable first, the values are the dispatcher's own).

use std::borrow::Cow;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::intake::{lane_key_sql, next_batch};
use super::leases::BEGIN_UNSYNCED;
use super::{Db, TxConn, announce, db_error};
use crate::store::{LANE_WAIT, Outcome, Settled, StoreError};

/// The most attempts recorded in one transaction.
const MAX_BATCH: usize = 512;

/// Record the attempts (`$1` deliveries, held by `$2`; `$3` status, `$4` attempts, `$5` next
/// try or NULL, `$6` error or NULL, one element per delivery), then take the lane lock of each
/// that finished in a lane, in key order. One row per attempt recorded.
pub(super) const SETTLE: &str = concat!(
    "
WITH outcome AS (
    SELECT * FROM unnest($1::bigint[], $3::text[], $4::integer[], $5::bigint[], $6::text[])
        AS o(id, status, attempts, next_at, last_error)
), held AS (
    SELECT d.id FROM deliveries d JOIN outcome o ON o.id = d.id
    WHERE d.lease_owner = $2
    ORDER BY d.id
    FOR UPDATE OF d
), settled AS (
    UPDATE deliveries d
    SET status = o.status, attempts = o.attempts, next_at = coalesce(o.next_at, d.next_at),
        last_error = o.last_error, lease_owner = NULL, lease_until = NULL
    FROM held h JOIN outcome o ON o.id = h.id
    WHERE d.id = h.id
    RETURNING d.id,
        CASE WHEN d.lane IS NOT NULL AND d.status <> 'pending'
             THEN ",
    lane_key_sql!("d.app", "d.lane"),
    " END AS lane_key
)
SELECT s.id, CASE WHEN s.lane_key IS NOT NULL THEN pg_advisory_xact_lock(s.lane_key) END
FROM settled s
ORDER BY s.lane_key"
);

/// After the deliveries `$1` finished (done or dead) in their lanes: each lane's next pending
/// delivery, made due (`$2`) if it was waiting (`$3`), locked in id order. Returns the finished
/// deliveries whose lane has more to run. Nothing for a delivery without a lane, or one to be
/// retried.
pub(super) const NEXT_IN_LANE: &str = "
WITH finished AS (
    SELECT id, app, handler, lane, event_id FROM deliveries
    WHERE id = ANY($1) AND status <> 'pending' AND lane IS NOT NULL
), next AS (
    SELECT f.id AS finished, n.id, n.next_at FROM finished f
    CROSS JOIN LATERAL (
        SELECT p.id, p.next_at FROM deliveries p
        WHERE p.status = 'pending' AND p.app = f.app AND p.handler = f.handler
          AND p.lane = f.lane AND p.event_id > f.event_id
        ORDER BY p.event_id LIMIT 1
    ) n
), waiting AS (
    SELECT d.id FROM deliveries d JOIN next n ON n.id = d.id
    WHERE n.next_at = $3
    ORDER BY d.id
    FOR UPDATE OF d
), due AS (
    UPDATE deliveries d SET next_at = $2 FROM waiting w WHERE d.id = w.id
)
SELECT finished FROM next";

/// One attempt waiting for its batch.
pub(super) struct Settle {
    id: i64,
    attempts: i32,
    outcome: Outcome,
    reply: oneshot::Sender<Result<Settled, StoreError>>,
}

/// Queue an attempt's outcome for the batcher and wait for its commit (the batch runs within
/// the store's operation deadline).
pub(super) async fn settle(
    queue: &mpsc::UnboundedSender<Settle>,
    id: i64,
    attempts: u32,
    outcome: Outcome,
) -> Result<Settled, StoreError> {
    let stopped = || StoreError("the PostgreSQL settle batcher stopped".into());
    let (reply, answer) = oneshot::channel();
    queue
        .send(Settle {
            id,
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            outcome,
            reply,
        })
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// Start the batcher on the database's runtime; it stops when the returned sender (and every
/// clone) is dropped.
pub(super) fn spawn(db: Db, owner: Arc<str>) -> mpsc::UnboundedSender<Settle> {
    let (queue, settles) = mpsc::unbounded_channel();
    db.runtime.clone().spawn(batcher(db, owner, settles));
    queue
}

/// Record batches one after another: each takes everything queued when the last one ended.
async fn batcher(db: Db, owner: Arc<str>, mut queue: mpsc::UnboundedReceiver<Settle>) {
    while let Some(batch) = next_batch(&mut queue, MAX_BATCH).await {
        let rows = Rows::of(&batch);
        let result = {
            let owner = owner.clone();
            db.run("settle", move |db| record(db, owner, rows)).await
        };
        for settle in batch {
            let answer = match &result {
                Ok(recorded) => Ok(recorded.of(settle.id)),
                Err(e) => Err(e.clone()),
            };
            let _ = settle.reply.send(answer);
        }
    }
}

/// A batch as the columns [`SETTLE`] takes.
struct Rows {
    ids: Vec<i64>,
    statuses: Vec<&'static str>,
    attempts: Vec<i32>,
    next_at: Vec<Option<i64>>,
    errors: Vec<Option<String>>,
}

impl Rows {
    /// The columns of `batch`, in its order.
    fn of(batch: &[Settle]) -> Rows {
        let mut rows = Rows {
            ids: Vec::with_capacity(batch.len()),
            statuses: Vec::with_capacity(batch.len()),
            attempts: Vec::with_capacity(batch.len()),
            next_at: Vec::with_capacity(batch.len()),
            errors: Vec::with_capacity(batch.len()),
        };
        for settle in batch {
            let (status, next_at, error) = match &settle.outcome {
                Outcome::Done => ("done", None, None),
                Outcome::Retry { at, error } => ("pending", Some(*at), Some(storable(error))),
                Outcome::Dead { error } => ("dead", None, Some(storable(error))),
            };
            rows.ids.push(settle.id);
            rows.statuses.push(status);
            rows.attempts.push(settle.attempts);
            rows.next_at.push(next_at);
            rows.errors.push(error.map(Cow::into_owned));
        }
        rows
    }
}

/// What one batch recorded.
struct Recorded {
    /// The attempts recorded (their delivery was still held by this instance).
    recorded: FxHashSet<i64>,
    /// The finished deliveries whose lane has more to run.
    lane_has_more: FxHashSet<i64>,
}

impl Recorded {
    /// What the batch did with the attempt of delivery `id`.
    fn of(&self, id: i64) -> Settled {
        let recorded = self.recorded.contains(&id);
        Settled {
            recorded,
            lane_has_more: recorded && self.lane_has_more.contains(&id),
        }
    }
}

/// Record one batch in one transaction and round trip; a lane with more to run is announced to
/// the other instances.
async fn record(db: Db, owner: Arc<str>, rows: Rows) -> Result<Recorded, StoreError> {
    let tx = TxConn::new(db.conn().await?);
    let conn = tx.conn()?;
    // Prepared first, then sent together: the server runs each statement after the one
    // before; a failed one makes the rest fail, and `COMMIT` roll back.
    let settle = conn.prepare_cached(SETTLE).await.map_err(db_error)?;
    let next = conn.prepare_cached(NEXT_IN_LANE).await.map_err(db_error)?;
    let holder: &str = &owner;
    let params: [&(dyn ToSql + Sync); 6] = [
        &rows.ids,
        &holder,
        &rows.statuses,
        &rows.attempts,
        &rows.next_at,
        &rows.errors,
    ];
    let now = crate::clock::now_ms();
    let next_params: [&(dyn ToSql + Sync); 3] = [&rows.ids, &now, &LANE_WAIT];
    let (begun, settled, found, committed) = futures::join!(
        conn.batch_execute(BEGIN_UNSYNCED),
        conn.query(&settle, &params),
        conn.query(&next, &next_params),
        conn.batch_execute("COMMIT")
    );
    begun.map_err(db_error)?;
    let settled = settled.map_err(db_error)?;
    let found = found.map_err(db_error)?;
    committed.map_err(db_error)?;
    let conn = tx.finish();
    let recorded = ids(&settled)?;
    let lane_has_more: FxHashSet<i64> = ids(&found)?
        .into_iter()
        .filter(|id| recorded.contains(id))
        .collect();
    // Committed: a failed announcement must not fail the attempts (recorded again, they
    // would look like lost leases). This instance runs the lanes' next deliveries itself;
    // the others find them at their next look.
    if !lane_has_more.is_empty()
        && let Some(conn) = &conn
        && let Err(e) = announce(conn, &owner).await
    {
        tracing::warn!(error = %e, "cannot announce lanes with more to run to the other instances");
    }
    Ok(Recorded {
        recorded,
        lane_has_more,
    })
}

/// The first column of `rows`, as ids.
fn ids(rows: &[tokio_postgres::Row]) -> Result<FxHashSet<i64>, StoreError> {
    rows.iter()
        .map(|row| row.try_get(0).map_err(db_error))
        .collect()
}

/// A handler's error text as PostgreSQL can store it: a NUL character (which a plug-in may
/// pass on from anywhere, say a response body) becomes U+FFFD. Refused, it would fail the
/// settle at every retry, holding the handler's slot for ever.
fn storable(error: &str) -> Cow<'_, str> {
    if error.contains('\0') {
        Cow::Owned(error.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(error)
    }
}
