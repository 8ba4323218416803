//! Intake on PostgreSQL: group commit with per-lane order across instances.
//!
//! Callbacks queue their append for one batcher task, which takes everything queued at that
//! moment and commits it in one transaction; each caller is answered once that commit is
//! durable (or failed: then nothing of the batch was written). Under load one commit covers
//! many callbacks; when idle a lone callback commits alone.
//!
//! A batch transaction first takes the lock of every lane it touches
//! (`pg_advisory_xact_lock` on a hash of app and lane, in sorted order so that two instances
//! never wait for each other in a circle), then inserts. An event's id comes from a sequence
//! when it is inserted, not when it commits; holding its lane's lock from before the insert
//! until the commit makes ids within a lane grow in commit order, across instances, which is
//! what the lane check of a lease relies on.
//!
//! The fast path sends the whole batch at once (pipelined) with no savepoint. If one append
//! fails (say, text the database refuses), the transaction is rolled back and the batch is run
//! again with a savepoint per append, so that the failing append fails alone.
//!
//! Events without a lane are inserted after those with one, sorted by dedup key: two batches
//! holding the same retries in different orders would otherwise wait for each other's unique
//! key. (Events with a lane cannot: a retry has the same lane, whose lock orders them first.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Db, TxConn, announce, db_error, hash_key};
use crate::store::{Appended, Delivery, NewEvent, StoreError};

/// The most appends committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long a callback waits for its append at most: an unreachable database answers 503
/// within this (WeCom retries), never a hang. An append still committed after its caller gave
/// up is recognised as a duplicate when WeCom retries.
pub(super) const DEADLINE: Duration = Duration::from_millis(1500);

/// How long one batch may hold its connection before it is abandoned (and the connection
/// closed, which rolls the transaction back).
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Insert an event and its deliveries, leasing the deliveries asked for when their lane has
/// nothing pending. Returns one row per delivery (or one row with NULLs when there are none);
/// no row when the dedup key is already stored.
const APPEND: &str = "
WITH ev AS (
    INSERT INTO events (app, dedup_key, kind, order_key, plaintext, received_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (app, dedup_key) DO NOTHING
    RETURNING id
), wanted AS (
    SELECT h.handler, h.ord,
           h.lease AND ($4::text IS NULL OR NOT EXISTS (
               SELECT 1 FROM deliveries p
               WHERE p.status = 'pending' AND p.app = $1 AND p.handler = h.handler
                 AND p.lane = $4)) AS take
    FROM unnest($7::text[], $8::bool[]) WITH ORDINALITY AS h (handler, lease, ord)
), made AS (
    INSERT INTO deliveries
        (event_id, app, handler, lane, next_at, created_at, lease_owner, lease_until)
    SELECT ev.id, $1, w.handler, $4, $6, $6,
           CASE WHEN w.take THEN $9::text END, CASE WHEN w.take THEN $10::bigint END
    FROM ev CROSS JOIN wanted w
    ORDER BY w.ord
    RETURNING id, handler, lease_owner IS NOT NULL AS leased
)
SELECT ev.id, made.id, made.handler, made.leased FROM ev LEFT JOIN made ON true";

/// The id stored under a dedup key (a new statement, so it sees what committed meanwhile).
const EXISTING: &str = "SELECT id FROM events WHERE app = $1 AND dedup_key = $2";

/// One append waiting for its batch.
pub(super) struct Append {
    event: NewEvent,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Queue `event` for the batcher and wait for its commit, at most `deadline`.
pub(super) async fn append(
    queue: &mpsc::UnboundedSender<Append>,
    event: NewEvent,
    deadline: Duration,
) -> Result<Appended, StoreError> {
    let (reply, answer) = oneshot::channel();
    queue
        .send(Append { event, reply })
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

async fn batcher(db: Db, owner: Arc<str>, mut queue: mpsc::UnboundedReceiver<Append>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(append) => batch.push(append),
                Err(_) => break,
            }
        }
        // A caller that gave up was answered 503: storing its event now would only surprise.
        batch.retain(|append| !append.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        order(&mut batch);
        let events: Vec<&NewEvent> = batch.iter().map(|a| &a.event).collect();
        let outcomes = commit(&db, &owner, &events).await;
        match outcomes {
            Ok(outcomes) => {
                for (append, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = append.reply.send(outcome);
                }
            }
            Err(e) => {
                for append in batch {
                    let _ = append.reply.send(Err(e.clone()));
                }
            }
        }
    }
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

/// Every lane lock the batch needs, sorted, each once.
fn lane_keys(events: &[&NewEvent]) -> Vec<i64> {
    let mut keys: Vec<i64> = events
        .iter()
        .filter_map(|e| e.lane.as_deref().map(|lane| lane_key(&e.app, lane)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// One append's statement parameters, owned so that the pipelined statements can borrow them.
struct Args<'a> {
    event: &'a NewEvent,
    app: &'a str,
    dedup_key: &'a [u8],
    owner: &'a str,
    handlers: Vec<&'a str>,
    leases: Vec<bool>,
}

impl<'a> Args<'a> {
    fn new(event: &'a NewEvent, owner: &'a str) -> Self {
        Args {
            event,
            app: &event.app,
            dedup_key: &event.dedup_key,
            owner,
            handlers: event.deliveries.iter().map(|d| &*d.handler).collect(),
            leases: event.deliveries.iter().map(|d| d.lease).collect(),
        }
    }

    /// `$1`…`$10` of [`APPEND`].
    fn append(&self) -> [&(dyn ToSql + Sync); 10] {
        let e = self.event;
        [
            &self.app,
            &self.dedup_key,
            &e.kind,
            &e.lane,
            &e.plaintext,
            &e.received_at,
            &self.handlers,
            &self.leases,
            &self.owner,
            &e.lease_until,
        ]
    }

    /// `$1`, `$2` of [`EXISTING`].
    fn existing(&self) -> [&(dyn ToSql + Sync); 2] {
        [&self.app, &self.dedup_key]
    }
}

/// What the append statement said, before duplicates are resolved.
enum Inserted {
    New(Appended),
    /// Already stored: the id is looked up next.
    Duplicate,
}

fn inserted(event: &NewEvent, rows: &[Row]) -> Result<(Inserted, bool), StoreError> {
    let Some(first) = rows.first() else {
        return Ok((Inserted::Duplicate, false));
    };
    let id: i64 = first.try_get(0).map_err(db_error)?;
    let mut leased = Vec::new();
    let mut unleased = false;
    for row in rows {
        let Some(delivery) = row.try_get::<_, Option<i64>>(1).map_err(db_error)? else {
            continue;
        };
        if row.try_get::<_, Option<bool>>(3).map_err(db_error)? == Some(true) {
            leased.push(Delivery {
                id: delivery,
                event_id: id,
                handler: row.try_get(2).map_err(db_error)?,
                attempts: 0,
                received_at: event.received_at,
            });
        } else {
            unleased = true;
        }
    }
    leased.sort_by_key(|d| d.id);
    Ok((Inserted::New(Appended::New { id, leased }), unleased))
}

/// Why the fast path stopped.
enum Failed {
    /// One append failed: run the batch again with a savepoint per append.
    Append,
    /// The transaction as a whole failed.
    Batch(StoreError),
}

/// Commit the batch: one outcome per event, in order, or one error for all.
async fn commit(
    db: &Db,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let conn = TxConn::new(db.conn().await?);
    let fast = tokio::time::timeout(BATCH_TIMEOUT, fast_path(&conn, owner, events)).await;
    match fast {
        Ok(Ok(outcomes)) => {
            conn.finish();
            Ok(outcomes.into_iter().map(Ok).collect())
        }
        Ok(Err(Failed::Append)) => {
            conn.conn()?
                .batch_execute("ROLLBACK")
                .await
                .map_err(db_error)?;
            match tokio::time::timeout(BATCH_TIMEOUT, slow_path(&conn, owner, events)).await {
                Ok(Ok(outcomes)) => {
                    conn.finish();
                    Ok(outcomes)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(StoreError("the intake transaction took too long".into())),
            }
        }
        Ok(Err(Failed::Batch(e))) => Err(e),
        Err(_) => Err(StoreError("the intake transaction took too long".into())),
    }
}

/// The whole batch pipelined in one transaction; `Failed::Append` when only appends failed.
async fn fast_path(
    conn: &TxConn,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Appended>, Failed> {
    let client = conn.conn().map_err(Failed::Batch)?;
    let batch = |e| Failed::Batch(db_error(e));
    let statement = client.prepare_cached(APPEND).await.map_err(batch)?;
    let lock = client
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await
        .map_err(batch)?;
    let keys = lane_keys(events);
    let args: Vec<Args> = events.iter().map(|e| Args::new(e, owner)).collect();
    let begin = client.batch_execute("BEGIN");
    let locks = futures::future::join_all(
        keys.iter()
            .map(|k| async { client.execute(&lock, &[k]).await }),
    );
    let appends = futures::future::join_all(
        args.iter()
            .map(|a| async { client.query(&statement, &a.append()).await }),
    );
    let (begun, locked, results) = futures::join!(begin, locks, appends);
    begun.map_err(batch)?;
    for result in locked {
        result.map_err(batch)?;
    }
    let mut outcomes = Vec::with_capacity(events.len());
    let mut announce_work = false;
    for (event, result) in events.iter().zip(results) {
        let rows = result.map_err(|_| Failed::Append)?;
        let (outcome, unleased) = inserted(event, &rows).map_err(Failed::Batch)?;
        announce_work |= unleased;
        outcomes.push(outcome);
    }
    let existing = client.prepare_cached(EXISTING).await.map_err(batch)?;
    let lookups = futures::future::join_all(args.iter().zip(&outcomes).map(|(a, o)| async {
        match o {
            Inserted::Duplicate => Some(client.query_opt(&existing, &a.existing()).await),
            Inserted::New(_) => None,
        }
    }));
    let notify = async {
        if announce_work {
            announce(client, owner).await
        } else {
            Ok(())
        }
    };
    let (lookups, notified) = futures::join!(lookups, notify);
    notified.map_err(Failed::Batch)?;
    let mut appended = Vec::with_capacity(outcomes.len());
    for (outcome, lookup) in outcomes.into_iter().zip(lookups) {
        appended.push(match (outcome, lookup) {
            (Inserted::New(new), _) => new,
            (Inserted::Duplicate, Some(found)) => {
                duplicate(found.map_err(batch)?).map_err(Failed::Batch)?
            }
            (Inserted::Duplicate, None) => {
                return Err(Failed::Batch(StoreError(
                    "lost a duplicate's lookup".into(),
                )));
            }
        });
    }
    client.batch_execute("COMMIT").await.map_err(batch)?;
    Ok(appended)
}

/// The id of an already stored event, from its lookup.
fn duplicate(row: Option<Row>) -> Result<Appended, StoreError> {
    match row {
        Some(row) => Ok(Appended::Duplicate(row.try_get(0).map_err(db_error)?)),
        // Purged between the conflict and the lookup: WeCom's next retry stores it anew.
        None => Err(StoreError(
            "the stored event was purged while its retry arrived".into(),
        )),
    }
}

/// The batch again, one append at a time, each inside a savepoint: a failing append fails
/// alone. An error of the transaction itself fails them all.
async fn slow_path(
    conn: &TxConn,
    owner: &str,
    events: &[&NewEvent],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let client = conn.conn()?;
    let statement = client.prepare_cached(APPEND).await.map_err(db_error)?;
    let existing = client.prepare_cached(EXISTING).await.map_err(db_error)?;
    client.batch_execute("BEGIN").await.map_err(db_error)?;
    for key in lane_keys(events) {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
            .await
            .map_err(db_error)?;
    }
    let mut outcomes = Vec::with_capacity(events.len());
    let mut announce_work = false;
    for event in events {
        client
            .batch_execute("SAVEPOINT append")
            .await
            .map_err(db_error)?;
        let args = Args::new(event, owner);
        let attempt = async {
            let rows = client
                .query(&statement, &args.append())
                .await
                .map_err(db_error)?;
            match inserted(event, &rows)? {
                (Inserted::New(new), unleased) => Ok((new, unleased)),
                (Inserted::Duplicate, _) => {
                    let found = client
                        .query_opt(&existing, &args.existing())
                        .await
                        .map_err(db_error)?;
                    Ok((duplicate(found)?, false))
                }
            }
        };
        match attempt.await {
            Ok((appended, unleased)) => {
                client
                    .batch_execute("RELEASE append")
                    .await
                    .map_err(db_error)?;
                announce_work |= unleased;
                outcomes.push(Ok(appended));
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
    if announce_work {
        announce(client, owner).await?;
    }
    client.batch_execute("COMMIT").await.map_err(db_error)?;
    Ok(outcomes)
}
