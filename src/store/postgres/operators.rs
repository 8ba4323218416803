//! What operators ask of the shared store (`events list/show/retry/redeliver/purge`, metrics):
//! one statement each, run on the pool.

use std::sync::Arc;

use super::leases::attempts;
use super::{Db, announce, db_error};
use crate::store::{
    DeliveryRecord, DeliveryStatus, EventFilter, GaugeRow, LANE_WAIT, RetryFilter, Stats, Status,
    StoreError, StoredEvent,
};

/// The SQL for an event's derived status, over alias `e`.
const EVENT_STATUS: &str = "CASE
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'dead')
        THEN 'failed'
    ELSE 'done' END";

fn row_to_event(row: &tokio_postgres::Row) -> Result<StoredEvent, StoreError> {
    let status: String = row.try_get(6).map_err(db_error)?;
    Ok(StoredEvent {
        id: row.try_get(0).map_err(db_error)?,
        app: row.try_get(1).map_err(db_error)?,
        kind: row.try_get(2).map_err(db_error)?,
        lane: row.try_get(3).map_err(db_error)?,
        plaintext: row.try_get(4).map_err(db_error)?,
        received_at: row.try_get(5).map_err(db_error)?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
    })
}

/// One event.
pub(super) async fn get(db: &Db, id: i64) -> Result<Option<StoredEvent>, StoreError> {
    db.run("get", move |db| async move {
        let row = db
            .conn()
            .await?
            .query_opt(
                &format!(
                    "SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                                {EVENT_STATUS}
                         FROM events e WHERE e.id = $1"
                ),
                &[&id],
            )
            .await
            .map_err(db_error)?;
        row.as_ref().map(row_to_event).transpose()
    })
    .await
}

/// Every delivery of an event, in order of creation.
pub(super) async fn deliveries(db: &Db, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
    db.run("deliveries", move |db| async move {
        let rows = db
            .conn()
            .await?
            .query(
                "SELECT id, handler, status, attempts, next_at, lease_until, last_error
                     FROM deliveries WHERE event_id = $1 ORDER BY id",
                &[&event_id],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let status = DeliveryStatus::parse(r.try_get(2).map_err(db_error)?);
                let pending = status == DeliveryStatus::Pending;
                Ok(DeliveryRecord {
                    id: r.try_get(0).map_err(db_error)?,
                    handler: r.try_get(1).map_err(db_error)?,
                    status,
                    attempts: attempts(r, 3)?,
                    next_attempt_at: if pending {
                        Some(r.try_get::<_, i64>(4).map_err(db_error)?)
                            .filter(|at| *at != LANE_WAIT)
                    } else {
                        None
                    },
                    leased_until: if pending {
                        r.try_get(5).map_err(db_error)?
                    } else {
                        None
                    },
                    last_error: r.try_get(6).map_err(db_error)?,
                })
            })
            .collect()
    })
    .await
}

/// Events, newest first.
pub(super) async fn list(db: &Db, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
    db.run("list", move |db| async move {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let status = filter.status.map(Status::as_str);
        let conn = db.conn().await?;
        let rows = match &filter.handler {
            None => conn
                .query(
                    &format!(
                        "SELECT * FROM (
                               SELECT e.id, e.app, e.kind, e.order_key, e.plaintext,
                                      e.received_at, {EVENT_STATUS} AS status
                               FROM events e) s
                             WHERE $1::text IS NULL OR s.status = $1
                             ORDER BY s.id DESC LIMIT $2"
                    ),
                    &[&status, &limit],
                )
                .await
                .map_err(db_error)?,
            // The handler's delivery decides: pending, done, or dead (listed as failed).
            Some(handler) => conn
                .query(
                    "SELECT * FROM (
                           SELECT e.id, e.app, e.kind, e.order_key, e.plaintext, e.received_at,
                                  CASE d.status WHEN 'dead' THEN 'failed'
                                                ELSE d.status END AS status
                           FROM events e JOIN deliveries d
                             ON d.event_id = e.id AND d.handler = $3) s
                         WHERE $1::text IS NULL OR s.status = $1
                         ORDER BY s.id DESC LIMIT $2",
                    &[&status, &limit, handler],
                )
                .await
                .map_err(db_error)?,
        };
        rows.iter().map(row_to_event).collect()
    })
    .await
}

/// Make dead deliveries pending again, and tell the instances.
pub(super) async fn retry(
    db: &Db,
    owner: &Arc<str>,
    filter: RetryFilter,
) -> Result<u64, StoreError> {
    let owner = owner.clone();
    let now = crate::clock::now_ms();
    db.run("retry", move |db| async move {
        let conn = db.conn().await?;
        let n = conn
            .execute(
                "UPDATE deliveries
                     SET status = 'pending', attempts = 0, next_at = $3,
                         lease_owner = NULL, lease_until = NULL
                     WHERE status = 'dead' AND ($1::bigint IS NULL OR event_id = $1)
                       AND ($2::text IS NULL OR handler = $2)",
                &[&filter.event_id, &filter.handler, &now],
            )
            .await
            .map_err(db_error)?;
        if n > 0 {
            announce(&conn, &owner).await?;
        }
        Ok(n)
    })
    .await
}

/// Create a pending delivery to `handler` for every event of `app` since `since` that has
/// none, and tell the instances.
pub(super) async fn redeliver(
    db: &Db,
    owner: &Arc<str>,
    (app, handler, since): (&str, &str, i64),
) -> Result<u64, StoreError> {
    let (app, handler, owner) = (app.to_owned(), handler.to_owned(), owner.clone());
    let now = crate::clock::now_ms();
    db.run("redeliver", move |db| async move {
        let conn = db.conn().await?;
        let n = conn
            .execute(
                "INSERT INTO deliveries (event_id, app, handler, lane, next_at, created_at)
                     SELECT e.id, e.app, $2, e.order_key, $4, $4 FROM events e
                     WHERE e.app = $1 AND e.received_at >= $3
                       AND NOT EXISTS (SELECT 1 FROM deliveries d
                                       WHERE d.event_id = e.id AND d.handler = $2)
                     ORDER BY e.id
                     ON CONFLICT (event_id, handler) DO NOTHING",
                &[&app, &handler, &since, &now],
            )
            .await
            .map_err(db_error)?;
        if n > 0 {
            announce(&conn, &owner).await?;
        }
        Ok(n)
    })
    .await
}

/// Delete up to `batch` finished events received before `before`, with their deliveries.
pub(super) async fn purge(db: &Db, before: i64, batch: usize) -> Result<u64, StoreError> {
    let batch = i64::try_from(batch).unwrap_or(i64::MAX);
    db.run("purge", move |db| async move {
        // SKIP LOCKED: instances purging at the same time take different rows.
        db.conn()
            .await?
            .execute(
                "DELETE FROM events WHERE id IN (
                       SELECT e.id FROM events e
                       WHERE e.received_at < $1
                         AND NOT EXISTS (SELECT 1 FROM deliveries d
                                         WHERE d.event_id = e.id AND d.status <> 'done')
                       ORDER BY e.id LIMIT $2
                       FOR UPDATE SKIP LOCKED)",
                &[&before, &batch],
            )
            .await
            .map_err(db_error)
    })
    .await
}

/// Delete failed events (dead letters) received before `before`.
pub(super) async fn purge_failed(db: &Db, before: i64) -> Result<u64, StoreError> {
    db.run("purge failed", move |db| async move {
        db.conn()
            .await?
            .execute(
                "DELETE FROM events e
                     WHERE e.received_at < $1
                       AND EXISTS (SELECT 1 FROM deliveries d
                                   WHERE d.event_id = e.id AND d.status = 'dead')
                       AND NOT EXISTS (SELECT 1 FROM deliveries d
                                       WHERE d.event_id = e.id AND d.status = 'pending')",
                &[&before],
            )
            .await
            .map_err(db_error)
    })
    .await
}

/// Counts per handler and of unfinished events.
pub(super) async fn stats(db: &Db, now: i64) -> Result<Stats, StoreError> {
    db.run("stats", move |db| async move {
        let conn = db.conn().await?;
        let rows = conn
            .query(
                "SELECT app, handler, count(*), min(created_at), 0::bigint
                     FROM deliveries WHERE status = 'pending' GROUP BY app, handler
                     UNION ALL
                     SELECT app, handler, 0::bigint, NULL::bigint, count(*)
                     FROM deliveries WHERE status = 'dead' GROUP BY app, handler",
                &[],
            )
            .await
            .map_err(db_error)?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(db_error)?,
                    row.try_get(1).map_err(db_error)?,
                    row.try_get(2).map_err(db_error)?,
                    row.try_get(3).map_err(db_error)?,
                    row.try_get(4).map_err(db_error)?,
                ))
            })
            .collect::<Result<Vec<GaugeRow>, StoreError>>()?;
        let handlers = crate::store::gauges(rows, now);
        let events_pending: i64 = conn
            .query_one(
                "SELECT count(DISTINCT event_id) FROM deliveries WHERE status = 'pending'",
                &[],
            )
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        Ok(Stats {
            handlers,
            events_pending: u64::try_from(events_pending).unwrap_or(0),
        })
    })
    .await
}
