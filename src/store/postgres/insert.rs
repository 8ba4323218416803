//! The statements that store a batch of events and their deliveries, set-based: one
//! multi-row insert for the events, one lookup for the duplicates, one multi-row insert for the
//! deliveries — whatever the batch's size. Each has a fixed number of parameters (arrays), so
//! the database plans it once per connection.
//!
//! This module only inserts; the transaction, the lane locks and the savepoints belong to
//! [`super::intake`].

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::db_error;
use crate::store::{Appended, Delivery, NewEvent, StoreError};

/// Take the lane locks, in the order given (sorted by the caller).
pub(super) const LOCK_LANES: &str =
    "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k";

/// The events, in batch order; a dedup key already stored (or twice in the batch) is skipped.
const INSERT_EVENTS: &str = "
INSERT INTO events (app, dedup_key, kind, order_key, plaintext, received_at)
SELECT app, dedup_key, kind, order_key, plaintext, received_at
FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::bigint[])
     WITH ORDINALITY AS e (app, dedup_key, kind, order_key, plaintext, received_at, ord)
ORDER BY ord
ON CONFLICT DO NOTHING
RETURNING id, app, dedup_key";

/// The ids of dedup keys already stored (a new statement: it sees what committed meanwhile).
const EXISTING: &str = "
SELECT e.id, e.app, e.dedup_key
FROM events e JOIN unnest($1::text[], $2::bytea[]) AS k (app, dedup_key)
  ON e.app = k.app AND e.dedup_key = k.dedup_key";

/// The deliveries, in batch order. One is leased to this instance when it is wanted (asked
/// for, and first of its lane in the batch) and no earlier delivery of its lane is pending.
/// The lane check asks for the lane's first pending delivery by event id, which only the lane
/// index answers without a sort, so that even a plan made on an empty table uses it. A delivery
/// behind an unfinished one of its lane waits (`next_at` = `LANE_WAIT`) until settling that one
/// makes it due, so leasing looks only at the heads of lanes. (Two events of one lane in the
/// same batch do not see each other here: both are due, and the lease's lane check orders
/// them.)
const INSERT_DELIVERIES: &str = "
INSERT INTO deliveries
    (event_id, app, handler, lane, next_at, created_at, lease_owner, lease_until)
SELECT d.event_id, d.app, d.handler, d.lane,
       CASE WHEN d.free THEN d.received_at ELSE 9223372036854775807 END, d.received_at,
       CASE WHEN d.want AND d.free THEN $8::text END,
       CASE WHEN d.want AND d.free THEN d.lease_until END
FROM (
    SELECT x.event_id, x.app, x.handler, x.lane, x.received_at, x.lease_until, x.ord, x.want,
           (x.lane IS NULL OR (
               SELECT p.event_id FROM deliveries p
               WHERE p.status = 'pending' AND p.app = x.app AND p.handler = x.handler
                 AND p.lane = x.lane
               ORDER BY p.event_id LIMIT 1) IS NULL) AS free
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bool[],
                $7::bigint[])
         WITH ORDINALITY AS x (event_id, app, handler, lane, received_at, want, lease_until, ord)
) d
ORDER BY d.ord
RETURNING id, event_id, handler, lease_owner IS NOT NULL";

/// What the events insert said about one event of the batch.
#[derive(Clone, Copy)]
enum Slot {
    /// Stored now under this id.
    New(i64),
    /// Already stored under this id (earlier in the same batch).
    Duplicate(i64),
    /// Already stored before: its id is looked up.
    Stored,
}

/// `(app, dedup key)` → id, from rows of `id, app, dedup_key` (borrowing from the rows).
fn ids_by_key(rows: &[Row]) -> Result<HashMap<(&str, &[u8]), i64>, StoreError> {
    rows.iter()
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

/// Store `events` (in this order) with their deliveries, inside the caller's transaction.
/// Returns each event's outcome and whether a delivery was left unleased (other instances
/// should hear of it).
///
/// # Errors
/// A statement failed: the transaction (or savepoint) must be rolled back.
pub(super) async fn insert(
    client: &Object,
    owner: &str,
    events: &[&NewEvent],
) -> Result<(Vec<Appended>, bool), StoreError> {
    let insert_events = client
        .prepare_cached(INSERT_EVENTS)
        .await
        .map_err(db_error)?;
    let apps: Vec<&str> = events.iter().map(|e| &*e.app).collect();
    let keys: Vec<&[u8]> = events.iter().map(|e| &e.dedup_key[..]).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let lanes: Vec<Option<&str>> = events.iter().map(|e| e.lane.as_deref()).collect();
    let texts: Vec<&str> = events.iter().map(|e| e.plaintext.as_str()).collect();
    let received: Vec<i64> = events.iter().map(|e| e.received_at).collect();
    let params: [&(dyn ToSql + Sync); 6] = [&apps, &keys, &kinds, &lanes, &texts, &received];
    let rows = client
        .query(&insert_events, &params)
        .await
        .map_err(db_error)?;
    let mut new = ids_by_key(&rows)?;
    let mut seen = HashMap::new();
    let slots: Vec<Slot> = events
        .iter()
        .map(|e| {
            let key = (&*e.app, &e.dedup_key[..]);
            if let Some(id) = new.remove(&key) {
                seen.insert(key, id);
                Slot::New(id)
            } else if let Some(id) = seen.get(&key) {
                Slot::Duplicate(*id)
            } else {
                Slot::Stored
            }
        })
        .collect();

    let deliveries = DeliveryColumns::new(events, &slots);
    let stored: Vec<&NewEvent> = events
        .iter()
        .zip(&slots)
        .filter(|(_, slot)| matches!(slot, Slot::Stored))
        .map(|(e, _)| *e)
        .collect();
    let (made, found) = futures::join!(deliveries.insert(client, owner), lookup(client, &stored));
    let made = made?;
    let found_rows = found?;
    let found = ids_by_key(&found_rows)?;

    let mut leased: HashMap<i64, Vec<Delivery>> = HashMap::new();
    let mut unleased = false;
    for row in &made {
        let id: i64 = row.try_get(0).map_err(db_error)?;
        let event_id: i64 = row.try_get(1).map_err(db_error)?;
        if row.try_get::<_, bool>(3).map_err(db_error)? {
            leased.entry(event_id).or_default().push(Delivery {
                id,
                event_id,
                handler: row.try_get(2).map_err(db_error)?,
                attempts: 0,
                received_at: 0,
            });
        } else {
            unleased = true;
        }
    }
    let mut outcomes = Vec::with_capacity(events.len());
    for (event, slot) in events.iter().zip(slots) {
        outcomes.push(match slot {
            Slot::New(id) => {
                let mut mine = leased.remove(&id).unwrap_or_default();
                mine.sort_by_key(|d| d.id);
                for delivery in &mut mine {
                    delivery.received_at = event.received_at;
                }
                Appended::New { id, leased: mine }
            }
            Slot::Duplicate(id) => Appended::Duplicate(id),
            Slot::Stored => {
                let key = (&*event.app, &event.dedup_key[..]);
                match found.get(&key) {
                    Some(id) => Appended::Duplicate(*id),
                    // Purged between the conflict and the lookup: WeCom's next retry stores it.
                    None => {
                        return Err(StoreError(
                            "the stored event was purged while its retry arrived".into(),
                        ));
                    }
                }
            }
        });
    }
    Ok((outcomes, unleased))
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

/// The deliveries of the batch's new events, as the columns of [`INSERT_DELIVERIES`].
struct DeliveryColumns<'a> {
    event_ids: Vec<i64>,
    apps: Vec<&'a str>,
    handlers: Vec<&'a str>,
    lanes: Vec<Option<&'a str>>,
    received: Vec<i64>,
    wants: Vec<bool>,
    lease_until: Vec<i64>,
}

impl<'a> DeliveryColumns<'a> {
    /// A delivery is wanted leased when intake asked for it and no earlier event of the batch
    /// has a delivery in its lane (those rows are not visible to the statement's lane check).
    fn new(events: &[&'a NewEvent], slots: &[Slot]) -> Self {
        let mut columns = DeliveryColumns {
            event_ids: Vec::new(),
            apps: Vec::new(),
            handlers: Vec::new(),
            lanes: Vec::new(),
            received: Vec::new(),
            wants: Vec::new(),
            lease_until: Vec::new(),
        };
        let mut lanes_taken: HashSet<(&str, &str, &str)> = HashSet::new();
        for (event, slot) in events.iter().zip(slots) {
            let Slot::New(id) = slot else {
                continue;
            };
            for delivery in &event.deliveries {
                let first_of_lane = match event.lane.as_deref() {
                    Some(lane) => lanes_taken.insert((&event.app, &delivery.handler, lane)),
                    None => true,
                };
                columns.event_ids.push(*id);
                columns.apps.push(&event.app);
                columns.handlers.push(&delivery.handler);
                columns.lanes.push(event.lane.as_deref());
                columns.received.push(event.received_at);
                columns.wants.push(delivery.lease && first_of_lane);
                columns.lease_until.push(event.lease_until);
            }
        }
        columns
    }

    async fn insert(&self, client: &Object, owner: &str) -> Result<Vec<Row>, StoreError> {
        if self.event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = client
            .prepare_cached(INSERT_DELIVERIES)
            .await
            .map_err(db_error)?;
        let params: [&(dyn ToSql + Sync); 8] = [
            &self.event_ids,
            &self.apps,
            &self.handlers,
            &self.lanes,
            &self.received,
            &self.wants,
            &self.lease_until,
            &owner,
        ];
        client.query(&statement, &params).await.map_err(db_error)
    }
}
