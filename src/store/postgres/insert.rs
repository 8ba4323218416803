//! The statement that stores a batch of events with their deliveries, set-based and in one
//! round trip whatever the batch's size: a multi-row insert of the events and, joined to the
//! events it stored, a multi-row insert of their deliveries, in one statement. It has a fixed
//! number of parameters (arrays), so the database plans it once per connection. Events already
//! stored (retries) are looked up afterwards ([`resolve`]), outside the transaction. A batch
//! in which no event has a delivery is stored by the events' insert alone
//! ([`STORE_EVENTS`]): the deliveries' half cost the database ~14% of its CPU per callback in
//! such batches for nothing.
//!
//! This module only stores; the transaction, the lane locks and the savepoints belong to
//! [`super::intake`].

use rustc_hash::{FxHashMap, FxHashSet};

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::leases::lane_wait_sql;
use super::{CHANNEL, db_error};
use crate::store::{Appended, Delivery, NewEvent, StoreError};

/// Take the lane locks, in the order given (sorted by the caller).
pub(super) const LOCK_LANES: &str =
    "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k";

/// The insert of a batch's events (parameters `$1`–`$6`, in batch order; a dedup key already
/// stored, or twice in the batch, is skipped), without its `RETURNING`: the one part
/// [`STORE`] and [`STORE_EVENTS`] share.
macro_rules! insert_events {
    () => {
        "
INSERT INTO events (app, dedup_key, kind, order_key, plaintext, received_at)
SELECT app, dedup_key, kind, order_key, plaintext, received_at
FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::bigint[])
     WITH ORDINALITY AS e (app, dedup_key, kind, order_key, plaintext, received_at, ord)
ORDER BY ord
ON CONFLICT DO NOTHING"
    };
}

/// The events, in batch order (a dedup key already stored, or twice in the batch, is skipped),
/// and the deliveries of those it stored, in batch order.
///
/// A delivery is leased to this instance when it is wanted (asked for, and first of its lane
/// in the batch) and no earlier delivery of its lane is pending. The lane check asks for the
/// lane's first pending delivery by event id, which only the lane index answers without a
/// sort, so that even a plan made on an empty table uses it. A delivery behind an unfinished
/// one of its lane waits (`next_at` = `LANE_WAIT`) until settling that one makes it due, so
/// leasing looks only at the heads of lanes. (Two events of one lane in the same batch do not
/// see each other here: both are due, and the lease's lane check orders them.) A delivery left
/// unleased is announced to the other instances (`pg_notify`, sent at commit; one per
/// transaction however many ask).
///
/// Rows: `id, app, dedup_key` of a stored event (`event_id` null), or `id, event_id, handler,
/// leased` of a delivery.
pub(super) const STORE: &str = concat!(
    "
WITH new_events AS (",
    insert_events!(),
    "
    RETURNING id, app, dedup_key, order_key, received_at
), new_deliveries AS (
    INSERT INTO deliveries
        (event_id, app, handler, lane, next_at, created_at, lease_owner, lease_until)
    SELECT d.event_id, d.app, d.handler, d.lane,
           CASE WHEN d.free THEN d.received_at ELSE ",
    lane_wait_sql!(),
    " END, d.received_at,
           CASE WHEN d.want AND d.free THEN $11::text END,
           CASE WHEN d.want AND d.free THEN d.lease_until END
    FROM (
        SELECT n.id AS event_id, n.app, x.handler, n.order_key AS lane, n.received_at,
               x.lease_until, x.ord, x.want,
               (n.order_key IS NULL OR (
                   SELECT p.event_id FROM deliveries p
                   WHERE p.status = 'pending' AND p.app = n.app AND p.handler = x.handler
                     AND p.lane = n.order_key
                   ORDER BY p.event_id LIMIT 1) IS NULL) AS free
        FROM unnest($7::bytea[], $8::text[], $9::bool[], $10::bigint[])
             WITH ORDINALITY AS x (dedup_key, handler, want, lease_until, ord)
        JOIN new_events n ON n.dedup_key = x.dedup_key
    ) d
    ORDER BY d.ord
    RETURNING id, event_id, handler,
              CASE WHEN lease_owner IS NOT NULL THEN true
                   ELSE pg_notify($12, $11) IS NULL END AS leased
)
SELECT id, app, dedup_key, NULL::bigint AS event_id, NULL::text AS handler,
       NULL::bool AS leased
FROM new_events
UNION ALL
SELECT id, NULL, NULL, event_id, handler, leased FROM new_deliveries"
);

/// [`STORE`] for a batch in which no event has a delivery (no handler wants any of them):
/// only the events' insert, without the deliveries' insert, its lane check and the union,
/// which the database would set up and run for nothing at every batch. Its rows have the
/// same columns.
pub(super) const STORE_EVENTS: &str = concat!(
    insert_events!(),
    "
RETURNING id, app, dedup_key, NULL::bigint AS event_id, NULL::text AS handler,
          NULL::bool AS leased"
);

/// [`STORE`] and [`STORE_EVENTS`], prepared on one connection (each once per connection: the
/// client caches them).
pub(super) struct Statements {
    with_deliveries: Statement,
    events_only: Statement,
}

impl Statements {
    /// Prepare both on `client`.
    ///
    /// # Errors
    /// The database refused to prepare one.
    pub(super) async fn prepare(client: &Object) -> Result<Self, StoreError> {
        Ok(Statements {
            with_deliveries: client.prepare_cached(STORE).await.map_err(db_error)?,
            events_only: client
                .prepare_cached(STORE_EVENTS)
                .await
                .map_err(db_error)?,
        })
    }
}

/// The ids of dedup keys already stored (a new statement: it sees what committed meanwhile).
pub(super) const EXISTING: &str = "
SELECT e.id, e.app, e.dedup_key
FROM events e JOIN unnest($1::text[], $2::bytea[]) AS k (app, dedup_key)
  ON e.app = k.app AND e.dedup_key = k.dedup_key";

/// What storing said about one event of the batch.
#[derive(Debug)]
pub(super) enum Stored {
    /// Stored now, with the deliveries leased to this instance.
    New(i64, Vec<Delivery>),
    /// Already stored under this id (earlier in the same batch).
    Duplicate(i64),
    /// Already stored before: its id is looked up by [`resolve`].
    Before,
}

/// `(app, dedup key)` → id, from rows of `id, app, dedup_key` (borrowing from the rows). The
/// maps of a batch hash with FxHash: nothing here comes from a client that could pick keys
/// that collide (a dedup key is a sha256).
fn ids_by_key<'r>(
    rows: impl IntoIterator<Item = &'r Row>,
) -> Result<FxHashMap<(&'r str, &'r [u8]), i64>, StoreError> {
    rows.into_iter()
        .map(|row| {
            Ok((
                (
                    row.try_get(1).map_err(db_error)?,
                    row.try_get(2).map_err(db_error)?,
                ),
                row.try_get(0).map_err(db_error)?,
            ))
        })
        .collect()
}

/// Store `events` (in this order) with their deliveries, inside the caller's transaction, with
/// one of `statements` ([`STORE`], or [`STORE_EVENTS`] when no event has a delivery): what
/// became of each event, in order. The statement is sent at the first poll, so that
/// statements the caller polls after it follow it.
///
/// # Errors
/// The statement failed: the transaction (or savepoint) must be rolled back.
pub(super) async fn store(
    client: &Object,
    statements: &Statements,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Stored>, StoreError> {
    let apps: Vec<&str> = events.iter().map(|e| &*e.app).collect();
    let keys: Vec<&[u8]> = events.iter().map(|e| &e.dedup_key[..]).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let lanes: Vec<Option<&str>> = events.iter().map(|e| e.lane.as_deref()).collect();
    let texts: Vec<&str> = events.iter().map(|e| e.plaintext.as_str()).collect();
    let received: Vec<i64> = events.iter().map(|e| e.received_at).collect();
    let deliveries = DeliveryColumns::new(events);
    let params: [&(dyn ToSql + Sync); 12] = [
        &apps,
        &keys,
        &kinds,
        &lanes,
        &texts,
        &received,
        &deliveries.keys,
        &deliveries.handlers,
        &deliveries.wants,
        &deliveries.lease_until,
        &owner,
        &CHANNEL,
    ];
    let rows = if deliveries.keys.is_empty() {
        client.query(&statements.events_only, &params[..6]).await
    } else {
        client.query(&statements.with_deliveries, &params).await
    }
    .map_err(db_error)?;

    let mut event_rows = Vec::new();
    let mut leased: FxHashMap<i64, Vec<Delivery>> = FxHashMap::default();
    for row in &rows {
        let Some(event_id) = row.try_get::<_, Option<i64>>(3).map_err(db_error)? else {
            event_rows.push(row);
            continue;
        };
        if row.try_get::<_, bool>(5).map_err(db_error)? {
            leased.entry(event_id).or_default().push(Delivery {
                id: row.try_get(0).map_err(db_error)?,
                event_id,
                handler: row.try_get(4).map_err(db_error)?,
                attempts: 0,
                received_at: 0,
            });
        }
    }
    let mut new = ids_by_key(event_rows)?;
    let mut seen = FxHashMap::default();
    Ok(events
        .iter()
        .map(|e| {
            let key = (&*e.app, &e.dedup_key[..]);
            if let Some(id) = new.remove(&key) {
                seen.insert(key, id);
                let mut mine = leased.remove(&id).unwrap_or_default();
                mine.sort_by_key(|d| d.id);
                for delivery in &mut mine {
                    delivery.received_at = e.received_at;
                }
                Stored::New(id, mine)
            } else if let Some(id) = seen.get(&key) {
                Stored::Duplicate(*id)
            } else {
                Stored::Before
            }
        })
        .collect())
}

/// Each event's outcome, looking up the ids of those stored before (after the transaction:
/// a new statement sees every commit). `stored` holds one entry per event of `events`.
///
/// # Errors
/// The lookup failed, or an event stored before was purged meanwhile (WeCom's next retry
/// stores it).
pub(super) async fn resolve<E>(
    client: &Object,
    events: &[&NewEvent],
    stored: Vec<Result<Stored, E>>,
) -> Result<Vec<Result<Appended, E>>, StoreError> {
    let before: Vec<&NewEvent> = events
        .iter()
        .zip(&stored)
        .filter(|(_, s)| matches!(s, Ok(Stored::Before)))
        .map(|(e, _)| *e)
        .collect();
    let found_rows = lookup(client, &before).await?;
    let found = ids_by_key(&found_rows)?;
    events
        .iter()
        .zip(stored)
        .map(|(event, stored)| {
            Ok(match stored {
                Ok(Stored::New(id, leased)) => Ok(Appended::New { id, leased }),
                Ok(Stored::Duplicate(id)) => Ok(Appended::Duplicate(id)),
                Ok(Stored::Before) => {
                    let key = (&*event.app, &event.dedup_key[..]);
                    match found.get(&key) {
                        Some(id) => Ok(Appended::Duplicate(*id)),
                        None => {
                            return Err(StoreError(
                                "the stored event was purged while its retry arrived".into(),
                            ));
                        }
                    }
                }
                Err(e) => Err(e),
            })
        })
        .collect()
}

/// The ids of events already stored, as rows of `id, app, dedup_key`.
async fn lookup(client: &Object, stored: &[&NewEvent]) -> Result<Vec<Row>, StoreError> {
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let existing = client.prepare_cached(EXISTING).await.map_err(db_error)?;
    let apps: Vec<&str> = stored.iter().map(|e| &*e.app).collect();
    let keys: Vec<&[u8]> = stored.iter().map(|e| &e.dedup_key[..]).collect();
    client
        .query(&existing, &[&apps, &keys])
        .await
        .map_err(db_error)
}

/// The deliveries of the batch's events, keyed by their event's dedup key (the statement
/// joins them to the events it stored: an event stored before gets none).
struct DeliveryColumns<'a> {
    keys: Vec<&'a [u8]>,
    handlers: Vec<&'a str>,
    wants: Vec<bool>,
    lease_until: Vec<i64>,
}

impl<'a> DeliveryColumns<'a> {
    /// Only the first event of a dedup key has deliveries (a second one in the batch is a
    /// duplicate). A delivery is wanted leased when intake asked for it and no earlier event
    /// of the batch has a delivery in its lane (those rows are not visible to the statement's
    /// lane check).
    fn new(events: &[&'a NewEvent]) -> Self {
        let mut columns = DeliveryColumns {
            keys: Vec::new(),
            handlers: Vec::new(),
            wants: Vec::new(),
            lease_until: Vec::new(),
        };
        let mut firsts: FxHashSet<(&str, &[u8])> = FxHashSet::default();
        let mut lanes_taken: FxHashSet<(&str, &str, &str)> = FxHashSet::default();
        for event in events {
            if event.deliveries.is_empty() || !firsts.insert((&event.app, &event.dedup_key)) {
                continue;
            }
            for delivery in &event.deliveries {
                let first_of_lane = match event.lane.as_deref() {
                    Some(lane) => lanes_taken.insert((&event.app, &delivery.handler, lane)),
                    None => true,
                };
                columns.keys.push(&event.dedup_key);
                columns.handlers.push(&delivery.handler);
                columns.wants.push(delivery.lease && first_of_lane);
                columns.lease_until.push(event.lease_until);
            }
        }
        columns
    }
}
