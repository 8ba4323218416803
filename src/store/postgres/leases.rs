//! What the dispatcher asks of the shared store: lease runnable deliveries (`FOR UPDATE SKIP
//! LOCKED`, so instances leasing at once take different ones), renew and release leases. (Its
//! attempts are recorded by [`super::settles`].)
//!
//! A statement that may wait for several deliveries' row locks takes them in id order, as every
//! other one does (a settle batch, a renewal, a release): two of them never wait for each other
//! in a circle.

use std::sync::Arc;

use tokio_postgres::types::ToSql;

use super::{Db, TxConn, announce, db_error};
use crate::store::{Delivery, LANE_WAIT, LeaseBatch, Leased, StoreError};

/// A stored attempt count (never negative) as the trait's `u32`.
pub(super) fn attempts(row: &tokio_postgres::Row, index: usize) -> Result<u32, StoreError> {
    let n: i32 = row.try_get(index).map_err(db_error)?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// [`LANE_WAIT`] as an SQL literal, for statements that make a delivery wait for its lane or
/// leave such deliveries out: the due index leaves them out (schema migration 3), and a
/// statement can use it only when it says so in so many words. A test holds the two equal.
macro_rules! lane_wait_sql {
    () => {
        "9223372036854775807"
    };
}
pub(super) use lane_wait_sql;

/// Lease runnable deliveries: pending, due, not leased (or the lease expired), and first of
/// their lane (the lane's first pending delivery by event id — which the lane index answers
/// without a sort, once the planner knows the table: see [`super::statistics`]). They are taken
/// in the order they fell due, walking the due index, so a lease passes over only the running
/// deliveries and costs the same however many wait (in event-id order it sorted every due
/// delivery, and ran the lane check for each, at every lease).
pub(super) const LEASE: &str = concat!(
    "
WITH runnable AS (
    SELECT d.id FROM deliveries d
    WHERE d.status = 'pending' AND d.app = $1 AND d.handler = $2 AND d.next_at <= $3
      AND d.next_at < ",
    lane_wait_sql!(),
    "
      AND (d.lease_until IS NULL OR d.lease_until < $3)
      AND (d.lane IS NULL OR d.event_id = (
            SELECT p.event_id FROM deliveries p
            WHERE p.status = 'pending' AND p.app = d.app AND p.handler = d.handler
              AND p.lane = d.lane
            ORDER BY p.event_id LIMIT 1))
    ORDER BY d.next_at
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
), taken AS (
    UPDATE deliveries d SET lease_owner = $5, lease_until = $6
    FROM runnable r WHERE d.id = r.id
    RETURNING d.id, d.event_id, d.handler, d.attempts
)
SELECT t.id, t.event_id, t.handler, t.attempts, e.received_at, e.plaintext
FROM taken t JOIN events e ON e.id = t.event_id
ORDER BY t.event_id"
);

/// When a handler's next delivery falls due (`$1` app, `$2` handler, after `$3` now; not
/// counting those waiting for their lane, whose `next_at` is `LANE_WAIT`).
const NEXT_DUE: &str = concat!(
    "
SELECT min(next_at) FROM deliveries
WHERE status = 'pending' AND app = $1 AND handler = $2 AND next_at > $3
  AND next_at < ",
    lane_wait_sql!()
);

/// Begins a transaction of the dispatcher's own bookkeeping — a lease, a settle — committed
/// without waiting for the disk. A crash of the database may forget such a commit from its
/// last moments; all that costs is a delivery run again (handlers run at least once), while
/// waiting for a WAL flush at each cost the database ~12% more CPU per delivery and ~20% of the
/// deliveries per second (measured with `forward` on the 2-core machine). Intake never does
/// this: an acknowledged event is on disk.
pub(super) const BEGIN_UNSYNCED: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// Lease up to `limit` runnable deliveries of (`app`, `handler`) to `owner` until `until`
/// (Unix ms), oldest first.
pub(super) async fn lease(
    db: &Db,
    owner: &Arc<str>,
    (app, handler, limit): (&str, &str, usize),
    (now, until): (i64, i64),
) -> Result<LeaseBatch, StoreError> {
    let (app, handler, owner) = (app.to_owned(), handler.to_owned(), owner.clone());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    db.run("lease", move |db| async move {
        let tx = TxConn::new(db.conn().await?);
        let conn = tx.conn()?;
        // Both prepared first, then sent together inside their transaction: one round trip
        // (the second runs after the first on the server, so it sees what the lease took).
        let lease = conn.prepare_cached(LEASE).await.map_err(db_error)?;
        let due = conn.prepare_cached(NEXT_DUE).await.map_err(db_error)?;
        let holder: &str = &owner;
        let lease_params: [&(dyn ToSql + Sync); 6] =
            [&app, &handler, &now, &limit, &holder, &until];
        let due_params: [&(dyn ToSql + Sync); 3] = [&app, &handler, &now];
        let taken = async {
            if limit > 0 {
                conn.query(&lease, &lease_params).await
            } else {
                Ok(Vec::new())
            }
        };
        let (begun, rows, next_due, committed) = futures::join!(
            conn.batch_execute(BEGIN_UNSYNCED),
            taken,
            conn.query_one(&due, &due_params),
            conn.batch_execute("COMMIT")
        );
        begun.map_err(db_error)?;
        let rows = rows.map_err(db_error)?;
        let next_due: Option<i64> = next_due.map_err(db_error)?.try_get(0).map_err(db_error)?;
        committed.map_err(db_error)?;
        drop(tx.finish());
        let mut deliveries = Vec::new();
        for row in &rows {
            deliveries.push(Leased {
                delivery: Delivery {
                    id: row.try_get(0).map_err(db_error)?,
                    event_id: row.try_get(1).map_err(db_error)?,
                    handler: row.try_get(2).map_err(db_error)?,
                    attempts: attempts(row, 3)?,
                    received_at: row.try_get(4).map_err(db_error)?,
                },
                plaintext: row.try_get(5).map_err(db_error)?,
            });
        }
        Ok(LeaseBatch {
            deliveries,
            next_due,
        })
    })
    .await
}

/// Extend `owner`'s leases on `ids` until `until`.
pub(super) async fn renew(
    db: &Db,
    owner: &Arc<str>,
    ids: Vec<i64>,
    until: i64,
) -> Result<(), StoreError> {
    let owner = owner.clone();
    db.run("renew", move |db| async move {
        db.conn()
            .await?
            .execute(
                "WITH held AS (
                     SELECT id FROM deliveries WHERE id = ANY($1) AND lease_owner = $2
                     ORDER BY id FOR UPDATE
                 )
                 UPDATE deliveries d SET lease_until = $3 FROM held h WHERE d.id = h.id",
                &[&ids, &&*owner, &until],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    })
    .await
}

/// Give up `owner`'s leases on `ids`, and tell the other instances they can run them.
pub(super) async fn release(db: &Db, owner: &Arc<str>, ids: Vec<i64>) -> Result<(), StoreError> {
    let owner = owner.clone();
    db.run("release", move |db| async move {
        let conn = db.conn().await?;
        let released = conn
            .execute(
                "WITH held AS (
                     SELECT id FROM deliveries WHERE id = ANY($1) AND lease_owner = $2
                     ORDER BY id FOR UPDATE
                 )
                 UPDATE deliveries d SET lease_owner = NULL, lease_until = NULL
                 FROM held h WHERE d.id = h.id",
                &[&ids, &&*owner],
            )
            .await
            .map_err(db_error)?;
        if released > 0 {
            announce(&conn, &owner).await?;
        }
        Ok(())
    })
    .await
}

/// Make due every waiting delivery that has nothing unfinished before it in its lane (a safety
/// net run at start: settling normally does this).
pub(super) async fn unwait(db: &Db) -> Result<(), StoreError> {
    db.run("unwait", move |db| async move {
        let conn = db.conn().await?;
        conn.execute(
            "WITH first AS (
                 SELECT d.id FROM deliveries d
                 WHERE d.status = 'pending' AND d.next_at = $2
                   AND NOT EXISTS (SELECT 1 FROM deliveries p
                                   WHERE p.status = 'pending' AND p.app = d.app
                                     AND p.handler = d.handler AND p.lane = d.lane
                                     AND p.event_id < d.event_id)
                 ORDER BY d.id FOR UPDATE OF d
             )
             UPDATE deliveries d SET next_at = $1 FROM first f WHERE d.id = f.id",
            &[&crate::clock::now_ms(), &LANE_WAIT],
        )
        .await
        .map_err(db_error)?;
        Ok(())
    })
    .await
}
